"""Tables of tenants' model configurations and onboarding grants.

``tenant_llm_configs`` is seed 004's: one row per tenant naming a model of the catalogue
(``models``, migration 0003) with the tenant's provider key, Fernet-encrypted (``key_version``
names the encryption key that sealed it, ``api_key_hint`` keeps its last four characters for
display), its rate limits, and ``version`` for optimistic updates.

``tenant_onboarding_grants`` was the stand-in for onboarding's agent and tool grants (seed 004
``tenant_agent_permissions`` / ``tenant_tool_permissions``). They are the tooling service's now
(OnboardTenant stores them through its GrantOnboarding) and nothing writes this table any more;
it stays, with the rows earlier onboardings left, until they are moved to tooling and the table
dropped.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.tenancy.models import Base
from services.tenancy.pricing.models import ModelRecord
from services.tenancy.tenants.models import TenantRecord
from shared.db_types import UTCDateTime, utcnow

DEFAULT_RATE_LIMIT_RPM = 60
DEFAULT_RATE_LIMIT_TPM = 10000


class TenantModelConfigRecord(Base):
    __tablename__ = "tenant_llm_configs"
    __table_args__ = (
        CheckConstraint("rate_limit_rpm >= 0", name="rate_limit_rpm_not_negative"),
        CheckConstraint("rate_limit_tpm >= 0", name="rate_limit_tpm_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(TenantRecord.id, ondelete="CASCADE"), unique=True
    )
    llm_model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ModelRecord.id), index=True)
    encrypted_api_key: Mapped[bytes] = mapped_column(LargeBinary)
    api_key_hint: Mapped[str] = mapped_column(String(8))
    key_version: Mapped[str] = mapped_column(String(32), index=True)
    rate_limit_rpm: Mapped[int] = mapped_column(Integer, default=DEFAULT_RATE_LIMIT_RPM)
    rate_limit_tpm: Mapped[int] = mapped_column(Integer, default=DEFAULT_RATE_LIMIT_TPM)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # The ORM bumps version on every UPDATE and adds "WHERE version = <read>", so two writers
    # that read the same version cannot both win.
    __mapper_args__ = {"version_id_col": version}


class GrantKind(enum.StrEnum):
    AGENT = "agent"
    TOOL = "tool"


class TenantOnboardingGrantRecord(Base):
    """Legacy: the grants of onboardings made before tooling stored them (no longer written)."""

    __tablename__ = "tenant_onboarding_grants"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "subject_id"),
        Index("ix_tenant_onboarding_grants_kind_subject", "kind", "subject_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(TenantRecord.id, ondelete="CASCADE"))
    kind: Mapped[GrantKind] = mapped_column(
        Enum(
            GrantKind,
            name="grant_kind",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        )
    )
    #: The agent's or the tool's id in the tooling service.
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: For agents: the output format overriding the agent's own.
    output_format_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
