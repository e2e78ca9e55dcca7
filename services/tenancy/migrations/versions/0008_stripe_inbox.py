"""stripe inbox: stripe_events, stripe_event_dispatch and stripe_object_state

Revision ID: 0008_stripe_inbox
Revises: 0007_merge_limits_and_billing
Create Date: 2026-11-23 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0008_stripe_inbox"
down_revision: str | Sequence[str] | None = "0007_merge_limits_and_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dt() -> shared.db_types.UTCDateTime:
    return shared.db_types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stripe_event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("payload", shared.db_types.JSONType, nullable=False),
        sa.Column("tenant_hint", sa.String(length=64), nullable=True),
        sa.Column("stripe_created_at", _dt(), nullable=True),
        sa.Column("received_at", _dt(), nullable=False),
        sa.Column("processed_at", _dt(), nullable=True),
        sa.Column("processing_outcome", sa.String(length=32), nullable=False),
        sa.Column("processing_error", sa.Text(), nullable=True),
        sa.Column("processing_attempts", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "processing_outcome IN ('received', 'applied', 'ignored', 'stale', 'failed', 'dead')",
            name=op.f("ck_stripe_events_outcome_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
        sa.UniqueConstraint("stripe_event_id", name=op.f("uq_stripe_events_stripe_event_id")),
    )
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.create_index("ix_stripe_events_type", ["event_type"], unique=False)
        batch_op.create_index("ix_stripe_events_status", ["processing_outcome"], unique=False)

    op.create_table(
        "stripe_event_dispatch",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stripe_event_id", sa.Uuid(), nullable=False),
        sa.Column("handler", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", _dt(), nullable=True),
        sa.Column("next_retry_at", _dt(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_expires_at", _dt(), nullable=True),
        sa.Column("lease_token", sa.Uuid(), nullable=True),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("updated_at", _dt(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'done', 'failed', 'dead')",
            name=op.f("ck_stripe_event_dispatch_status_known"),
        ),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("ck_stripe_event_dispatch_attempts_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["stripe_event_id"],
            ["stripe_events.id"],
            name=op.f("fk_stripe_event_dispatch_stripe_event_id_stripe_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event_dispatch")),
        sa.UniqueConstraint(
            "stripe_event_id",
            "handler",
            name=op.f("uq_stripe_event_dispatch_stripe_event_id_handler"),
        ),
    )
    with op.batch_alter_table("stripe_event_dispatch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stripe_event_dispatch_handler_status",
            ["handler", "status", "next_retry_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_stripe_event_dispatch_status_lease", ["status", "lease_expires_at"], unique=False
        )

    op.create_table(
        "stripe_object_state",
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("stripe_object_id", sa.String(length=128), nullable=False),
        sa.Column("local_id", sa.Uuid(), nullable=True),
        sa.Column("last_event_created_at", _dt(), nullable=True),
        sa.Column("last_event_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", _dt(), nullable=False),
        sa.PrimaryKeyConstraint(
            "object_type", "stripe_object_id", name=op.f("pk_stripe_object_state")
        ),
    )


def downgrade() -> None:
    op.drop_table("stripe_object_state")
    with op.batch_alter_table("stripe_event_dispatch", schema=None) as batch_op:
        batch_op.drop_index("ix_stripe_event_dispatch_status_lease")
        batch_op.drop_index("ix_stripe_event_dispatch_handler_status")
    op.drop_table("stripe_event_dispatch")
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_index("ix_stripe_events_status")
        batch_op.drop_index("ix_stripe_events_type")
    op.drop_table("stripe_events")
