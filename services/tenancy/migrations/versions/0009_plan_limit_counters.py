"""plan limits: limit_counters count plan features per period; reservations list them

Revision ID: 0009_plan_limit_counters
Revises: 0008_stripe_inbox
Create Date: 2026-11-23 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0009_plan_limit_counters"
down_revision: str | Sequence[str] | None = "0008_stripe_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("limit_counters", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_limit_counters_kind_known"), type_="check")
        batch_op.alter_column(
            "kind",
            existing_type=sa.String(length=8),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_limit_counters_kind_known"),
            "kind IN ('rpm', 'tpm') OR kind LIKE 'plan:%'",
        )
    with op.batch_alter_table("limit_reservations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_counters", shared.db_types.JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("limit_reservations", schema=None) as batch_op:
        batch_op.drop_column("plan_counters")
    op.execute("DELETE FROM limit_counters WHERE kind NOT IN ('rpm', 'tpm')")
    with op.batch_alter_table("limit_counters", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_limit_counters_kind_known"), type_="check")
        batch_op.alter_column(
            "kind",
            existing_type=sa.String(length=64),
            type_=sa.String(length=8),
            existing_nullable=False,
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_limit_counters_kind_known"), "kind IN ('rpm', 'tpm')"
        )
