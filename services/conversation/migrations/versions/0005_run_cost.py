"""a run's cost as tenancy priced it: agent_run_usage.cost_picos, agent_tasks.cost_usd becomes
cost_picos (exact pico-USD, like conversations and messages; DECIMAL(10, 6) rounded to micro-USD)

Revision ID: aea159b42cde
Revises: e4da5df5bc91
Create Date: 2026-12-04 03:01:32.076523
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "aea159b42cde"
down_revision: str | None = "e4da5df5bc91"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_run_usage", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cost_picos", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("agent_tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cost_picos", sa.BigInteger(), nullable=False, server_default="0")
        )
    # Nothing stored is lost: a cost the old column held carries over (exact: at most 6 digits).
    op.execute(
        "UPDATE agent_tasks SET cost_picos = CAST(ROUND(cost_usd * 1000000) AS BIGINT) * 1000000"
    )
    with op.batch_alter_table("agent_run_usage", schema=None) as batch_op:
        batch_op.alter_column("cost_picos", server_default=None)
    with op.batch_alter_table("agent_tasks", schema=None) as batch_op:
        batch_op.alter_column("cost_picos", server_default=None)
        batch_op.drop_column("cost_usd")


def downgrade() -> None:
    with op.batch_alter_table("agent_tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cost_usd", sa.NUMERIC(precision=10, scale=6), nullable=False, server_default="0"
            )
        )
    op.execute("UPDATE agent_tasks SET cost_usd = cost_picos / 1000000000000.0")
    with op.batch_alter_table("agent_tasks", schema=None) as batch_op:
        batch_op.drop_column("cost_picos")
    with op.batch_alter_table("agent_run_usage", schema=None) as batch_op:
        batch_op.drop_column("cost_picos")
