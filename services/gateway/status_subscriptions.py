"""``/v1/status-subscriptions``: status subscriptions (StatusSubscriptionService).

Tenant admins manage their tenant's subscriptions (platform operators any tenant's, and the
platform's own with no tenant_id); targets are answered masked only. ``verify`` and
``unsubscribe`` take the token from the recipient's message in the body and need no sign-in:
the token is the credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from quarterdeck.telemetry.v1 import status_pb2 as pb
from services.gateway.identity_schemas import time_or_none
from services.gateway.proto_json import JsonObject, Text, json_to_struct, struct_to_json
from services.gateway.routing import ERROR_RESPONSES, Clients, IdempotencyKey, PageSize, PageToken
from services.gateway.schemas import RequestBody
from shared.timestamps import from_timestamp

router = APIRouter(
    prefix="/v1/status-subscriptions", tags=["status subscriptions"], responses=ERROR_RESPONSES
)

ChannelName = Literal["email", "webhook"]
SeverityName = Literal["info", "minor", "major", "critical"]
StatusName = Literal["pending_verification", "active", "revoked"]

CHANNEL_NAMES: Mapping[int, ChannelName] = {
    pb.SUBSCRIPTION_CHANNEL_EMAIL: "email",
    pb.SUBSCRIPTION_CHANNEL_WEBHOOK: "webhook",
}
CHANNEL_VALUES: Mapping[str, int] = {name: value for value, name in CHANNEL_NAMES.items()}
SEVERITY_NAMES: Mapping[int, SeverityName] = {
    pb.STATUS_SEVERITY_INFO: "info",
    pb.STATUS_SEVERITY_MINOR: "minor",
    pb.STATUS_SEVERITY_MAJOR: "major",
    pb.STATUS_SEVERITY_CRITICAL: "critical",
}
SEVERITY_VALUES: Mapping[str, int] = {name: value for value, name in SEVERITY_NAMES.items()}
STATUS_NAMES: Mapping[int, StatusName] = {
    pb.SUBSCRIPTION_STATUS_PENDING_VERIFICATION: "pending_verification",
    pb.SUBSCRIPTION_STATUS_ACTIVE: "active",
    pb.SUBSCRIPTION_STATUS_REVOKED: "revoked",
}
STATUS_VALUES: Mapping[str, int] = {name: value for value, name in STATUS_NAMES.items()}


class StatusSubscription(BaseModel):
    id: str
    tenant_id: str | None = Field(description="The tenant; null for the platform's updates.")
    channel: ChannelName
    target_masked: str = Field(description="The target masked for display; never in clear.")
    severity_filter: SeverityName
    status: StatusName
    metadata: dict[str, Any]
    created_by: str
    verification_expire_time: datetime | None
    revoked_reason: str | None
    create_time: datetime
    update_time: datetime
    revoke_time: datetime | None
    last_challenge_send_time: datetime | None

    @classmethod
    def from_proto(cls, message: pb.StatusSubscription) -> StatusSubscription:
        return cls(
            id=message.id,
            tenant_id=message.tenant_id or None,
            channel=CHANNEL_NAMES[message.channel],
            target_masked=message.target_masked,
            severity_filter=SEVERITY_NAMES[message.severity_filter],
            status=STATUS_NAMES[message.status],
            metadata=struct_to_json(message.metadata),
            created_by=message.created_by,
            verification_expire_time=time_or_none(message, "verification_expire_time"),
            revoked_reason=message.revoked_reason or None,
            create_time=from_timestamp(message.create_time),
            update_time=from_timestamp(message.update_time),
            revoke_time=time_or_none(message, "revoke_time"),
            last_challenge_send_time=time_or_none(message, "last_challenge_send_time"),
        )


class CreatedStatusSubscription(BaseModel):
    subscription: StatusSubscription
    webhook_secret: str | None = Field(
        description="Webhooks only: the key of the HMAC-SHA256 signature of every delivery "
        "(header X-Quarterdeck-Signature: t=<unix>,v1=<hex HMAC of '<t>.<body>'>). Keep it."
    )
    verification_delivered: bool = Field(
        description="Whether the verification challenge was delivered; if not, resend it."
    )
    delivery_error: str | None


class ResentVerification(BaseModel):
    subscription: StatusSubscription
    verification_delivered: bool
    delivery_error: str | None


class StatusSubscriptionList(BaseModel):
    subscriptions: list[StatusSubscription]
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
            channel=CHANNEL_VALUES[self.channel],
            target=self.target,
            severity_filter=SEVERITY_VALUES[self.severity_filter],
            metadata=json_to_struct(self.metadata),
            request_id=request_id,
        )


class TokenBody(RequestBody):
    token: Text = Field(min_length=1, max_length=512, description="The token from the message.")


class RevokeBody(RequestBody):
    reason: Text = Field(default="", max_length=500)


@router.post("", status_code=201)
async def create_status_subscription(
    body: CreateStatusSubscriptionBody,
    clients: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CreatedStatusSubscription:
    """Subscribe an email address or a webhook URL; a verification challenge is sent to it, and
    nothing else until its recipient verifies (tenant admins, operators)."""
    reply = await clients.status_subscriptions.CreateStatusSubscription(
        body.to_proto(idempotency_key or "")
    )
    subscription = StatusSubscription.from_proto(reply.subscription)
    response.headers["Location"] = f"{router.prefix}/{subscription.id}"
    return CreatedStatusSubscription(
        subscription=subscription,
        webhook_secret=reply.webhook_secret or None,
        verification_delivered=reply.verification_delivered,
        delivery_error=reply.delivery_error or None,
    )


@router.get("")
async def list_status_subscriptions(
    clients: Clients,
    tenant_id: Annotated[
        str,
        Query(max_length=64, description="The tenant; operators leave it out for the platform."),
    ] = "",
    status: Annotated[StatusName | None, Query(description="Only this status.")] = None,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> StatusSubscriptionList:
    """The subscriptions, newest first, masked (tenant admins, operators)."""
    reply = await clients.status_subscriptions.ListStatusSubscriptions(
        pb.ListStatusSubscriptionsRequest(
            tenant_id=tenant_id,
            status=STATUS_VALUES[status] if status else pb.SUBSCRIPTION_STATUS_UNSPECIFIED,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return StatusSubscriptionList(
        subscriptions=[StatusSubscription.from_proto(s) for s in reply.subscriptions],
        next_page_token=reply.next_page_token,
    )


@router.post("/verify")
async def verify_status_subscription(body: TokenBody, clients: Clients) -> StatusSubscription:
    """Activate a subscription with the verification or challenge token sent to its target."""
    reply = await clients.status_subscriptions.VerifyStatusSubscription(
        pb.VerifyStatusSubscriptionRequest(token=body.token)
    )
    return StatusSubscription.from_proto(reply.subscription)


@router.post("/unsubscribe")
async def unsubscribe_status(body: TokenBody, clients: Clients) -> StatusSubscription:
    """Stop a subscription with the unsubscribe token every message carries."""
    reply = await clients.status_subscriptions.UnsubscribeStatus(
        pb.UnsubscribeStatusRequest(token=body.token)
    )
    return StatusSubscription.from_proto(reply.subscription)


@router.get("/{subscription_id}")
async def get_status_subscription(subscription_id: str, clients: Clients) -> StatusSubscription:
    reply = await clients.status_subscriptions.GetStatusSubscription(
        pb.GetStatusSubscriptionRequest(id=subscription_id)
    )
    return StatusSubscription.from_proto(reply.subscription)


@router.post("/{subscription_id}:revoke")
async def revoke_status_subscription(
    subscription_id: str, clients: Clients, body: RevokeBody | None = None
) -> StatusSubscription:
    """Stop the subscription for good (tenant admins, operators); revoking twice is harmless."""
    reply = await clients.status_subscriptions.RevokeStatusSubscription(
        pb.RevokeStatusSubscriptionRequest(id=subscription_id, reason=body.reason if body else "")
    )
    return StatusSubscription.from_proto(reply.subscription)


@router.post("/{subscription_id}:resend-verification")
async def resend_status_verification(subscription_id: str, clients: Clients) -> ResentVerification:
    """Send a pending subscription a new verification challenge (at most once a minute)."""
    reply = await clients.status_subscriptions.ResendStatusVerification(
        pb.ResendStatusVerificationRequest(id=subscription_id)
    )
    return ResentVerification(
        subscription=StatusSubscription.from_proto(reply.subscription),
        verification_delivered=reply.verification_delivered,
        delivery_error=reply.delivery_error or None,
    )
