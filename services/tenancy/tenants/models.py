"""The tenancy area's tables.

``tenants`` merges seed 001 ``tenant_accounts`` (id, slug unique, name) with seed 004 ``tenants``
(domain unique, status, timestamps) and adds ``version`` for optimistic updates;
``tenant_settings`` is seed 001's, one row per tenant.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.tenancy.models import Base
from shared.db_types import JSONType, UTCDateTime, utcnow


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class TenantRecord(Base):
    __tablename__ = "tenants"
    __table_args__ = (Index(None, "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    domain: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[TenantStatus] = mapped_column(
        Enum(
            TenantStatus,
            name="tenant_status",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        ),
        default=TenantStatus.ACTIVE,
        index=True,
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # The ORM bumps version on every UPDATE and adds "WHERE version = <read>", so two writers
    # that read the same version cannot both win.
    __mapper_args__ = {"version_id_col": version}


class TenantSettingsRecord(Base):
    __tablename__ = "tenant_settings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    billing_contacts_json: Mapped[list[str]] = mapped_column(JSONType, default=list)
    billing_webhook_url: Mapped[str | None] = mapped_column(String(512))
    plan_metadata_json: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    flags_json: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # The ORM bumps version on every UPDATE and adds "WHERE version = <read>", so two writers
    # that read the same version cannot both win.
    __mapper_args__ = {"version_id_col": version}


class MembershipRole(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class MembershipRecord(Base):
    """Seed 001 tenant_user_memberships; user_id is an opaque id of the identity service."""

    __tablename__ = "tenant_user_memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "tenant_id"),
        Index("ix_tenant_user_memberships_tenant_role", "tenant_id", "role"),
        Index("ix_tenant_user_memberships_user", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    role: Mapped[MembershipRole] = mapped_column(
        Enum(
            MembershipRole,
            name="tenant_role",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        )
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MembershipRevocationRecord(Base):
    """A membership removed or lowered in role, at ``revoked_at``: the user's access tokens for
    the tenant issued at or before it are refused (ListMembershipRevocations, which identity
    folds into the revocation feed). Written in the transaction that changes the membership, so
    no change goes unrecorded; no foreign key, so it outlives the tenant's rows."""

    __tablename__ = "membership_revocations"
    __table_args__ = (Index(None, "revoked_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    #: ``removed`` or ``role_lowered``.
    reason: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
