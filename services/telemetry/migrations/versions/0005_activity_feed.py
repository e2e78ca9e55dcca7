"""activity feed: activity_events, activity_event_receipts, activity_last_seen

Revision ID: 0005_activity_feed
Revises: f8e68fd1f91a
Create Date: 2026-11-23 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0005_activity_feed"
down_revision: str | None = "f8e68fd1f91a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activity_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=96), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_type", sa.String(length=16), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("object_id", sa.String(length=128), nullable=True),
        sa.Column("object_name", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("ip_hash", sa.String(length=128), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("metadata", shared.db_types.JSONType, nullable=True),
        sa.Column("summary", sa.String(length=256), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_events")),
    )
    with op.batch_alter_table("activity_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_events_tenant_created", ["tenant_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_activity_events_tenant_action", ["tenant_id", "action"], unique=False
        )
        batch_op.create_index(
            "ix_activity_events_object", ["tenant_id", "object_type", "object_id"], unique=False
        )
        batch_op.create_index("ix_activity_events_request", ["request_id"], unique=False)

    op.create_table(
        "activity_event_receipts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["activity_events.id"],
            name=op.f("fk_activity_event_receipts_event_id_activity_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_event_receipts")),
        sa.UniqueConstraint(
            "tenant_id",
            "user_id",
            "event_id",
            name=op.f("uq_activity_event_receipts_tenant_id_user_id_event_id"),
        ),
    )
    with op.batch_alter_table("activity_event_receipts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_receipts_user_status", ["tenant_id", "user_id", "status"], unique=False
        )

    op.create_table(
        "activity_last_seen",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "last_seen_created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("last_seen_event_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_last_seen")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", name=op.f("uq_activity_last_seen_tenant_id_user_id")
        ),
    )
    with op.batch_alter_table("activity_last_seen", schema=None) as batch_op:
        batch_op.create_index("ix_activity_last_seen_user", ["tenant_id", "user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("activity_last_seen", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_last_seen_user")
    op.drop_table("activity_last_seen")

    with op.batch_alter_table("activity_event_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_receipts_user_status")
    op.drop_table("activity_event_receipts")

    with op.batch_alter_table("activity_events", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_events_request")
        batch_op.drop_index("ix_activity_events_object")
        batch_op.drop_index("ix_activity_events_tenant_action")
        batch_op.drop_index("ix_activity_events_tenant_created")
    op.drop_table("activity_events")
