"""The JSON resources of identity's API and their conversions to and from protobuf.

Field names are protobuf's (snake_case), times are RFC 3339 in UTC, an unset time or an empty
optional string is null, and enums are lowercase names. Request bodies refuse unknown fields
and text protobuf cannot carry, naming the field (400), as the tenant bodies do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.proto_json import (
    INT32_MAX,
    INT64_MAX,
    JsonObject,
    Text,
)
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct
from shared.timestamps import to_timestamp

SignupRequestStatusName = Literal["pending", "approved", "rejected"]


# -- Users and tokens --------------------------------------------------------------------------


class User(ProtoModel, message=pb.User, nullable=("email_verify_time",)):
    platform_role: Literal["platform_operator"] | None = Field(
        description="platform_operator for operators, null for everyone else."
    )


class TokenPair(ProtoModel, message=pb.TokenPair):
    access_token: str = Field(description="Send as 'Authorization: Bearer <access_token>'.")
    refresh_token: str = Field(
        description="Exchange at /v1/auth/refresh for new tokens; each works once."
    )
    tenant_id: str = Field(description="The tenant the access token is scoped to.")
    role: str = Field(description="The caller's role in that tenant.")


class MfaChallenge(ProtoModel, message=pb.MfaChallenge):
    mfa_token: str = Field(description="Send to /v1/auth/signin/mfa with a code.")
    methods: list[str] = Field(description="What may answer: totp, recovery_code.")


class SignedIn(ProtoModel, message=pb.CompleteMfaSignInResponse):
    """A completed sign-in: the session's tokens and who signed in. (Sign-up and sign-in answer
    the same two fields, which :meth:`from_proto` reads by name.)"""


class SignInChallenged(BaseModel):
    """A sign-in that needs a second factor: answer the challenge at /v1/auth/signin/mfa."""

    mfa_challenge: MfaChallenge


class Refreshed(ProtoModel, message=pb.RefreshSessionResponse):
    pass


class Switched(ProtoModel, message=pb.SwitchTenantResponse):
    """A new session's tokens, scoped to the tenant joined or switched to (AcceptInvite answers
    the same one field, which :meth:`from_proto` reads by name)."""


class SignUpBody(RequestBody):
    email: Text
    password: Text
    tenant_name: Text = Field(
        default="",
        description="The display name of the new tenant (required, unless a team invite "
        "joins an existing tenant).",
    )
    tenant_slug: Text = Field(
        default="", description="The URL-safe handle of the new tenant (as tenant_name)."
    )
    invite_token: Text | None = Field(
        default=None,
        description="Required when sign-up is by invite; a team invite joins its tenant.",
    )
    display_name: Text | None = None

    def to_proto(self, device: pb.DeviceInfo) -> pb.SignUpRequest:
        return pb.SignUpRequest(
            email=self.email,
            password=self.password,
            tenant_name=self.tenant_name,
            tenant_slug=self.tenant_slug,
            invite_token=self.invite_token or "",
            display_name=self.display_name or "",
            device=device,
        )


class SignInBody(RequestBody):
    email: Text
    password: Text
    tenant_id: Text | None = Field(
        default=None, description="The tenant to sign in to; by default the first membership."
    )

    def to_proto(self, device: pb.DeviceInfo) -> pb.SignInRequest:
        return pb.SignInRequest(
            email=self.email,
            password=self.password,
            tenant_id=self.tenant_id or "",
            device=device,
        )


class CompleteMfaBody(RequestBody):
    """Exactly one of totp_code and recovery_code."""

    mfa_token: Text
    totp_code: Text | None = None
    recovery_code: Text | None = None

    def to_proto(self, device: pb.DeviceInfo) -> pb.CompleteMfaSignInRequest:
        return pb.CompleteMfaSignInRequest(
            mfa_token=self.mfa_token,
            totp_code=self.totp_code or "",
            recovery_code=self.recovery_code or "",
            device=device,
        )


class RefreshBody(RequestBody):
    refresh_token: Text


class AccessRequestBody(RequestBody):
    email: Text
    organization: Text | None = None
    full_name: Text | None = None
    message: Text | None = None
    honeypot: Text | None = Field(
        default=None, description="A form field hidden from people; leave it out or empty."
    )

    def to_proto(self, device: pb.DeviceInfo) -> pb.RequestAccessRequest:
        return pb.RequestAccessRequest(
            email=self.email,
            organization=self.organization or "",
            full_name=self.full_name or "",
            message=self.message or "",
            honeypot=self.honeypot or "",
            device=device,
        )


class AccessRequested(ProtoModel, message=pb.RequestAccessResponse):
    id: str = Field(description="The access request's id.")


class ChangePasswordBody(RequestBody):
    current_password: Text
    new_password: Text


class PasswordChanged(ProtoModel, message=pb.ChangePasswordResponse):
    revoked_sessions: int = Field(description="How many of the caller's other sessions ended.")


class PasswordResetRequestBody(RequestBody):
    email: Text


class PasswordResetBody(RequestBody):
    reset_token: Text = Field(description="The token the reset message delivered.")
    new_password: Text


# -- The caller's account ----------------------------------------------------------------------


class Profile(
    ProtoModel,
    message=pb.Profile,
    nullable=("display_name", "given_name", "family_name", "avatar_url"),
):
    timezone: str | None = Field(description="An IANA time zone, such as Europe/Paris.")
    locale: str | None = Field(description="A BCP 47 locale, such as en-NZ.")


class Me(ProtoModel, message=pb.GetMeResponse):
    mfa_enabled: bool = Field(description="Whether a second factor is enrolled.")


class UpdateProfileBody(RequestBody):
    """The fields to change; those left out stay as they are, null clears one."""

    display_name: Text | None = None
    given_name: Text | None = None
    family_name: Text | None = None
    avatar_url: Text | None = Field(default=None, description="An absolute https URL.")
    timezone: Text | None = None
    locale: Text | None = None
    metadata: JsonObject | None = None

    def to_proto(self) -> pb.Profile:
        profile = pb.Profile(
            display_name=self.display_name or "",
            given_name=self.given_name or "",
            family_name=self.family_name or "",
            avatar_url=self.avatar_url or "",
            timezone=self.timezone or "",
            locale=self.locale or "",
        )
        if "metadata" in self.model_fields_set:
            profile.metadata.CopyFrom(dict_to_struct(self.metadata))
        return profile


class BeginTotpBody(RequestBody):
    label: Text | None = Field(
        default=None, description="A name for the authenticator, unique per user."
    )


class TotpEnrollment(ProtoModel, message=pb.BeginTotpEnrollmentResponse):
    """Shown once: put the secret in an authenticator, then confirm with a code from it."""

    secret: str = Field(description="The base32 TOTP secret.")
    otpauth_uri: str = Field(description="The otpauth:// URI, for a QR code.")


class ConfirmTotpBody(RequestBody):
    code: Text = Field(description="A current six-digit code from the authenticator.")


class PasswordBody(RequestBody):
    password: Text = Field(description="The caller's current password.")


class RecoveryCodes(ProtoModel, message=pb.ConfirmTotpEnrollmentResponse):
    """(Regenerating the codes answers the same field.)"""

    recovery_codes: list[str] = Field(description="Shown once; each code works once.")


class Consent(ProtoModel, message=pb.Consent):
    pass


class ConsentList(ProtoModel, message=pb.ListConsentsResponse):
    pass


class ConsentBody(RequestBody):
    policy_key: Text = Field(description="The policy, such as terms or privacy.")
    version: Text = Field(description="The version accepted.")


class NotificationPreference(ProtoModel, message=pb.NotificationPreference):
    tenant_id: str | None = Field(description="The tenant it applies to; null for every tenant.")


class NotificationPreferenceList(ProtoModel, message=pb.ListNotificationPreferencesResponse):
    pass


class NotificationPreferenceBody(RequestBody):
    tenant_id: Text | None = Field(
        default=None, description="The tenant signed in to, or null for every tenant."
    )
    channel: Text = Field(description="email, sms, push, in_app or webhook.")
    category: Text = Field(description="Such as billing or security.")
    enabled: bool

    def to_proto(self) -> pb.NotificationPreference:
        return pb.NotificationPreference(
            tenant_id=self.tenant_id or "",
            channel=self.channel,
            category=self.category,
            enabled=self.enabled,
        )


# -- Sessions ----------------------------------------------------------------------------------


class Session(
    ProtoModel,
    message=pb.Session,
    nullable=(
        "user_agent",
        "client_platform",
        "client_browser",
        "client_device",
        "last_seen_time",
        "revoke_time",
        "revoke_reason",
    ),
):
    ip_masked: str | None = Field(description="The client's address, masked: 203.0.113.x.")
    current: bool = Field(description="Whether this is the session of the calling token.")


class SessionList(ProtoModel, message=pb.ListMySessionsResponse):
    pass


class RevokedSessions(ProtoModel, message=pb.RevokeAllSessionsResponse):
    pass


# -- Service accounts --------------------------------------------------------------------------


class ApiKey(ProtoModel, message=pb.ApiKey, nullable=("revoke_time", "revoke_reason")):
    account: str = Field(description="The service account's name.")
    role: str = Field(description="The tenant role its tokens carry: viewer, member or admin.")


class CreatedApiKey(ProtoModel, message=pb.CreateApiKeyResponse):
    api_key: str = Field(
        description="The key itself, shown only here: send it as 'X-API-Key: <api_key>' or "
        "'Authorization: Bearer <api_key>', or exchange it at /v1/service-accounts/token."
    )


class ApiKeyList(ProtoModel, message=pb.ListApiKeysResponse):
    pass


class CreateApiKeyBody(RequestBody):
    tenant_id: Text
    account: Text = Field(description="The service account's name, such as ci-deployer.")
    scopes: list[Text] = Field(default_factory=list, description="Such as tenancy.read.")
    role: Text | None = Field(
        default=None, description="viewer, member (the default) or admin; never above yours."
    )
    expire_time: AwareDatetime | None = Field(
        default=None, description="By default, the longest lifetime allowed."
    )

    def to_proto(self, request_id: str) -> pb.CreateApiKeyRequest:
        return pb.CreateApiKeyRequest(
            tenant_id=self.tenant_id,
            account=self.account,
            scopes=self.scopes,
            role=self.role or "",
            expire_time=to_timestamp(self.expire_time),
            request_id=request_id,
        )


class ExchangeApiKeyBody(RequestBody):
    api_key: Text


class AccessToken(ProtoModel, message=pb.ExchangeApiKeyResponse):
    access_token: str = Field(description="Send as 'Authorization: Bearer <access_token>'.")


# -- Operators ---------------------------------------------------------------------------------


class SigningKey(ProtoModel, message=pb.SigningKey):
    retire_time: datetime | None = Field(description="When it stops (or stopped) verifying.")


class SigningKeyList(ProtoModel, message=pb.ListSigningKeysResponse):
    keys: list[SigningKey] = Field(description="Every key, newest first.")


class RotateSigningKeyBody(RequestBody):
    overlap_seconds: int = Field(
        default=0,
        ge=0,
        le=INT64_MAX,
        description="How long the previous key keeps verifying; 0 means the configured default.",
    )


class RotatedSigningKeys(ProtoModel, message=pb.RotateSigningKeyResponse):
    active: SigningKey = Field(description="The new signer.")
    previous: SigningKey = Field(description="The previous signer, now retiring.")


class Invite(
    ProtoModel,
    message=pb.Invite,
    nullable=("invited_email", "expire_time", "revoke_time", "note", "tenant_id", "role"),
):
    token_hint: str = Field(description="The first characters of the token, to recognise it.")


class AcceptInviteBody(RequestBody):
    invite_token: Text = Field(description="The team invite's token, as the invitee got it.")


class SwitchTenantBody(RequestBody):
    tenant_id: Text = Field(description="Another tenant you belong to.")


class CreatedInvite(ProtoModel, message=pb.CreateInviteResponse):
    token: str = Field(description="The invite token, shown only here.")


class InviteList(ProtoModel, message=pb.ListInvitesResponse):
    pass


class CreateInviteBody(RequestBody):
    invited_email: Text | None = Field(
        default=None, description="The only email that may redeem it; null for anyone."
    )
    max_redemptions: int = Field(
        default=0, ge=0, le=INT32_MAX, description="How many sign-ups it allows; 0 means 1."
    )
    expire_time: AwareDatetime | None = Field(default=None, description="null means never.")
    note: Text | None = None

    def to_proto(self) -> pb.CreateInviteRequest:
        return pb.CreateInviteRequest(
            invited_email=self.invited_email or "",
            max_redemptions=self.max_redemptions,
            expire_time=to_timestamp(self.expire_time),
            note=self.note or "",
        )


class RevokeInviteBody(RequestBody):
    reason: Text | None = None


class SignupRequest(
    ProtoModel,
    message=pb.SignupRequest,
    nullable=("organization", "full_name", "message", "decision_reason", "decide_time"),
):
    pass


class SignupRequestList(ProtoModel, message=pb.ListSignupRequestsResponse):
    pass


class DecisionBody(RequestBody):
    approve: bool = Field(description="true issues an invite for the requester; false rejects.")
    reason: Text | None = None


class Decision(ProtoModel, message=pb.DecideSignupRequestResponse):
    invite_token: str | None = Field(
        description="On approval, the invite token for the requester, shown only here."
    )


class SecurityEvent(ProtoModel, message=pb.SecurityEvent, nullable=("user_id", "tenant_id")):
    event_type: str = Field(description="Such as sign_in_failed or refresh_token_reused.")
    source: str | None = Field(description="The service that recorded it.")


class SecurityEventList(ProtoModel, message=pb.ListSecurityEventsResponse):
    events: list[SecurityEvent] = Field(description="Newest first.")


# -- JWKS --------------------------------------------------------------------------------------


class JsonWebKey(ProtoModel, message=pb.JsonWebKey, exclude=("retire_time",)):
    """A public key in RFC 7517 form."""


class JsonWebKeySet(ProtoModel, message=pb.GetJwksResponse):
    pass
