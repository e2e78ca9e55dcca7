"""indexes for the revocation feed's reads

Revision ID: e650b9ab733c
Revises: e618ad5d602b
Create Date: 2026-12-03 19:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e650b9ab733c"
down_revision: str | None = "e618ad5d602b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_status_updated", ["status", "updated_at"], unique=False)
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_user_sessions_revoked_at",
            ["revoked_at"],
            unique=False,
            postgresql_where=sa.text("revoked_at IS NOT NULL"),
            sqlite_where=sa.text("revoked_at IS NOT NULL"),
        )
    with op.batch_alter_table("service_account_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_service_account_tokens_revoked_at",
            ["revoked_at"],
            unique=False,
            postgresql_where=sa.text("revoked_at IS NOT NULL"),
            sqlite_where=sa.text("revoked_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("service_account_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_service_account_tokens_revoked_at")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_user_sessions_revoked_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_status_updated")
