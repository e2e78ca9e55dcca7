"""tenant onboardings: which onboarding granted a tenant its agents and tools (GrantOnboarding,
idempotent by onboarding id; RevokeOnboarding takes back only its own grants)

Revision ID: 0006_tenant_onboardings
Revises: 0005_execution_counters
Create Date: 2026-12-03 22:40:56.224770
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types

revision: str = "0006_tenant_onboardings"
down_revision: str | None = "0005_execution_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_onboardings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("onboarding_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_onboardings")),
    )


def downgrade() -> None:
    op.drop_table("tenant_onboardings")
