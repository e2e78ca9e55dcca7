"""Join the usage, span search, operations, activity and status subscription branches, so the
next revision has a single parent.

Revision ID: 0007_merge_telemetry_areas
Revises: 0002_agent_telemetry, 0003_span_search, 0004_metrics_requests_tool_usage,
    0005_activity_feed, 0006_status_subscriptions
Create Date: 2026-11-23 16:30:00
"""

from collections.abc import Sequence

revision: str = "0007_merge_telemetry_areas"
down_revision: str | Sequence[str] | None = (
    "0002_agent_telemetry",
    "0003_span_search",
    "0004_metrics_requests_tool_usage",
    "0005_activity_feed",
    "0006_status_subscriptions",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
