"""tool usage request ids: mcp_tool_usage gains request_id, unique per tenant where set, so a
retried RecordToolUsage (tooling appends each call under its tool call id) stores nothing twice

Revision ID: 0010_tool_usage_request_id
Revises: 0009_partition_spans
Create Date: 2026-12-03 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_tool_usage_request_id"
down_revision: str | Sequence[str] | None = "0009_partition_spans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mcp_tool_usage") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))
    op.create_index(
        "ux_mcp_tool_usage_tenant_id_request_id",
        "mcp_tool_usage",
        ["tenant_id", "request_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_mcp_tool_usage_tenant_id_request_id", table_name="mcp_tool_usage")
    with op.batch_alter_table("mcp_tool_usage") as batch:
        batch.drop_column("request_id")
