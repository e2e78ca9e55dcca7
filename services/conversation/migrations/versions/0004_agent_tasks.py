"""agent_tasks (seed 002), the record of each run

Revision ID: e4da5df5bc91
Revises: df8fd42b5a22
Create Date: 2026-12-03 22:43:46.459604
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "e4da5df5bc91"
down_revision: str | None = "df8fd42b5a22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=True),
        sa.Column("task_type", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "completed",
                "failed",
                "cancelled",
                name="agent_task_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("input_data", shared.db_types.JSONType, nullable=True),
        sa.Column("output_data", shared.db_types.JSONType, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("started_at", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("completed_at", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("tokens_used", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=10, scale=6), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("parent_task_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("metadata", shared.db_types.JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_agent_tasks_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_task_id"],
            ["agent_tasks.id"],
            name=op.f("fk_agent_tasks_parent_task_id_agent_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_tasks")),
        sa.UniqueConstraint("run_id", name=op.f("uq_agent_tasks_run_id")),
    )
    with op.batch_alter_table("agent_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_tasks_agent_status_created",
            ["agent_id", "status", "created_at"],
            unique=False,
        )
        batch_op.create_index("ix_agent_tasks_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_agent_tasks_status", ["status"], unique=False)
        batch_op.create_index(
            "ix_agent_tasks_tenant_created", ["tenant_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_agent_tasks_workflow_id", ["workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agent_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_tasks_workflow_id")
        batch_op.drop_index("ix_agent_tasks_tenant_created")
        batch_op.drop_index("ix_agent_tasks_status")
        batch_op.drop_index("ix_agent_tasks_created_at")
        batch_op.drop_index("ix_agent_tasks_agent_status_created")

    op.drop_table("agent_tasks")
