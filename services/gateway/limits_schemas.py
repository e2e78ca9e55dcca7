"""The JSON resources of rate limits (reservations) and their conversions to and from protobuf.

A reservation takes requests and tokens from a tenant's one-minute window before a model call;
it is settled with the tokens actually used, or released when the call was not made.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from quarterdeck.tenancy.v1 import limits_pb2 as lpb
from services.gateway.proto_json import INT64_MAX, Text
from services.gateway.schemas import RequestBody
from shared.timestamps import from_timestamp

ReservationStateName = Literal["open", "settled", "released", "expired"]

RESERVATION_STATE_NAMES: Mapping[int, ReservationStateName] = {
    lpb.RESERVATION_STATE_OPEN: "open",
    lpb.RESERVATION_STATE_SETTLED: "settled",
    lpb.RESERVATION_STATE_RELEASED: "released",
    lpb.RESERVATION_STATE_EXPIRED: "expired",
}

Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Positive = Annotated[int, Field(ge=1, le=INT64_MAX)]


# -- Rate-limit reservations -------------------------------------------------------------------


class Reservation(BaseModel):
    id: str
    tenant_id: str
    requests: int
    tokens: int = Field(description="The tokens reserved (the caller's estimate).")
    actual_tokens: int = Field(description="The tokens actually used; 0 until settled.")
    state: ReservationStateName | None
    window_start_time: datetime = Field(description="The one-minute window it counts against.")
    expire_time: datetime = Field(description="After this an open reservation stays used.")
    request_id: str | None

    @classmethod
    def from_proto(cls, row: lpb.Reservation) -> Reservation:
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            requests=row.requests,
            tokens=row.tokens,
            actual_tokens=row.actual_tokens,
            state=RESERVATION_STATE_NAMES.get(row.state),
            window_start_time=from_timestamp(row.window_start_time),
            expire_time=from_timestamp(row.expire_time),
            request_id=row.request_id or None,
        )


class ReservationResult(BaseModel):
    reservation: Reservation
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
