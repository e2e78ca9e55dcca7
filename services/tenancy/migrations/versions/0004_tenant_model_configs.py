"""tenant model configurations (encrypted provider keys) and onboarding grants

Revision ID: 0004_tenant_model_configs
Revises: 0003_model_catalogue
Create Date: 2026-11-23 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0004_tenant_model_configs"
down_revision: str | None = "0003_model_catalogue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_llm_configs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("llm_model_id", sa.Uuid(), nullable=False),
        sa.Column("encrypted_api_key", sa.LargeBinary(), nullable=False),
        sa.Column("api_key_hint", sa.String(length=8), nullable=False),
        sa.Column("key_version", sa.String(length=32), nullable=False),
        sa.Column("rate_limit_rpm", sa.Integer(), nullable=False),
        sa.Column("rate_limit_tpm", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rate_limit_rpm >= 0", name=op.f("ck_tenant_llm_configs_rate_limit_rpm_not_negative")
        ),
        sa.CheckConstraint(
            "rate_limit_tpm >= 0", name=op.f("ck_tenant_llm_configs_rate_limit_tpm_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_llm_configs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["models.id"],
            name=op.f("fk_tenant_llm_configs_llm_model_id_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_llm_configs")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_tenant_llm_configs_tenant_id")),
    )
    with op.batch_alter_table("tenant_llm_configs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tenant_llm_configs_llm_model_id"), ["llm_model_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tenant_llm_configs_key_version"), ["key_version"], unique=False
        )

    op.create_table(
        "tenant_onboarding_grants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "agent",
                "tool",
                name="grant_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("output_format_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_onboarding_grants_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_onboarding_grants")),
        sa.UniqueConstraint(
            "tenant_id",
            "kind",
            "subject_id",
            name=op.f("uq_tenant_onboarding_grants_tenant_id_kind_subject_id"),
        ),
    )
    with op.batch_alter_table("tenant_onboarding_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tenant_onboarding_grants_kind_subject", ["kind", "subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tenant_onboarding_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_tenant_onboarding_grants_kind_subject")
    op.drop_table("tenant_onboarding_grants")
    with op.batch_alter_table("tenant_llm_configs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_llm_configs_key_version"))
        batch_op.drop_index(batch_op.f("ix_tenant_llm_configs_llm_model_id"))
    op.drop_table("tenant_llm_configs")
