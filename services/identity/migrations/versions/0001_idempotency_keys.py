"""idempotency keys

Revision ID: 8cc49e816ead
Revises:
Create Date: 2026-11-23 13:31:55.281244
"""

from collections.abc import Sequence

from shared.migration_ops import create_idempotency_keys_table, drop_idempotency_keys_table

revision: str = "8cc49e816ead"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_keys_table()


def downgrade() -> None:
    drop_idempotency_keys_table()
