"""Which agents and tools each tenant may use (seed 004), with the seed's partial indexes on
``enabled`` for the permission checks every tool call makes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.tooling.models import Base, where
from shared.db_types import UTCDateTime, utcnow


class TenantAgentPermissionRecord(Base):
    __tablename__ = "tenant_agent_permissions"
    __table_args__ = (
        Index("ix_tenant_agent_perms_tenant", "tenant_id", "enabled"),
        Index("ix_tenant_agent_perms_agent", "agent_id"),
        Index("ix_tenant_agent_perms_lookup", "tenant_id", "agent_id", **where("enabled")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    output_override_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("output_formats.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TenantToolPermissionRecord(Base):
    __tablename__ = "tenant_tool_permissions"
    __table_args__ = (
        Index("ix_tenant_tool_perms_tenant", "tenant_id", "enabled"),
        Index("ix_tenant_tool_perms_tool", "tool_id"),
        Index("ix_tenant_tool_perms_lookup", "tenant_id", "tool_id", **where("enabled")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tool_configs.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TenantOnboardingRecord(Base):
    """The onboarding that granted a tenant its agents and tools (GrantOnboarding): one per
    tenant, so a repeated onboarding_id answers what it stored and RevokeOnboarding takes back
    only that onboarding's grants."""

    __tablename__ = "tenant_onboardings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    onboarding_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
