"""``/v1/auth``: sign-up, sign-in, tokens and passwords, one IdentityService call per request.

Every call that opens or renews a session, or is counted against a client, carries the
request's DeviceInfo (see :mod:`services.gateway.device`). Refusals of credentials are
identity's, passed on unchanged: an unknown email and a wrong password get the same 401.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.admin.schemas import AcceptInviteBody, SwitchTenantBody
from services.gateway.auth.schemas import (
    AccessRequestBody,
    AccessRequested,
    ChangePasswordBody,
    CompleteMfaBody,
    MfaChallenge,
    PasswordChanged,
    PasswordResetBody,
    PasswordResetRequestBody,
    RefreshBody,
    Refreshed,
    SignedIn,
    SignInBody,
    SignInChallenged,
    SignUpBody,
    Switched,
)
from services.gateway.device import Device
from services.gateway.routing import ERROR_RESPONSES, Clients

router = APIRouter(prefix="/v1/auth", tags=["auth"], responses=ERROR_RESPONSES)


@router.post("/signup", status_code=201)
async def sign_up(body: SignUpBody, clients: Clients, device: Device) -> SignedIn:
    """Create a user, their tenant (with them as owner) and a first session; with a team invite,
    the user joins the invite's tenant with its role instead (no tenant_name or tenant_slug)."""
    reply = await clients.identity.SignUp(body.to_proto(device))
    return SignedIn.from_proto(reply)


@router.post("/invites:accept")
async def accept_invite(body: AcceptInviteBody, clients: Clients, device: Device) -> Switched:
    """Join the tenant of a team invite as the signed-in user (someone without an account signs
    up with the invite instead); answers tokens for that tenant, with the invite's role."""
    reply = await clients.identity.AcceptInvite(
        pb.AcceptInviteRequest(invite_token=body.invite_token, device=device)
    )
    return Switched.from_proto(reply)


@router.post("/switch-tenant")
async def switch_tenant(body: SwitchTenantBody, clients: Clients, device: Device) -> Switched:
    """Tokens for another tenant you belong to (a new session there), without signing in again;
    GET /v1/tenants lists your tenants."""
    reply = await clients.identity.SwitchTenant(
        pb.SwitchTenantRequest(tenant_id=body.tenant_id, device=device)
    )
    return Switched.from_proto(reply)


@router.post("/signin")
async def sign_in(
    body: SignInBody, clients: Clients, device: Device
) -> SignedIn | SignInChallenged:
    """Either ``{"tokens", "user"}``, or ``{"mfa_challenge"}`` when a second factor is enrolled."""
    reply = await clients.identity.SignIn(body.to_proto(device))
    if reply.WhichOneof("result") == "mfa_challenge":
        return SignInChallenged(mfa_challenge=MfaChallenge.from_proto(reply.mfa_challenge))
    return SignedIn.from_proto(reply)


@router.post("/signin/mfa")
async def complete_mfa_sign_in(body: CompleteMfaBody, clients: Clients, device: Device) -> SignedIn:
    """Answer a sign-in's MFA challenge with a TOTP code or a recovery code."""
    reply = await clients.identity.CompleteMfaSignIn(body.to_proto(device))
    return SignedIn.from_proto(reply)


@router.post("/refresh")
async def refresh(body: RefreshBody, clients: Clients, device: Device) -> Refreshed:
    """New tokens for a refresh token, which stops working; presenting it again ends the
    session (401 REFRESH_TOKEN_REUSED)."""
    reply = await clients.identity.RefreshSession(
        pb.RefreshSessionRequest(refresh_token=body.refresh_token, device=device)
    )
    return Refreshed.from_proto(reply)


@router.post("/signout", status_code=204, response_class=Response)
async def sign_out(clients: Clients) -> None:
    """End the session of the calling access token."""
    await clients.identity.SignOut(pb.SignOutRequest())


@router.post("/access-requests", status_code=202)
async def request_access(
    body: AccessRequestBody, clients: Clients, device: Device
) -> AccessRequested:
    """Ask to join when sign-up needs an operator's approval."""
    reply = await clients.identity.RequestAccess(body.to_proto(device))
    return AccessRequested.from_proto(reply)


@router.post("/password/change")
async def change_password(body: ChangePasswordBody, clients: Clients) -> PasswordChanged:
    """Set a new password; the caller's other sessions end."""
    reply = await clients.identity.ChangePassword(
        pb.ChangePasswordRequest(
            current_password=body.current_password, new_password=body.new_password
        )
    )
    return PasswordChanged.from_proto(reply)


@router.post("/password/reset-request", status_code=202, response_class=Response)
async def request_password_reset(
    body: PasswordResetRequestBody, clients: Clients, device: Device
) -> None:
    """Send a reset token to the address if it has an account; the answer is the same if not."""
    await clients.identity.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=body.email, device=device)
    )


@router.post("/password/reset", status_code=204, response_class=Response)
async def reset_password(body: PasswordResetBody, clients: Clients) -> None:
    """Set a new password with a reset token, which then stops working."""
    await clients.identity.ResetPassword(
        pb.ResetPasswordRequest(reset_token=body.reset_token, new_password=body.new_password)
    )
