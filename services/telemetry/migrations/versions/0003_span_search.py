"""span search: an index on spans' start time alone

Searches that name neither a tenant nor a service, and retention (which deletes by start time),
read spans newest or oldest first through it; the tenant and service searches already have
(tenant_id, start_time_unix_nano) and (service_name, start_time_unix_nano).

Revision ID: 0003_span_search
Revises: f8e68fd1f91a
Create Date: 2026-11-23 16:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_span_search"
down_revision: str | None = "f8e68fd1f91a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spans_start_time_unix_nano"), ["start_time_unix_nano"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spans_start_time_unix_nano"))
