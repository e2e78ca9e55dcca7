"""agent_tasks subtasks: a run's compaction is a task under the run's own (parent_task_id), so
run_id is unique among a run's own tasks only (a partial unique index where parent_task_id IS
NULL), and task_key, unique, is a subtask's idempotency key (the run's step it records)

Revision ID: c160de29ad34
Revises: aea159b42cde
Create Date: 2026-12-04 08:56:18.957869
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c160de29ad34"
down_revision: str | None = "aea159b42cde"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_key", sa.String(length=160), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_agent_tasks_run_id"), type_="unique")
        batch_op.create_index("ix_agent_tasks_run_id", ["run_id"], unique=False)
        batch_op.create_index(
            "uq_agent_tasks_run_id_root",
            ["run_id"],
            unique=True,
            sqlite_where=sa.text("parent_task_id IS NULL"),
            postgresql_where=sa.text("parent_task_id IS NULL"),
        )
        batch_op.create_unique_constraint(batch_op.f("uq_agent_tasks_task_key"), ["task_key"])


def downgrade() -> None:
    # One task per run again: the subtasks go (their usage stays in agent_run_usage and in
    # their run's task's totals).
    op.execute("DELETE FROM agent_tasks WHERE parent_task_id IS NOT NULL")
    with op.batch_alter_table("agent_tasks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_agent_tasks_task_key"), type_="unique")
        batch_op.drop_index(
            "uq_agent_tasks_run_id_root",
            sqlite_where=sa.text("parent_task_id IS NULL"),
            postgresql_where=sa.text("parent_task_id IS NULL"),
        )
        batch_op.drop_index("ix_agent_tasks_run_id")
        batch_op.create_unique_constraint(batch_op.f("uq_agent_tasks_run_id"), ["run_id"])
        batch_op.drop_column("task_key")
