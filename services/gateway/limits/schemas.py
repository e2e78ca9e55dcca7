"""Rate-limit reservations: the resources, mapped from their messages, and the bodies.

A reservation takes requests and tokens from a tenant's one-minute window before a model call;
it is settled with the tokens actually used, or released when the call was not made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from quarterdeck.tenancy.v1 import limits_pb2 as lpb
from services.gateway.proto_json import INT64_MAX, Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody

Count = Annotated[int, Field(ge=0, le=INT64_MAX)]

Positive = Annotated[int, Field(ge=1, le=INT64_MAX)]


class Reservation(ProtoModel, message=lpb.Reservation, nullable=("state", "request_id")):
    tokens: int = Field(description="The tokens reserved (the caller's estimate).")
    actual_tokens: int = Field(description="The tokens actually used; 0 until settled.")
    window_start_time: datetime = Field(description="The one-minute window it counts against.")
    expire_time: datetime = Field(description="After this an open reservation stays used.")


class ReservationResult(ProtoModel, message=lpb.ReserveResponse, exclude=("soft_limits_exceeded",)):
    remaining_requests: int = Field(description="Left in the window after this reservation.")
    remaining_tokens: int = Field(description="Left in the window after this reservation.")


class ReserveBody(RequestBody):
    tenant_id: Text = Field(description="The tenant whose limits apply.")
    requests: Positive = Field(default=1, description="The requests to reserve.")
    tokens: Positive = Field(description="The estimated tokens the requests will use.")
    request_id: Annotated[Text, Field(max_length=128)] | None = Field(
        default=None,
        description="A client-chosen id (a UUID is recommended): a repeat returns "
        "the first reservation.",
    )

    def to_proto(self) -> lpb.ReserveRequest:
        return lpb.ReserveRequest(
            tenant_id=self.tenant_id,
            requests=self.requests,
            tokens=self.tokens,
            request_id=self.request_id or "",
        )


class SettleBody(RequestBody):
    tenant_id: Text = Field(description="The tenant of the reservation.")
    actual_tokens: Count = Field(description="The tokens actually used (0: none).")


class ReleaseBody(RequestBody):
    tenant_id: Text = Field(description="The tenant of the reservation.")
