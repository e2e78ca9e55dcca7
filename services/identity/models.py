"""Tables owned by the identity service: seed 001's auth tables, with seed 002's user_sessions
merged in, plus signing keys and password-reset tokens.

Foreign keys to tenants are gone (tenants live in the tenancy service): a tenant_id here is an
opaque id. Secrets are only ever stored hashed or encrypted (see services/identity/secrets.py).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.db_types import JSONType, UTCDateTime, utcnow
from shared.idempotency import IdempotencyKeyMixin


class Base(DeclarativeBase):
    metadata = service_metadata()


def _enum(members: type[enum.Enum], name: str) -> Enum:
    """A portable enum: a VARCHAR with a CHECK constraint on both databases."""
    return Enum(
        members,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda ms: [m.value for m in ms],
    )


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow)


def _updated() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UserStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"
    LOCKED = "locked"


class PlatformRole(enum.StrEnum):
    PLATFORM_OPERATOR = "platform_operator"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # Case-insensitive uniqueness on both databases (CITEXT in the seed).
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        # The revocation feed: users no longer active, by when that changed.
        Index("ix_users_status_updated", "status", "updated_at"),
    )

    id: Mapped[uuid.UUID] = _id()
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(Text)
    password_pepper_version: Mapped[str] = mapped_column(String(32), default="v1")
    status: Mapped[UserStatus] = mapped_column(
        _enum(UserStatus, "user_status"), default=UserStatus.PENDING, index=True
    )
    platform_role: Mapped[PlatformRole | None] = mapped_column(_enum(PlatformRole, "platform_role"))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Consecutive failed sign-ins; reaching the threshold locks the account.
    failed_sign_in_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class UserProfile(Base):
    __tablename__ = "user_profiles"

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    display_name: Mapped[str | None] = mapped_column(String(128))
    given_name: Mapped[str | None] = mapped_column(String(64))
    family_name: Mapped[str | None] = mapped_column(String(64))
    avatar_url: Mapped[str | None] = mapped_column(String(512))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(32))
    metadata_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class PasswordHistory(Base):
    __tablename__ = "password_history"
    __table_args__ = (Index("ix_password_history_user_created", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    password_hash: Mapped[str] = mapped_column(Text)
    password_pepper_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created()


class UserLoginEvent(Base):
    __tablename__ = "user_login_events"
    __table_args__ = (
        Index("ix_user_login_events_user_created", "user_id", "created_at"),
        Index("ix_user_login_events_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    ip_hash: Mapped[str] = mapped_column(String(128))
    #: Seed 001 keeps the agent in clear; here it is a keyed hash, like the IP.
    user_agent: Mapped[str | None] = mapped_column(String(512))
    result: Mapped[str] = mapped_column(String(16))  # success / failure / locked / mfa_required
    reason: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created()


class SignupRequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class TenantSignupRequest(Base):
    __tablename__ = "tenant_signup_requests"

    id: Mapped[uuid.UUID] = _id()
    email: Mapped[str] = mapped_column(String(320), index=True)
    organization: Mapped[str | None] = mapped_column(String(128))
    full_name: Mapped[str | None] = mapped_column(String(128))
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[SignupRequestStatus] = mapped_column(
        _enum(SignupRequestStatus, "tenant_signup_request_status"),
        default=SignupRequestStatus.PENDING,
        index=True,
    )
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    invite_token_hint: Mapped[str | None] = mapped_column(String(16))
    #: Seed 001 keeps ip_address; stored here as a keyed hash.
    ip_address: Mapped[str | None] = mapped_column(String(128))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    honeypot_value: Mapped[str | None] = mapped_column(String(64))
    metadata_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class InviteStatus(enum.StrEnum):
    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class TenantSignupInvite(Base):
    __tablename__ = "tenant_signup_invites"

    id: Mapped[uuid.UUID] = _id()
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    token_hint: Mapped[str] = mapped_column(String(16))
    invited_email: Mapped[str | None] = mapped_column(String(320))
    issuer_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    #: Set on a team invite: the tenant it joins (else the invite signs a new tenant up).
    issuer_tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    #: The role a team invite grants in issuer_tenant_id.
    member_role: Mapped[str | None] = mapped_column(String(16))
    signup_request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenant_signup_requests.id", ondelete="SET NULL")
    )
    status: Mapped[InviteStatus] = mapped_column(
        _enum(InviteStatus, "tenant_signup_invite_status"), default=InviteStatus.ACTIVE, index=True
    )
    max_redemptions: Mapped[int] = mapped_column(Integer, default=1)
    redeemed_count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    metadata_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ReservationStatus(enum.StrEnum):
    ACTIVE = "active"
    FINALIZED = "finalized"
    RELEASED = "released"


class TenantSignupInviteReservation(Base):
    __tablename__ = "tenant_signup_invite_reservations"
    __table_args__ = (Index("ix_signup_invite_reservations_invite_status", "invite_id", "status"),)

    id: Mapped[uuid.UUID] = _id()
    invite_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant_signup_invites.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[ReservationStatus] = mapped_column(
        _enum(ReservationStatus, "signup_invite_reservation_status"),
        default=ReservationStatus.ACTIVE,
        index=True,
    )
    reserved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_reason: Mapped[str | None] = mapped_column(Text)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class UserSession(Base):
    """Seed 001 user_sessions merged with seed 002's: the refresh token's current jti and hash,
    device details, and the 002 status/expiry. IPs are hashed, masked and encrypted, never clear.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (
        Index("ix_user_sessions_user_last_seen", "user_id", "last_seen_at"),
        Index("ix_user_sessions_tenant_last_seen", "tenant_id", "last_seen_at"),
        Index("ix_user_sessions_fingerprint", "user_id", "fingerprint"),
        # The revocation feed reads sessions ended since a time; only ended ones are indexed.
        Index(
            "ix_user_sessions_revoked_at",
            "revoked_at",
            postgresql_where=text("revoked_at IS NOT NULL"),
            sqlite_where=text("revoked_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    #: The jti of the only refresh token of this session that is still valid.
    refresh_jti: Mapped[str] = mapped_column(String(64), unique=True)
    #: Seed 002 session_token: the keyed hash of that refresh token.
    session_token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    fingerprint: Mapped[str | None] = mapped_column(String(256))
    ip_hash: Mapped[str | None] = mapped_column(String(128))
    ip_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    ip_masked: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    client_platform: Mapped[str | None] = mapped_column(String(64))
    client_browser: Mapped[str | None] = mapped_column(String(64))
    client_device: Mapped[str | None] = mapped_column(String(32))
    location_city: Mapped[str | None] = mapped_column(String(128))
    location_region: Mapped[str | None] = mapped_column(String(128))
    location_country: Mapped[str | None] = mapped_column(String(64))
    device_info: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[SessionStatus] = mapped_column(
        _enum(SessionStatus, "user_session_status"), default=SessionStatus.ACTIVE
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(256))


class ServiceAccountToken(Base):
    """An API key of a service account: ``refresh_token_hash`` is the keyed hash of the key's
    secret and ``refresh_jti`` its public id."""

    __tablename__ = "service_account_tokens"
    __table_args__ = (
        Index(
            "uq_service_account_tokens_active_service_accounts",
            "account",
            "tenant_id",
            "scope_key",
            unique=True,
            postgresql_where=text("revoked_at IS NULL AND account NOT LIKE 'user:%'"),
            sqlite_where=text("revoked_at IS NULL AND account NOT LIKE 'user:%'"),
        ),
        # The revocation feed reads keys revoked since a time; only revoked ones are indexed.
        Index(
            "ix_service_account_tokens_revoked_at",
            "revoked_at",
            postgresql_where=text("revoked_at IS NOT NULL"),
            sqlite_where=text("revoked_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _id()
    account: Mapped[str] = mapped_column(String(128))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    scope_key: Mapped[str] = mapped_column(String(256))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    role: Mapped[str] = mapped_column(String(16), default="member")
    refresh_token_hash: Mapped[str] = mapped_column(Text)
    refresh_jti: Mapped[str] = mapped_column(String(64), unique=True)
    signing_kid: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(128))
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_sessions.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class MfaMethodType(enum.StrEnum):
    TOTP = "totp"
    WEBAUTHN = "webauthn"


class UserMfaMethod(Base):
    __tablename__ = "user_mfa_methods"
    __table_args__ = (
        UniqueConstraint("user_id", "label"),
        Index("ix_user_mfa_methods_user_type", "user_id", "method_type"),
    )

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    method_type: Mapped[MfaMethodType] = mapped_column(_enum(MfaMethodType, "mfa_method_type"))
    label: Mapped[str | None] = mapped_column(String(64))
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    credential_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: The last TOTP time step accepted, so a code is accepted once per window.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class UserRecoveryCode(Base):
    __tablename__ = "user_recovery_codes"

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(128))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = _created()


class UserConsent(Base):
    __tablename__ = "user_consents"
    __table_args__ = (
        UniqueConstraint("user_id", "policy_key", "version"),
        Index("ix_user_consents_user_policy", "user_id", "policy_key"),
    )

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    policy_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_hash: Mapped[str | None] = mapped_column(String(128))
    user_agent_hash: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created()


class UserNotificationPreference(Base):
    __tablename__ = "user_notification_preferences"
    __table_args__ = (
        UniqueConstraint("user_id", "tenant_id", "channel", "category"),
        # NULLs are distinct in a unique constraint, so the tenant-wide row needs its own index.
        Index(
            "uq_user_notification_preferences_null_tenant",
            "user_id",
            "channel",
            "category",
            unique=True,
            postgresql_where=text("tenant_id IS NULL"),
            sqlite_where=text("tenant_id IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class SecurityEventRecord(Base):
    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_user_created", "user_id", "created_at"),
        Index("ix_security_events_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str | None] = mapped_column(String(32))
    ip_hash: Mapped[str | None] = mapped_column(String(128))
    user_agent_hash: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(128))
    metadata_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created()


class SigningKeyState(enum.StrEnum):
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


class SigningKey(Base):
    """A JWT signing key (the kid of DESIGN.md); the private half is encrypted."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        # At most one signer at a time.
        Index(
            "uq_signing_keys_one_active",
            "state",
            unique=True,
            postgresql_where=text("state = 'active'"),
            sqlite_where=text("state = 'active'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="ES256")
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[SigningKeyState] = mapped_column(
        _enum(SigningKeyState, "signing_key_state"), default=SigningKeyState.ACTIVE
    )
    created_at: Mapped[datetime] = _created()
    retire_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PasswordResetToken(Base):
    __tablename__ = "password_reset_tokens"

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip_hash: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created()


class IdempotencyKey(IdempotencyKeyMixin, Base):
    pass
