"""status subscriptions (seed 001): encrypted, hashed and masked targets; hashed tokens

Revision ID: 0006_status_subscriptions
Revises: f8e68fd1f91a
Create Date: 2026-11-23 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0006_status_subscriptions"
down_revision: str | None = "f8e68fd1f91a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXED = (
    "target_hash",
    "tenant_id",
    "verification_token_hash",
    "challenge_token_hash",
    "unsubscribe_token_hash",
)


def upgrade() -> None:
    op.create_table(
        "status_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "email",
                "webhook",
                name="subscription_channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("target_hash", sa.String(length=128), nullable=False),
        sa.Column("target_masked", sa.String(length=512), nullable=False),
        sa.Column("target_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column(
            "severity_filter",
            sa.Enum(
                "info",
                "minor",
                "major",
                "critical",
                name="subscription_severity",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending_verification",
                "active",
                "revoked",
                name="subscription_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("metadata_json", shared.db_types.JSONType, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("verification_token_hash", sa.String(length=128), nullable=True),
        sa.Column(
            "verification_expires_at", shared.db_types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("challenge_token_hash", sa.String(length=128), nullable=True),
        sa.Column("webhook_secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("unsubscribe_token_hash", sa.String(length=128), nullable=True),
        sa.Column("unsubscribe_token_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", shared.db_types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_challenge_sent_at", shared.db_types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_subscriptions")),
    )
    with op.batch_alter_table("status_subscriptions", schema=None) as batch_op:
        for column in INDEXED:
            batch_op.create_index(
                batch_op.f(f"ix_status_subscriptions_{column}"), [column], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("status_subscriptions", schema=None) as batch_op:
        for column in reversed(INDEXED):
            batch_op.drop_index(batch_op.f(f"ix_status_subscriptions_{column}"))

    op.drop_table("status_subscriptions")
