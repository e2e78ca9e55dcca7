"""agent execution limits per role and cost tier (seed 000 agent_ai_executable_limits)

Revision ID: 0004_agent_execution_limits
Revises: 0003_tool_secret_headers
Create Date: 2026-12-03 19:07:58.629796
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0004_agent_execution_limits"
down_revision: str | None = "0003_tool_secret_headers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_execution_limits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_role", sa.String(length=200), nullable=False),
        sa.Column(
            "cost_tier",
            sa.Enum(
                "free",
                "pro",
                "enterprise",
                name="cost_tier",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("max_ai_calls_per_day", sa.Integer(), nullable=False),
        sa.Column("max_tokens_per_request", sa.Integer(), nullable=False),
        sa.Column("max_db_queries_per_minute", sa.Integer(), nullable=False),
        sa.Column("max_storage_operations_per_day", sa.Integer(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("allowed_operations", shared.db_types.JSONType, nullable=False),
        sa.Column("blocked_operations", shared.db_types.JSONType, nullable=False),
        sa.Column("allowed_tools", shared.db_types.JSONType, nullable=False),
        sa.Column("blocked_tools", shared.db_types.JSONType, nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_execution_limits")),
        sa.UniqueConstraint(
            "agent_role", "cost_tier", name=op.f("uq_agent_execution_limits_agent_role_cost_tier")
        ),
    )


def downgrade() -> None:
    op.drop_table("agent_execution_limits")
