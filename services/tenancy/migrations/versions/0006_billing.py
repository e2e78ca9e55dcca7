"""billing: usage counters, plans and features, subscriptions, rolled-up usage, invoices

Hand-written for these tables only; branches from 0004 independently of other revisions.

Revision ID: 0006_billing
Revises: 0004_tenant_model_configs
Create Date: 2026-11-23 15:01:02.523606
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0006_billing"
down_revision: str | None = "0004_tenant_model_configs"
branch_labels: str | Sequence[str] | None = ("billing",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("interval", sa.String(length=16), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=True),
        sa.Column("seat_included", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "interval_count >= 1", name=op.f("ck_billing_plans_interval_count_positive")
        ),
        sa.CheckConstraint("price_micros >= 0", name=op.f("ck_billing_plans_price_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_billing_plans_code")),
    )
    op.create_table(
        "plan_features",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "metric",
            sa.Enum(
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "requests",
                "storage_bytes",
                name="usage_metric",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("hard_limit", sa.BigInteger(), nullable=True),
        sa.Column("soft_limit", sa.BigInteger(), nullable=True),
        sa.Column("is_metered", sa.Boolean(), nullable=False),
        sa.Column("included_quantity", sa.BigInteger(), nullable=False),
        sa.Column("overage_unit_price_micros", sa.BigInteger(), nullable=False),
        sa.Column("overage_unit_block", sa.BigInteger(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "included_quantity >= 0", name=op.f("ck_plan_features_included_not_negative")
        ),
        sa.CheckConstraint(
            "overage_unit_block >= 1", name=op.f("ck_plan_features_overage_block_positive")
        ),
        sa.CheckConstraint(
            "overage_unit_price_micros >= 0",
            name=op.f("ck_plan_features_overage_price_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["billing_plans.id"],
            name=op.f("fk_plan_features_plan_id_billing_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_features")),
        sa.UniqueConstraint(
            "plan_id", "feature_key", name=op.f("uq_plan_features_plan_id_feature_key")
        ),
    )
    op.create_table(
        "tenant_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "trialing",
                "active",
                "past_due",
                "canceled",
                name="subscription_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("billing_email", sa.String(length=256), nullable=True),
        sa.Column("starts_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("current_period_start", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("current_period_end", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("trial_ends_at", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("cancel_at", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("seat_count", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "seat_count IS NULL OR seat_count >= 1",
            name=op.f("ck_tenant_subscriptions_seat_count_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["billing_plans.id"],
            name=op.f("fk_tenant_subscriptions_plan_id_billing_plans"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_subscriptions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_subscriptions")),
    )
    with op.batch_alter_table("tenant_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tenant_subscriptions_tenant_status", ["tenant_id", "status"], unique=False
        )
        batch_op.create_index(
            "uq_tenant_subscriptions_tenant_live",
            ["tenant_id"],
            unique=True,
            sqlite_where=sa.text("status <> 'canceled'"),
            postgresql_where=sa.text("status <> 'canceled'"),
        )

    op.create_table(
        "usage_counters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column(
            "granularity",
            sa.Enum(
                "day",
                "month",
                name="usage_granularity",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "input_tokens >= 0", name=op.f("ck_usage_counters_input_tokens_not_negative")
        ),
        sa.CheckConstraint(
            "output_tokens >= 0", name=op.f("ck_usage_counters_output_tokens_not_negative")
        ),
        sa.CheckConstraint("requests >= 0", name=op.f("ck_usage_counters_requests_not_negative")),
        sa.CheckConstraint(
            "storage_bytes >= 0", name=op.f("ck_usage_counters_storage_bytes_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_counters_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_counters")),
        sa.UniqueConstraint(
            "tenant_id",
            "user_id",
            "period_start",
            "granularity",
            name=op.f("uq_usage_counters_tenant_id_user_id_period_start_granularity"),
        ),
    )
    with op.batch_alter_table("usage_counters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_counters_tenant_period", ["tenant_id", "period_start"], unique=False
        )
        batch_op.create_index(
            "ix_usage_counters_user_period", ["user_id", "period_start"], unique=False
        )
        batch_op.create_index(
            "uq_usage_counters_tenant_period_null_user",
            ["tenant_id", "period_start", "granularity"],
            unique=True,
            sqlite_where=sa.text("user_id IS NULL"),
            postgresql_where=sa.text("user_id IS NULL"),
        )

    op.create_table(
        "subscription_invoices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("period_end", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("total_picos", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "open",
                "paid",
                "void",
                name="invoice_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("external_invoice_id", sa.String(length=128), nullable=True),
        sa.Column("hosted_invoice_url", sa.String(length=256), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "total_picos >= 0", name=op.f("ck_subscription_invoices_total_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["tenant_subscriptions.id"],
            name=op.f("fk_subscription_invoices_subscription_id_tenant_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_invoices")),
    )
    with op.batch_alter_table("subscription_invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscription_invoices_subscription_period",
            ["subscription_id", "period_start"],
            unique=False,
        )
        batch_op.create_index(
            "uq_subscription_invoices_live_period",
            ["subscription_id", "period_start"],
            unique=True,
            sqlite_where=sa.text("status <> 'void'"),
            postgresql_where=sa.text("status <> 'void'"),
        )

    op.create_table(
        "subscription_usage",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("period_start", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("period_end", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("external_event_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "quantity >= 0", name=op.f("ck_subscription_usage_quantity_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["tenant_subscriptions.id"],
            name=op.f("fk_subscription_usage_subscription_id_tenant_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_usage")),
        sa.UniqueConstraint(
            "subscription_id",
            "feature_key",
            "period_start",
            name=op.f("uq_subscription_usage_subscription_id_feature_key_period_start"),
        ),
    )
    op.create_table(
        "subscription_invoice_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_micros", sa.BigInteger(), nullable=False),
        sa.Column("unit_block", sa.BigInteger(), nullable=False),
        sa.Column("amount_picos", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["subscription_invoices.id"],
            name=op.f("fk_subscription_invoice_lines_invoice_id_subscription_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_invoice_lines")),
        sa.UniqueConstraint(
            "invoice_id", "position", name=op.f("uq_subscription_invoice_lines_invoice_id_position")
        ),
    )


def downgrade() -> None:
    op.drop_table("subscription_invoice_lines")
    op.drop_table("subscription_usage")
    with op.batch_alter_table("subscription_invoices", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_subscription_invoices_live_period",
            sqlite_where=sa.text("status <> 'void'"),
            postgresql_where=sa.text("status <> 'void'"),
        )
        batch_op.drop_index("ix_subscription_invoices_subscription_period")

    op.drop_table("subscription_invoices")
    with op.batch_alter_table("usage_counters", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_usage_counters_tenant_period_null_user",
            sqlite_where=sa.text("user_id IS NULL"),
            postgresql_where=sa.text("user_id IS NULL"),
        )
        batch_op.drop_index("ix_usage_counters_user_period")
        batch_op.drop_index("ix_usage_counters_tenant_period")

    op.drop_table("usage_counters")
    with op.batch_alter_table("tenant_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_tenant_subscriptions_tenant_live",
            sqlite_where=sa.text("status <> 'canceled'"),
            postgresql_where=sa.text("status <> 'canceled'"),
        )
        batch_op.drop_index("ix_tenant_subscriptions_tenant_status")

    op.drop_table("tenant_subscriptions")
    op.drop_table("plan_features")
    op.drop_table("billing_plans")
