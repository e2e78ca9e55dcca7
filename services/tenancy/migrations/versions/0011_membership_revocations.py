"""membership revocations: memberships removed or lowered in role, for the revocation feed

Revision ID: 0011_membership_revocations
Revises: 0010_billing_periods
Create Date: 2026-12-03 22:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0011_membership_revocations"
down_revision: str | Sequence[str] | None = "0010_billing_periods"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "membership_revocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("revoked_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_revocations")),
    )
    with op.batch_alter_table("membership_revocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_membership_revocations_revoked_at"), ["revoked_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("membership_revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_revocations_revoked_at"))
    op.drop_table("membership_revocations")
