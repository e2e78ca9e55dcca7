"""Every table of the telemetry service: importing each model module puts its tables on one
metadata, which migrations and the models-match-migrations check read."""

from __future__ import annotations

from services.telemetry import (
    models,
    models_activity,
    models_metrics,
    models_requests,
    models_status,
    models_tool_usage,
    models_usage,
)
from services.telemetry.models import Base
from services.telemetry.retention import RetentionPolicy

metadata = Base.metadata

#: Every area's retention policies, in one list for the retention loop.
RETENTION_POLICIES: list[RetentionPolicy] = [
    *models.RETENTION,
    *models_usage.RETENTION,
    *models_metrics.RETENTION,
    *models_requests.RETENTION,
    *models_tool_usage.RETENTION,
    *models_activity.RETENTION,
    *models_status.RETENTION,
]
