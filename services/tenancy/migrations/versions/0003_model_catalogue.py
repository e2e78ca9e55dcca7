"""model catalogue and prices, seeded with the starting catalogue

Revision ID: 0003_model_catalogue
Revises: 70dcdc27634c
Create Date: 2026-11-23 14:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types
from services.tenancy.pricing import seed_catalogue

revision: str = "0003_model_catalogue"
down_revision: str | None = "70dcdc27634c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RATE_COLUMNS = (
    "input_per_mtok_micros",
    "output_per_mtok_micros",
    "cache_write_per_mtok_micros",
    "cache_read_per_mtok_micros",
    "web_search_per_1k_micros",
    "neurons_per_1k_micros",
    "code_exec_per_second_micros",
)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("billing_unit", sa.String(length=16), nullable=False),
        sa.Column("context_window", sa.BigInteger(), nullable=False),
        sa.Column("context_default_tokens", sa.BigInteger(), nullable=False),
        sa.Column("supports_cache", sa.Boolean(), nullable=False),
        sa.Column("supports_tools", sa.Boolean(), nullable=False),
        sa.Column("supports_vision", sa.Boolean(), nullable=False),
        sa.Column("supports_web_search", sa.Boolean(), nullable=False),
        sa.Column("supports_fast_mode", sa.Boolean(), nullable=False),
        sa.Column("capabilities", shared.db_types.JSONType, nullable=False),
        sa.Column(
            "size_class",
            sa.Enum(
                "small",
                "medium",
                "large",
                name="model_size_class",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("metadata_json", shared.db_types.JSONType, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("provider", "model_name", name=op.f("uq_models_provider_model_name")),
    )
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_index("ix_models_is_active", ["is_active"], unique=False)

    op.create_table(
        "model_prices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("model_id", sa.Uuid(), nullable=False),
        sa.Column(
            "tier",
            sa.Enum(
                "standard",
                "batch",
                "long_context",
                "batch_long_context",
                name="price_tier",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        *(sa.Column(column, sa.BigInteger(), nullable=False) for column in RATE_COLUMNS),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("effective_from", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("effective_to", shared.db_types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to > effective_from",
            name=op.f("ck_model_prices_range_not_empty"),
        ),
        *(
            sa.CheckConstraint(
                f"{column} >= 0", name=op.f(f"ck_model_prices_{column}_not_negative")
            )
            for column in RATE_COLUMNS
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_model_prices_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
        sa.UniqueConstraint(
            "model_id",
            "tier",
            "effective_from",
            name=op.f("uq_model_prices_model_id_tier_effective_from"),
        ),
    )
    with op.batch_alter_table("model_prices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_model_prices_model_id_effective_from_id",
            ["model_id", "effective_from", "id"],
            unique=False,
        )

    seed_catalogue.seed(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("model_prices", schema=None) as batch_op:
        batch_op.drop_index("ix_model_prices_model_id_effective_from_id")
    op.drop_table("model_prices")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index("ix_models_is_active")
    op.drop_table("models")
