"""agent_metrics, agent_requests and mcp_tool_usage

Revision ID: 0004_metrics_requests_tool_usage
Revises: f8e68fd1f91a
Create Date: 2026-11-23 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0004_metrics_requests_tool_usage"
down_revision: str | None = "f8e68fd1f91a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REQUEST_FAILED = sa.text("status_code >= 400")
_TOOL_CALL_FAILED = sa.text("status IN ('error', 'timeout')")


def _autoincrement_id() -> sa.Column:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "agent_metrics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("agent_id", sa.String(length=255), nullable=False),
        sa.Column("metric_type", sa.String(length=50), nullable=False),
        sa.Column("metric_value", sa.Float(), nullable=False),
        sa.Column("metric_unit", sa.String(length=20), nullable=True),
        sa.Column("cost_pico", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("context", shared.db_types.JSONType, nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_metrics")),
    )
    with op.batch_alter_table("agent_metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_metrics_tenant_id_agent_id_metric_type_recorded_at"),
            ["tenant_id", "agent_id", "metric_type", "recorded_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agent_metrics_tenant_id_recorded_at_covering"),
            ["tenant_id", "recorded_at", "agent_id", "metric_type", "metric_value", "cost_pico"],
            unique=False,
        )

    op.create_table(
        "agent_requests",
        _autoincrement_id(),
        sa.Column("tenant_id", sa.String(length=255), nullable=True),
        sa.Column("principal_id", sa.String(length=255), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("session_key", sa.String(length=255), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_requests")),
        sa.UniqueConstraint("request_id", name=op.f("uq_agent_requests_request_id")),
    )
    with op.batch_alter_table("agent_requests", schema=None) as batch_op:
        for columns in (
            ["created_at"],
            ["tenant_id", "created_at"],
            ["tenant_id", "endpoint", "created_at"],
            ["tenant_id", "conversation_id"],
            ["tenant_id", "message_id"],
            ["tenant_id", "session_key"],
        ):
            batch_op.create_index(
                batch_op.f(f"ix_agent_requests_{'_'.join(columns)}"), columns, unique=False
            )
        batch_op.create_index(
            batch_op.f("ix_agent_requests_failed_tenant_id_created_at"),
            ["tenant_id", "created_at"],
            unique=False,
            postgresql_where=_REQUEST_FAILED,
            sqlite_where=_REQUEST_FAILED,
        )

    op.create_table(
        "mcp_tool_usage",
        _autoincrement_id(),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("tool_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("args", shared.db_types.JSONType, nullable=True),
        sa.Column("result", shared.db_types.JSONType, nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_tool_usage")),
    )
    with op.batch_alter_table("mcp_tool_usage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mcp_tool_usage_tenant_id_tool_name_created_at"),
            ["tenant_id", "tool_name", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_mcp_tool_usage_tenant_id_status_created_at"),
            ["tenant_id", "status", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_mcp_tool_usage_tenant_id_created_at_covering"),
            ["tenant_id", "created_at", "tool_name", "status", "latency_ms"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_mcp_tool_usage_failed_tenant_id_created_at"),
            ["tenant_id", "created_at"],
            unique=False,
            postgresql_where=_TOOL_CALL_FAILED,
            sqlite_where=_TOOL_CALL_FAILED,
        )


def downgrade() -> None:
    op.drop_table("mcp_tool_usage")
    op.drop_table("agent_requests")
    op.drop_table("agent_metrics")
