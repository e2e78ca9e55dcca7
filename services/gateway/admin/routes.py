"""Operators' endpoints: ``/v1/admin`` (signing keys, invites, access requests) and
``/v1/security-events``. One IdentityService call per request; identity decides who may
(operators for ``/v1/admin``; a tenant's admins too for that tenant's security events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.admin.schemas import (
    CreatedInvite,
    CreateInviteBody,
    Decision,
    DecisionBody,
    Invite,
    InviteList,
    RevokeInviteBody,
    RotatedSigningKeys,
    RotateSigningKeyBody,
    SecurityEventList,
    SigningKey,
    SigningKeyList,
    SignupRequestList,
    SignupRequestStatusName,
)
from services.gateway.proto_models import enum_number
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)

security_events = APIRouter(prefix="/v1/security-events", tags=["admin"], responses=ERROR_RESPONSES)


@router.get("/signing-keys")
async def list_signing_keys(clients: Clients) -> SigningKeyList:
    reply = await clients.identity.ListSigningKeys(pb.ListSigningKeysRequest())
    return SigningKeyList.from_proto(reply)


@router.post("/signing-keys/rotate")
async def rotate_signing_key(
    clients: Clients, body: RotateSigningKeyBody | None = None
) -> RotatedSigningKeys:
    """Make a new key the signer; the previous one keeps verifying for the overlap."""
    reply = await clients.identity.RotateSigningKey(
        pb.RotateSigningKeyRequest(overlap_seconds=body.overlap_seconds if body else 0)
    )
    return RotatedSigningKeys.from_proto(reply)


@router.post("/signing-keys/{kid}/retire")
async def retire_signing_key(kid: str, clients: Clients) -> SigningKey:
    """Stop a key that no longer signs from verifying anything."""
    reply = await clients.identity.RetireSigningKey(pb.RetireSigningKeyRequest(kid=kid))
    return SigningKey.from_proto(reply.key)


@router.get("/invites")
async def list_invites(
    clients: Clients, page_size: PageSize = 0, page_token: PageToken = ""
) -> InviteList:
    reply = await clients.identity.ListInvites(
        pb.ListInvitesRequest(page_size=page_size, page_token=page_token)
    )
    return InviteList.from_proto(reply)


@router.post("/invites", status_code=201)
async def create_invite(clients: Clients, body: CreateInviteBody | None = None) -> CreatedInvite:
    """Issue an invite; its token is shown only in this answer."""
    request = body.to_proto() if body else pb.CreateInviteRequest()
    reply = await clients.identity.CreateInvite(request)
    return CreatedInvite.from_proto(reply)


@router.post("/invites/{invite_id}/revoke")
async def revoke_invite(
    invite_id: str, clients: Clients, body: RevokeInviteBody | None = None
) -> Invite:
    reply = await clients.identity.RevokeInvite(
        pb.RevokeInviteRequest(id=invite_id, reason=(body.reason if body else None) or "")
    )
    return Invite.from_proto(reply.invite)


@router.get("/signup-requests")
async def list_signup_requests(
    clients: Clients,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    status: Annotated[
        SignupRequestStatusName | None, Query(description="Only requests in this state.")
    ] = None,
) -> SignupRequestList:
    reply = await clients.identity.ListSignupRequests(
        pb.ListSignupRequestsRequest(
            page_size=page_size,
            page_token=page_token,
            status=enum_number(pb.SignupRequestStatus, status),
        )
    )
    return SignupRequestList.from_proto(reply)


@router.post("/signup-requests/{request_id}/decision")
async def decide_signup_request(request_id: str, body: DecisionBody, clients: Clients) -> Decision:
    """Approve (issuing an invite for the requester) or reject an access request."""
    reply = await clients.identity.DecideSignupRequest(
        pb.DecideSignupRequestRequest(id=request_id, approve=body.approve, reason=body.reason or "")
    )
    return Decision.from_proto(reply)


@security_events.get("")
async def list_security_events(
    clients: Clients,
    tenant_id: Annotated[
        str, Query(description="The tenant; operators may leave it out for every tenant.")
    ] = "",
    user_id: Annotated[str, Query(description="Only this user's events.")] = "",
    event_type: Annotated[str, Query(description="Only events of this type.")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> SecurityEventList:
    """Security events, newest first: a tenant's for its admins, any for operators."""
    reply = await clients.identity.ListSecurityEvents(
        pb.ListSecurityEventsRequest(
            tenant_id=tenant_id,
            user_id=user_id,
            event_type=event_type,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return SecurityEventList.from_proto(reply)
