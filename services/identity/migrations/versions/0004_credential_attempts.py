"""credential attempts, counted per window for throttling

Revision ID: e618ad5d602b
Revises: d832234220bc
Create Date: 2026-12-03 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e618ad5d602b"
down_revision: str | None = "d832234220bc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credential_attempts",
        sa.Column("bucket", sa.String(length=160), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_credential_attempts")),
    )


def downgrade() -> None:
    op.drop_table("credential_attempts")
