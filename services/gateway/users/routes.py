"""``/v1/users``: the caller's own account (profile, second factor, consents, notification
preferences), and an operator's unlock of a locked user. One IdentityService call per request."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.device import Device
from services.gateway.routing import ERROR_RESPONSES, Clients
from services.gateway.users.schemas import (
    BeginTotpBody,
    ConfirmTotpBody,
    Consent,
    ConsentBody,
    ConsentList,
    Me,
    NotificationPreference,
    NotificationPreferenceBody,
    NotificationPreferenceList,
    PasswordBody,
    Profile,
    RecoveryCodes,
    TotpEnrollment,
    UpdateProfileBody,
    User,
)

router = APIRouter(prefix="/v1/users", tags=["users"], responses=ERROR_RESPONSES)


@router.get("/me")
async def get_me(clients: Clients) -> Me:
    reply = await clients.identity.GetMe(pb.GetMeRequest())
    return Me.from_proto(reply)


@router.patch("/me")
async def update_profile(body: UpdateProfileBody, clients: Clients) -> Profile:
    """Change the profile fields present in the body; null clears one."""
    paths = body.mask_paths()
    if not paths:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "must set at least one field", "type": "value_error"}]
        )
    reply = await clients.identity.UpdateProfile(
        pb.UpdateProfileRequest(profile=body.to_proto(), update_mask=FieldMask(paths=paths))
    )
    return Profile.from_proto(reply.profile)


@router.post("/me/mfa/totp", status_code=201)
async def begin_totp_enrollment(
    clients: Clients, body: BeginTotpBody | None = None
) -> TotpEnrollment:
    """Create an unconfirmed authenticator; its secret is shown only here."""
    reply = await clients.identity.BeginTotpEnrollment(
        pb.BeginTotpEnrollmentRequest(label=(body.label if body else None) or "")
    )
    return TotpEnrollment.from_proto(reply)


@router.post("/me/mfa/totp/{method_id}/confirm")
async def confirm_totp_enrollment(
    method_id: str, body: ConfirmTotpBody, clients: Clients
) -> RecoveryCodes:
    """Turn the authenticator on with a first code; the recovery codes are shown only here."""
    reply = await clients.identity.ConfirmTotpEnrollment(
        pb.ConfirmTotpEnrollmentRequest(method_id=method_id, code=body.code)
    )
    return RecoveryCodes.from_proto(reply)


@router.delete("/me/mfa/totp/{method_id}", status_code=204, response_class=Response)
async def disable_totp(method_id: str, body: PasswordBody, clients: Clients) -> None:
    """Remove an authenticator; the body carries the caller's password."""
    await clients.identity.DisableTotp(
        pb.DisableTotpRequest(method_id=method_id, password=body.password)
    )


@router.post("/me/mfa/recovery-codes")
async def regenerate_recovery_codes(body: PasswordBody, clients: Clients) -> RecoveryCodes:
    """Replace every recovery code; the old ones stop working."""
    reply = await clients.identity.RegenerateRecoveryCodes(
        pb.RegenerateRecoveryCodesRequest(password=body.password)
    )
    return RecoveryCodes.from_proto(reply)


@router.get("/me/consents")
async def list_consents(clients: Clients) -> ConsentList:
    reply = await clients.identity.ListConsents(pb.ListConsentsRequest())
    return ConsentList.from_proto(reply)


@router.post("/me/consents")
async def record_consent(body: ConsentBody, clients: Clients, device: Device) -> Consent:
    """Accept a version of a policy; accepting it again returns the first acceptance."""
    reply = await clients.identity.RecordConsent(
        pb.RecordConsentRequest(policy_key=body.policy_key, version=body.version, device=device)
    )
    return Consent.from_proto(reply.consent)


@router.get("/me/notification-preferences")
async def list_notification_preferences(clients: Clients) -> NotificationPreferenceList:
    reply = await clients.identity.ListNotificationPreferences(
        pb.ListNotificationPreferencesRequest()
    )
    return NotificationPreferenceList.from_proto(reply)


@router.put("/me/notification-preferences")
async def set_notification_preference(
    body: NotificationPreferenceBody, clients: Clients
) -> NotificationPreference:
    """Turn one channel and category on or off (for one tenant, or every tenant)."""
    reply = await clients.identity.SetNotificationPreference(
        pb.SetNotificationPreferenceRequest(preference=body.to_proto())
    )
    return NotificationPreference.from_proto(reply.preference)


@router.post("/{user_id}/unlock")
async def unlock_user(user_id: str, clients: Clients) -> User:
    """Return a locked user to active (platform operators)."""
    reply = await clients.identity.UnlockUser(pb.UnlockUserRequest(user_id=user_id))
    return User.from_proto(reply.user)
