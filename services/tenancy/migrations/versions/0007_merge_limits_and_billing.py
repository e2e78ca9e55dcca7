"""Join the limits and billing branches, so the next revision has a single parent.

Revision ID: 0007_merge_limits_and_billing
Revises: 0005_limits, 0006_billing
Create Date: 2026-11-23 15:10:00
"""

from collections.abc import Sequence

revision: str = "0007_merge_limits_and_billing"
down_revision: str | Sequence[str] | None = ("0005_limits", "0006_billing")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
