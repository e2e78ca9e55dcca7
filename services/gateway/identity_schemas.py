"""The JSON resources of identity's API and their conversions to and from protobuf.

Field names are protobuf's (snake_case), times are RFC 3339 in UTC, an unset time or an empty
optional string is null, and enums are lowercase names. Request bodies refuse unknown fields
and text protobuf cannot carry, naming the field (400), as the tenant bodies do.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AwareDatetime, BaseModel, Field

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.proto_json import (
    INT32_MAX,
    INT64_MAX,
    JsonObject,
    Text,
    json_to_struct,
    struct_to_json,
)
from services.gateway.schemas import RequestBody
from shared.timestamps import from_timestamp, to_timestamp

UserStatusName = Literal["pending", "active", "disabled", "locked"]
PlatformRoleName = Literal["platform_operator"]
SigningKeyStateName = Literal["active", "retiring", "retired"]
InviteStatusName = Literal["active", "exhausted", "revoked", "expired"]
SignupRequestStatusName = Literal["pending", "approved", "rejected"]

USER_STATUS_NAMES: Mapping[int, UserStatusName] = {
    pb.USER_STATUS_PENDING: "pending",
    pb.USER_STATUS_ACTIVE: "active",
    pb.USER_STATUS_DISABLED: "disabled",
    pb.USER_STATUS_LOCKED: "locked",
}
SIGNING_KEY_STATE_NAMES: Mapping[int, SigningKeyStateName] = {
    pb.SIGNING_KEY_STATE_ACTIVE: "active",
    pb.SIGNING_KEY_STATE_RETIRING: "retiring",
    pb.SIGNING_KEY_STATE_RETIRED: "retired",
}
INVITE_STATUS_NAMES: Mapping[int, InviteStatusName] = {
    pb.INVITE_STATUS_ACTIVE: "active",
    pb.INVITE_STATUS_EXHAUSTED: "exhausted",
    pb.INVITE_STATUS_REVOKED: "revoked",
    pb.INVITE_STATUS_EXPIRED: "expired",
}
SIGNUP_REQUEST_STATUS_NAMES: Mapping[int, SignupRequestStatusName] = {
    pb.SIGNUP_REQUEST_STATUS_PENDING: "pending",
    pb.SIGNUP_REQUEST_STATUS_APPROVED: "approved",
    pb.SIGNUP_REQUEST_STATUS_REJECTED: "rejected",
}
SIGNUP_REQUEST_STATUS_VALUES: Mapping[str, int] = {
    name: value for value, name in SIGNUP_REQUEST_STATUS_NAMES.items()
}


def time_or_none(message: Message, field: str) -> datetime | None:
    """The time in ``message.field``, or None when the field is unset."""
    return from_timestamp(getattr(message, field)) if message.HasField(field) else None


def timestamp_or_none(value: datetime | None) -> Timestamp | None:
    return None if value is None else to_timestamp(value)


# -- Users and tokens --------------------------------------------------------------------------


class User(BaseModel):
    id: str
    email: str
    status: UserStatusName
    platform_role: PlatformRoleName | None = Field(
        description="platform_operator for operators, null for everyone else."
    )
    email_verify_time: datetime | None
    create_time: datetime

    @classmethod
    def from_proto(cls, user: pb.User) -> User:
        return cls(
            id=user.id,
            email=user.email,
            status=USER_STATUS_NAMES[user.status],
            platform_role="platform_operator"
            if user.platform_role == pb.PLATFORM_ROLE_PLATFORM_OPERATOR
            else None,
            email_verify_time=time_or_none(user, "email_verify_time"),
            create_time=from_timestamp(user.create_time),
        )


class TokenPair(BaseModel):
    access_token: str = Field(description="Send as 'Authorization: Bearer <access_token>'.")
    access_token_expire_time: datetime
    refresh_token: str = Field(
        description="Exchange at /v1/auth/refresh for new tokens; each works once."
    )
    refresh_token_expire_time: datetime
    session_id: str
    tenant_id: str = Field(description="The tenant the access token is scoped to.")
    role: str = Field(description="The caller's role in that tenant.")

    @classmethod
    def from_proto(cls, tokens: pb.TokenPair) -> TokenPair:
        return cls(
            access_token=tokens.access_token,
            access_token_expire_time=from_timestamp(tokens.access_token_expire_time),
            refresh_token=tokens.refresh_token,
            refresh_token_expire_time=from_timestamp(tokens.refresh_token_expire_time),
            session_id=tokens.session_id,
            tenant_id=tokens.tenant_id,
            role=tokens.role,
        )


class MfaChallenge(BaseModel):
    mfa_token: str = Field(description="Send to /v1/auth/signin/mfa with a code.")
    methods: list[str] = Field(description="What may answer: totp, recovery_code.")
    expire_time: datetime

    @classmethod
    def from_proto(cls, challenge: pb.MfaChallenge) -> MfaChallenge:
        return cls(
            mfa_token=challenge.mfa_token,
            methods=list(challenge.methods),
            expire_time=from_timestamp(challenge.expire_time),
        )


class SignedIn(BaseModel):
    """A completed sign-in: the session's tokens and who signed in."""

    tokens: TokenPair
    user: User


class SignInChallenged(BaseModel):
    """A sign-in that needs a second factor: answer the challenge at /v1/auth/signin/mfa."""

    mfa_challenge: MfaChallenge


class Refreshed(BaseModel):
    tokens: TokenPair


class SignUpBody(RequestBody):
    email: Text
    password: Text
    tenant_name: Text = Field(description="The display name of the new tenant.")
    tenant_slug: Text = Field(description="The URL-safe handle of the new tenant.")
    invite_token: Text | None = Field(
        default=None, description="Required when sign-up is by invite."
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


class AccessRequested(BaseModel):
    id: str = Field(description="The access request's id.")


class ChangePasswordBody(RequestBody):
    current_password: Text
    new_password: Text


class PasswordChanged(BaseModel):
    revoked_sessions: int = Field(description="How many of the caller's other sessions ended.")


class PasswordResetRequestBody(RequestBody):
    email: Text


class PasswordResetBody(RequestBody):
    reset_token: Text = Field(description="The token the reset message delivered.")
    new_password: Text


# -- The caller's account ----------------------------------------------------------------------


class Profile(BaseModel):
    display_name: str | None
    given_name: str | None
    family_name: str | None
    avatar_url: str | None
    timezone: str | None = Field(description="An IANA time zone, such as Europe/Paris.")
    locale: str | None = Field(description="A BCP 47 locale, such as en-NZ.")
    metadata: dict[str, Any]

    @classmethod
    def from_proto(cls, profile: pb.Profile) -> Profile:
        return cls(
            display_name=profile.display_name or None,
            given_name=profile.given_name or None,
            family_name=profile.family_name or None,
            avatar_url=profile.avatar_url or None,
            timezone=profile.timezone or None,
            locale=profile.locale or None,
            metadata=struct_to_json(profile.metadata),
        )


class Me(BaseModel):
    user: User
    profile: Profile
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
            profile.metadata.CopyFrom(json_to_struct(self.metadata))
        return profile


class BeginTotpBody(RequestBody):
    label: Text | None = Field(
        default=None, description="A name for the authenticator, unique per user."
    )


class TotpEnrollment(BaseModel):
    """Shown once: put the secret in an authenticator, then confirm with a code from it."""

    method_id: str
    secret: str = Field(description="The base32 TOTP secret.")
    otpauth_uri: str = Field(description="The otpauth:// URI, for a QR code.")


class ConfirmTotpBody(RequestBody):
    code: Text = Field(description="A current six-digit code from the authenticator.")


class PasswordBody(RequestBody):
    password: Text = Field(description="The caller's current password.")


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Shown once; each code works once.")


class Consent(BaseModel):
    policy_key: str
    version: str
    accept_time: datetime

    @classmethod
    def from_proto(cls, consent: pb.Consent) -> Consent:
        return cls(
            policy_key=consent.policy_key,
            version=consent.version,
            accept_time=from_timestamp(consent.accept_time),
        )


class ConsentList(BaseModel):
    consents: list[Consent]


class ConsentBody(RequestBody):
    policy_key: Text = Field(description="The policy, such as terms or privacy.")
    version: Text = Field(description="The version accepted.")


class NotificationPreference(BaseModel):
    tenant_id: str | None = Field(description="The tenant it applies to; null for every tenant.")
    channel: str
    category: str
    enabled: bool

    @classmethod
    def from_proto(cls, preference: pb.NotificationPreference) -> NotificationPreference:
        return cls(
            tenant_id=preference.tenant_id or None,
            channel=preference.channel,
            category=preference.category,
            enabled=preference.enabled,
        )


class NotificationPreferenceList(BaseModel):
    preferences: list[NotificationPreference]


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


class Session(BaseModel):
    id: str
    tenant_id: str
    user_agent: str | None
    ip_masked: str | None = Field(description="The client's address, masked: 203.0.113.x.")
    client_platform: str | None
    client_browser: str | None
    client_device: str | None
    create_time: datetime
    last_seen_time: datetime | None
    expire_time: datetime
    revoke_time: datetime | None
    revoke_reason: str | None
    current: bool = Field(description="Whether this is the session of the calling token.")

    @classmethod
    def from_proto(cls, session: pb.Session) -> Session:
        return cls(
            id=session.id,
            tenant_id=session.tenant_id,
            user_agent=session.user_agent or None,
            ip_masked=session.ip_masked or None,
            client_platform=session.client_platform or None,
            client_browser=session.client_browser or None,
            client_device=session.client_device or None,
            create_time=from_timestamp(session.create_time),
            last_seen_time=time_or_none(session, "last_seen_time"),
            expire_time=from_timestamp(session.expire_time),
            revoke_time=time_or_none(session, "revoke_time"),
            revoke_reason=session.revoke_reason or None,
            current=session.current,
        )


class SessionList(BaseModel):
    sessions: list[Session]
    next_page_token: str


class RevokedSessions(BaseModel):
    revoked_count: int


# -- Service accounts --------------------------------------------------------------------------


class ApiKey(BaseModel):
    id: str
    account: str = Field(description="The service account's name.")
    tenant_id: str
    scopes: list[str]
    role: str = Field(description="The tenant role its tokens carry: viewer, member or admin.")
    signing_kid: str
    create_time: datetime
    expire_time: datetime
    revoke_time: datetime | None
    revoke_reason: str | None

    @classmethod
    def from_proto(cls, key: pb.ApiKey) -> ApiKey:
        return cls(
            id=key.id,
            account=key.account,
            tenant_id=key.tenant_id,
            scopes=list(key.scopes),
            role=key.role,
            signing_kid=key.signing_kid,
            create_time=from_timestamp(key.create_time),
            expire_time=from_timestamp(key.expire_time),
            revoke_time=time_or_none(key, "revoke_time"),
            revoke_reason=key.revoke_reason or None,
        )


class CreatedApiKey(BaseModel):
    key: ApiKey
    api_key: str = Field(
        description="The key itself, shown only here: send it as 'X-API-Key: <api_key>' or "
        "'Authorization: Bearer <api_key>', or exchange it at /v1/service-accounts/token."
    )


class ApiKeyList(BaseModel):
    keys: list[ApiKey]
    next_page_token: str


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
            expire_time=timestamp_or_none(self.expire_time),
            request_id=request_id,
        )


class ExchangeApiKeyBody(RequestBody):
    api_key: Text


class AccessToken(BaseModel):
    access_token: str = Field(description="Send as 'Authorization: Bearer <access_token>'.")
    expire_time: datetime


# -- Operators ---------------------------------------------------------------------------------


class SigningKey(BaseModel):
    kid: str
    state: SigningKeyStateName
    create_time: datetime
    retire_time: datetime | None = Field(description="When it stops (or stopped) verifying.")

    @classmethod
    def from_proto(cls, key: pb.SigningKey) -> SigningKey:
        return cls(
            kid=key.kid,
            state=SIGNING_KEY_STATE_NAMES[key.state],
            create_time=from_timestamp(key.create_time),
            retire_time=time_or_none(key, "retire_time"),
        )


class SigningKeyList(BaseModel):
    keys: list[SigningKey] = Field(description="Every key, newest first.")


class RotateSigningKeyBody(RequestBody):
    overlap_seconds: int = Field(
        default=0,
        ge=0,
        le=INT64_MAX,
        description="How long the previous key keeps verifying; 0 means the configured default.",
    )


class RotatedSigningKeys(BaseModel):
    active: SigningKey = Field(description="The new signer.")
    previous: SigningKey = Field(description="The previous signer, now retiring.")


class Invite(BaseModel):
    id: str
    token_hint: str = Field(description="The first characters of the token, to recognise it.")
    invited_email: str | None
    status: InviteStatusName
    max_redemptions: int
    redeemed_count: int
    expire_time: datetime | None
    revoke_time: datetime | None
    note: str | None
    create_time: datetime

    @classmethod
    def from_proto(cls, invite: pb.Invite) -> Invite:
        return cls(
            id=invite.id,
            token_hint=invite.token_hint,
            invited_email=invite.invited_email or None,
            status=INVITE_STATUS_NAMES[invite.status],
            max_redemptions=invite.max_redemptions,
            redeemed_count=invite.redeemed_count,
            expire_time=time_or_none(invite, "expire_time"),
            revoke_time=time_or_none(invite, "revoke_time"),
            note=invite.note or None,
            create_time=from_timestamp(invite.create_time),
        )


class CreatedInvite(BaseModel):
    invite: Invite
    token: str = Field(description="The invite token, shown only here.")


class InviteList(BaseModel):
    invites: list[Invite]
    next_page_token: str


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
            expire_time=timestamp_or_none(self.expire_time),
            note=self.note or "",
        )


class RevokeBody(RequestBody):
    reason: Text | None = None


class SignupRequest(BaseModel):
    id: str
    email: str
    organization: str | None
    full_name: str | None
    message: str | None
    status: SignupRequestStatusName
    decision_reason: str | None
    decide_time: datetime | None
    create_time: datetime

    @classmethod
    def from_proto(cls, request: pb.SignupRequest) -> SignupRequest:
        return cls(
            id=request.id,
            email=request.email,
            organization=request.organization or None,
            full_name=request.full_name or None,
            message=request.message or None,
            status=SIGNUP_REQUEST_STATUS_NAMES[request.status],
            decision_reason=request.decision_reason or None,
            decide_time=time_or_none(request, "decide_time"),
            create_time=from_timestamp(request.create_time),
        )


class SignupRequestList(BaseModel):
    requests: list[SignupRequest]
    next_page_token: str


class DecisionBody(RequestBody):
    approve: bool = Field(description="true issues an invite for the requester; false rejects.")
    reason: Text | None = None


class Decision(BaseModel):
    request: SignupRequest
    invite_token: str | None = Field(
        description="On approval, the invite token for the requester, shown only here."
    )


class SecurityEvent(BaseModel):
    id: str
    user_id: str | None
    tenant_id: str | None
    event_type: str = Field(description="Such as sign_in_failed or refresh_token_reused.")
    source: str | None = Field(description="The service that recorded it.")
    metadata: dict[str, Any]
    create_time: datetime

    @classmethod
    def from_proto(cls, event: pb.SecurityEvent) -> SecurityEvent:
        return cls(
            id=event.id,
            user_id=event.user_id or None,
            tenant_id=event.tenant_id or None,
            event_type=event.event_type,
            source=event.source or None,
            metadata=struct_to_json(event.metadata),
            create_time=from_timestamp(event.create_time),
        )


class SecurityEventList(BaseModel):
    events: list[SecurityEvent] = Field(description="Newest first.")
    next_page_token: str


# -- JWKS --------------------------------------------------------------------------------------


class JsonWebKey(BaseModel):
    """A public key in RFC 7517 form."""

    kty: str
    crv: str
    x: str
    y: str
    kid: str
    alg: str
    use: str

    @classmethod
    def from_proto(cls, key: pb.JsonWebKey) -> JsonWebKey:
        return cls(
            kty=key.kty, crv=key.crv, x=key.x, y=key.y, kid=key.kid, alg=key.alg, use=key.use
        )


class JsonWebKeySet(BaseModel):
    keys: list[JsonWebKey]
