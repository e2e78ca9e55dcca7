"""Status subscriptions (answered with their targets masked), mapped from their messages, and
the bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quarterdeck.telemetry.v1 import status_pb2 as pb
from services.gateway.proto_json import JsonObject, Text
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct

ChannelName = Literal["email", "webhook"]

SeverityName = Literal["info", "minor", "major", "critical"]


class StatusSubscription(
    ProtoModel,
    message=pb.StatusSubscription,
    nullable=(
        "verification_expire_time",
        "revoked_reason",
        "revoke_time",
        "last_challenge_send_time",
    ),
):
    tenant_id: str | None = Field(description="The tenant; null for the platform's updates.")
    target_masked: str = Field(description="The target masked for display; never in clear.")


class CreatedStatusSubscription(
    ProtoModel, message=pb.CreateStatusSubscriptionResponse, nullable=("delivery_error",)
):
    webhook_secret: str | None = Field(
        description="Webhooks only: the key of the HMAC-SHA256 signature of every delivery "
        "(header X-Quarterdeck-Signature: t=<unix>,v1=<hex HMAC of '<t>.<body>'>). Keep it."
    )
    verification_delivered: bool = Field(
        description="Whether the verification challenge was delivered; if not, resend it."
    )


class ResentVerification(
    ProtoModel, message=pb.ResendStatusVerificationResponse, nullable=("delivery_error",)
):
    pass


class StatusSubscriptionList(ProtoModel, message=pb.ListStatusSubscriptionsResponse):
    next_page_token: str = Field(description="The token of the next page; empty on the last.")


class CreateStatusSubscriptionBody(RequestBody):
    tenant_id: Text = Field(
        default="",
        max_length=64,
        description="The tenant; leave out for your token's tenant (operators: for the platform).",
    )
    channel: ChannelName
    target: Text = Field(
        min_length=1,
        max_length=2048,
        description="An email address, or an https URL for webhooks. Stored encrypted.",
    )
    severity_filter: SeverityName = "info"
    metadata: JsonObject = Field(default_factory=dict)

    def to_proto(self, request_id: str) -> pb.CreateStatusSubscriptionRequest:
        return pb.CreateStatusSubscriptionRequest(
            tenant_id=self.tenant_id,
            channel=enum_number(pb.SubscriptionChannel, self.channel),
            target=self.target,
            severity_filter=enum_number(pb.StatusSeverity, self.severity_filter),
            metadata=dict_to_struct(self.metadata),
            request_id=request_id,
        )


class TokenBody(RequestBody):
    token: Text = Field(min_length=1, max_length=512, description="The token from the message.")


class RevokeSubscriptionBody(RequestBody):
    reason: Text = Field(default="", max_length=500)
