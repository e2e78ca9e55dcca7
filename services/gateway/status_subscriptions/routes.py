"""``/v1/status-subscriptions``: status subscriptions (StatusSubscriptionService).

Tenant admins manage their tenant's subscriptions (platform operators any tenant's, and the
platform's own with no tenant_id); targets are answered masked only. ``verify`` and
``unsubscribe`` take the token from the recipient's message in the body and need no sign-in:
the token is the credential.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from quarterdeck.telemetry.v1 import status_pb2 as pb
from services.gateway.proto_models import enum_number
from services.gateway.routing import ERROR_RESPONSES, Clients, IdempotencyKey, PageSize, PageToken
from services.gateway.status_subscriptions.schemas import (
    CreatedStatusSubscription,
    CreateStatusSubscriptionBody,
    ResentVerification,
    RevokeSubscriptionBody,
    StatusSubscription,
    StatusSubscriptionList,
    TokenBody,
)

router = APIRouter(
    prefix="/v1/status-subscriptions", tags=["status subscriptions"], responses=ERROR_RESPONSES
)

StatusName = Literal["pending_verification", "active", "revoked"]


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
    response.headers["Location"] = f"{router.prefix}/{reply.subscription.id}"
    return CreatedStatusSubscription.from_proto(reply)


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
            status=enum_number(pb.SubscriptionStatus, status),
            page_size=page_size,
            page_token=page_token,
        )
    )
    return StatusSubscriptionList.from_proto(reply)


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
    subscription_id: str, clients: Clients, body: RevokeSubscriptionBody | None = None
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
    return ResentVerification.from_proto(reply)
