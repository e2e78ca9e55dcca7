"""analytics indexes: a covering (tenant, time) index on agent_telemetry, failed calls by
created_at on mcp_tool_usage

agent_telemetry's (tenant_id, timestamp_unix_nano) index is replaced by one that also carries
(INCLUDE, PostgreSQL only; SQLite keeps the plain two columns) every column SummarizeCost and
GetCacheSavings group by or sum, so they answer with an index-only scan: at a million rows the
plain index left a big tenant's 30 days to a full scan (custom plans) or a bitmap heap scan of
300,000 rows (generic plans), ~400 ms either way; ~80 ms now
(tests/benchmarks/bench_telemetry_analytics.py). mcp_tool_usage gains
a partial index on created_at over failed calls, for operators' recent errors across tenants (a
full scan without it); its predicate also says created_at IS NOT NULL, which only that query
states, so the planner never picks it for a tenant's recent errors or for the analytics. On
PostgreSQL, statistics on agent_telemetry's UTC day let the planner see ~30 days, not a day per
row, when SummarizeCost groups by day.

Revision ID: 0008_analytics_indexes
Revises: 0007_merge_telemetry_areas
Create Date: 2026-11-23 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_analytics_indexes"
down_revision: str | Sequence[str] | None = "0007_merge_telemetry_areas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NANOS_PER_DAY = 86_400 * 10**9
_TOOL_CALL_FAILED_ANY_TENANT = sa.text("status IN ('error', 'timeout') AND created_at IS NOT NULL")
_ANALYTICS_COLUMNS = [
    "model_used",
    "agent_id",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_input_tokens",
    "computed_cost_picos",
    "cache_cost_savings_picos",
]


#: Extended statistics on the UTC day SummarizeCost groups by (PostgreSQL 14+). Without them the
#: planner takes every row for its own day and sorts a month on disk instead of hashing ~30
#: groups. They match the query's expression only when the divisor is a literal and the plan is
#: a custom one (both up to the query; see the models' note).
_DAY_STATISTICS = "st_agent_telemetry_utc_day"


def upgrade() -> None:
    op.create_index(
        "ix_agent_telemetry_tenant_id_timestamp_unix_nano_covering",
        "agent_telemetry",
        ["tenant_id", "timestamp_unix_nano"],
        unique=False,
        postgresql_include=_ANALYTICS_COLUMNS,
    )
    op.drop_index("ix_agent_telemetry_tenant_id_timestamp_unix_nano", table_name="agent_telemetry")
    op.create_index(
        "ix_mcp_tool_usage_failed_created_at",
        "mcp_tool_usage",
        ["created_at"],
        unique=False,
        postgresql_where=_TOOL_CALL_FAILED_ANY_TENANT,
        sqlite_where=_TOOL_CALL_FAILED_ANY_TENANT,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE STATISTICS IF NOT EXISTS {_DAY_STATISTICS} "
            f"ON (timestamp_unix_nano / {NANOS_PER_DAY}) FROM agent_telemetry"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {_DAY_STATISTICS}")
    op.drop_index("ix_mcp_tool_usage_failed_created_at", table_name="mcp_tool_usage")
    op.create_index(
        "ix_agent_telemetry_tenant_id_timestamp_unix_nano",
        "agent_telemetry",
        ["tenant_id", "timestamp_unix_nano"],
        unique=False,
    )
    op.drop_index(
        "ix_agent_telemetry_tenant_id_timestamp_unix_nano_covering", table_name="agent_telemetry"
    )
