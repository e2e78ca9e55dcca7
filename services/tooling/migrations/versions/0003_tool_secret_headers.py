"""secret headers of tool configs: sealed values, the key that sealed them, their names

Revision ID: 0003_tool_secret_headers
Revises: 0002_catalogue_calls_memory
Create Date: 2026-12-03 19:01:32.744121
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0003_tool_secret_headers"
down_revision: str | None = "0002_catalogue_calls_memory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tool_configs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_secret_headers", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("secret_key_version", sa.String(length=16), nullable=True))
        batch_op.add_column(
            # Existing tools have none.
            sa.Column(
                "secret_header_names",
                shared.db_types.JSONType,
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )
        batch_op.create_index(
            batch_op.f("ix_tool_configs_secret_key_version"), ["secret_key_version"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tool_configs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_configs_secret_key_version"))
        batch_op.drop_column("secret_header_names")
        batch_op.drop_column("secret_key_version")
        batch_op.drop_column("sealed_secret_headers")
