"""agent_telemetry: usage and cost rows (seed 000), idempotent by tenant and event id

Revision ID: 0002_agent_telemetry
Revises: f8e68fd1f91a
Create Date: 2026-11-23 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0002_agent_telemetry"
down_revision: str | None = "f8e68fd1f91a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_telemetry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=True),
        sa.Column("config_id", sa.String(length=255), nullable=True),
        sa.Column("command_id", sa.String(length=255), nullable=True),
        sa.Column("metric_type", sa.String(length=255), nullable=False),
        sa.Column("metric_name", sa.String(length=255), nullable=False),
        sa.Column("metric_value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("timestamp_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("metadata_json", shared.db_types.JSONType, nullable=False),
        sa.Column("role_name", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("event_type", sa.String(length=255), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=True),
        sa.Column("model_used", sa.String(length=255), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_estimate_picos", sa.BigInteger(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cache_creation_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.String(length=255), nullable=True),
        sa.Column("agent_email", sa.String(length=255), nullable=True),
        sa.Column("cache_read_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("is_batch", sa.Boolean(), nullable=False),
        sa.Column("is_us_only", sa.Boolean(), nullable=False),
        sa.Column("is_fast_mode", sa.Boolean(), nullable=False),
        sa.Column("is_long_context", sa.Boolean(), nullable=False),
        sa.Column("tool_choice", sa.String(length=64), nullable=True),
        sa.Column("tool_system_prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("tool_overhead_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("web_search_requests", sa.BigInteger(), nullable=False),
        sa.Column("code_exec_seconds", sa.BigInteger(), nullable=False),
        sa.Column("computed_cost_picos", sa.BigInteger(), nullable=True),
        sa.Column("cost_breakdown_json", shared.db_types.JSONType, nullable=False),
        sa.Column("total_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_hit_rate", sa.Float(), nullable=False),
        sa.Column("cache_efficiency_score", sa.Float(), nullable=False),
        sa.Column("cache_cost_savings_picos", sa.BigInteger(), nullable=False),
        sa.Column("cache_breakpoints_used", sa.Integer(), nullable=False),
        sa.Column("cache_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("cache_strategy", sa.String(length=64), nullable=True),
        sa.Column("pricing_source", sa.String(length=64), nullable=False),
        sa.Column(
            "cost_status",
            sa.Enum(
                "priced",
                "client",
                "no_model",
                "unknown_model",
                "no_price",
                "pricing_unavailable",
                name="usage_cost_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("output_rate_per_mtok_micros", sa.BigInteger(), nullable=True),
        sa.Column("input_rate_per_mtok_micros", sa.BigInteger(), nullable=True),
        sa.Column("cache_read_rate_per_mtok_micros", sa.BigInteger(), nullable=True),
        sa.Column("cache_write_rate_per_mtok_micros", sa.BigInteger(), nullable=True),
        sa.Column("subscription_monthly_picos", sa.BigInteger(), nullable=True),
        sa.Column("neuron_cost_picos", sa.BigInteger(), nullable=False),
        sa.Column("neurons_used", sa.BigInteger(), nullable=False),
        sa.Column("neuron_rate_per_1k_micros", sa.BigInteger(), nullable=False),
        sa.Column("model_size_class", sa.String(length=32), nullable=True),
        sa.Column("workspace_id", sa.String(length=255), nullable=True),
        sa.Column("service_name", sa.String(length=255), nullable=True),
        sa.Column("instance_id", sa.String(length=255), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_telemetry")),
        sa.UniqueConstraint(
            "tenant_id", "event_id", name=op.f("uq_agent_telemetry_tenant_id_event_id")
        ),
    )
    with op.batch_alter_table("agent_telemetry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_telemetry_tenant_id_agent_id_timestamp_unix_nano"),
            ["tenant_id", "agent_id", "timestamp_unix_nano"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agent_telemetry_tenant_id_model_used_timestamp_unix_nano"),
            ["tenant_id", "model_used", "timestamp_unix_nano"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agent_telemetry_tenant_id_timestamp_unix_nano"),
            ["tenant_id", "timestamp_unix_nano"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agent_telemetry_timestamp_unix_nano"),
            ["timestamp_unix_nano"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agent_telemetry_trace_id"),
            ["trace_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_telemetry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_telemetry_trace_id"))
        batch_op.drop_index(batch_op.f("ix_agent_telemetry_timestamp_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_agent_telemetry_tenant_id_timestamp_unix_nano"))
        batch_op.drop_index(
            batch_op.f("ix_agent_telemetry_tenant_id_model_used_timestamp_unix_nano")
        )
        batch_op.drop_index(batch_op.f("ix_agent_telemetry_tenant_id_agent_id_timestamp_unix_nano"))

    op.drop_table("agent_telemetry")
