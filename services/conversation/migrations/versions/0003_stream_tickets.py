"""stream tickets (seed 003 ai_stream_tickets), stored hashed

Revision ID: df8fd42b5a22
Revises: 659c2d710f6f
Create Date: 2026-12-03 22:16:06.744721
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "df8fd42b5a22"
down_revision: str | None = "659c2d710f6f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_tickets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("session_key", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("last_used_at", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("expires_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_stream_tickets_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_tickets")),
        sa.UniqueConstraint("ticket_hash", name=op.f("uq_stream_tickets_ticket_hash")),
    )
    with op.batch_alter_table("stream_tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stream_tickets_conversation_id", ["conversation_id"], unique=False
        )
        batch_op.create_index("ix_stream_tickets_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stream_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_stream_tickets_expires_at")
        batch_op.drop_index("ix_stream_tickets_conversation_id")

    op.drop_table("stream_tickets")
