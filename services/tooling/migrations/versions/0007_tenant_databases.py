"""tenant databases: the databases tenants register for DB_QUERY tools, DSNs sealed

Revision ID: 0007_tenant_databases
Revises: 0006_tenant_onboardings
Create Date: 2026-12-03 23:14:58.385722
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0007_tenant_databases"
down_revision: str | None = "0006_tenant_onboardings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_databases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("dialect", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("sealed_dsn", sa.LargeBinary(), nullable=False),
        sa.Column("secret_key_version", sa.String(length=16), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_databases")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_tenant_databases_tenant_id_name")),
    )
    with op.batch_alter_table("tenant_databases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tenant_databases_secret_key_version"),
            ["secret_key_version"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("tenant_databases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_databases_secret_key_version"))

    op.drop_table("tenant_databases")
