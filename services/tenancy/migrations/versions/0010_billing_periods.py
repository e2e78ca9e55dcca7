"""billing periods: subscription_periods, and indexes on when periods and trials end

Revision ID: 0010_billing_periods
Revises: 0009_plan_limit_counters
Create Date: 2026-11-23 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0010_billing_periods"
down_revision: str | Sequence[str] | None = "0009_plan_limit_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dt() -> shared.db_types.UTCDateTime:
    return shared.db_types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tenant_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tenant_subscriptions_period_end", ["current_period_end"], unique=False
        )
        batch_op.create_index("ix_tenant_subscriptions_trial_end", ["trial_ends_at"], unique=False)

    op.create_table(
        "subscription_periods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", _dt(), nullable=False),
        sa.Column("period_end", _dt(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("closed_at", _dt(), nullable=False),
        sa.Column("counters_pruned_at", _dt(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('renewed', 'canceled')",
            name=op.f("ck_subscription_periods_outcome_known"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["subscription_invoices.id"],
            name=op.f("fk_subscription_periods_invoice_id_subscription_invoices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["tenant_subscriptions.id"],
            name=op.f("fk_subscription_periods_subscription_id_tenant_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_subscription_periods_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_periods")),
        sa.UniqueConstraint(
            "subscription_id",
            "period_start",
            name=op.f("uq_subscription_periods_subscription_id_period_start"),
        ),
    )
    with op.batch_alter_table("subscription_periods", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscription_periods_prunable",
            ["counters_pruned_at", "period_end"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("subscription_periods", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_periods_prunable")
    op.drop_table("subscription_periods")
    with op.batch_alter_table("tenant_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_tenant_subscriptions_trial_end")
        batch_op.drop_index("ix_tenant_subscriptions_period_end")
