"""execution counters: agent_execution_counters (one fixed-window count per tenant, agent and
limit, shared by every replica) and agent_execution_limits.max_tool_calls_per_day

Revision ID: 0005_execution_counters
Revises: 0004_agent_execution_limits
Create Date: 2026-12-03 22:23:09.746716
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_execution_counters"
down_revision: str | None = "0004_agent_execution_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_execution_counters",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "calls_per_minute",
                "calls_per_day",
                "db_queries_per_minute",
                name="limit_window",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_execution_counters_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "agent_id", "kind", name=op.f("pk_agent_execution_counters")
        ),
    )
    with op.batch_alter_table("agent_execution_limits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_tool_calls_per_day", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_execution_limits", schema=None) as batch_op:
        batch_op.drop_column("max_tool_calls_per_day")

    op.drop_table("agent_execution_counters")
