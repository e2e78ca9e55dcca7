"""Schema operations every service's first migration shares (called from Alembic scripts).

The ``idempotency_keys`` table is the same in every service (``shared.idempotency``'s
``IdempotencyKeyMixin``): written here once, so no migration spells it out anew.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shared.db_types

TABLE = "idempotency_keys"


def create_idempotency_keys_table() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=255), nullable=True),
        sa.Column("response_data", shared.db_types.JSONType, nullable=True),
        sa.Column("expires_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "scope",
            "endpoint",
            "idempotency_key",
            name=op.f("uq_idempotency_keys_scope_endpoint_idempotency_key"),
        ),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_endpoint"), ["endpoint"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False
        )


def drop_idempotency_keys_table() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_endpoint"))
    op.drop_table(TABLE)
