"""rate limiter: limit_counters and limit_reservations

Revision ID: 0005_limits
Revises: 0004_tenant_model_configs
Create Date: 2026-11-23 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0005_limits"
down_revision: str | None = "0004_tenant_model_configs"
branch_labels: str | Sequence[str] | None = ("limits",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "limit_counters",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("window_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('rpm', 'tpm')", name=op.f("ck_limit_counters_kind_known")),
        sa.CheckConstraint("used >= 0", name=op.f("ck_limit_counters_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_limit_counters_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "kind", "window_start", name=op.f("pk_limit_counters")
        ),
    )
    with op.batch_alter_table("limit_counters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_limit_counters_window_start"), ["window_start"], unique=False
        )

    op.create_table(
        "limit_reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("actual_tokens", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", shared.db_types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'settled', 'released')",
            name=op.f("ck_limit_reservations_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_limit_reservations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_reservations")),
        sa.UniqueConstraint(
            "tenant_id", "request_id", name=op.f("uq_limit_reservations_tenant_id_request_id")
        ),
    )
    with op.batch_alter_table("limit_reservations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_limit_reservations_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("limit_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limit_reservations_expires_at"))
    op.drop_table("limit_reservations")
    with op.batch_alter_table("limit_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limit_counters_window_start"))
    op.drop_table("limit_counters")
