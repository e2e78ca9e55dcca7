"""idempotency keys

Revision ID: f78c3db4cbd1
Revises:
Create Date: 2026-11-23 13:31:57.305823
"""

from collections.abc import Sequence

from shared.migration_ops import create_idempotency_keys_table, drop_idempotency_keys_table

revision: str = "f78c3db4cbd1"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_keys_table()


def downgrade() -> None:
    drop_idempotency_keys_table()
