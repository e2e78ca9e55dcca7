"""Every table of the telemetry service: importing each model module puts its tables on one
metadata, which migrations and the models-match-migrations check read."""

from __future__ import annotations

from services.telemetry.activity import models as activity
from services.telemetry.metrics import models as metrics
from services.telemetry.models import Base
from services.telemetry.requests import models as requests
from services.telemetry.retention import RetentionPolicy
from services.telemetry.status import models as status
from services.telemetry.tool_usage import models as tool_usage
from services.telemetry.traces import models as traces
from services.telemetry.usage import models as usage

metadata = Base.metadata

#: Every area's retention policies, in one list for the retention loop.
RETENTION_POLICIES: list[RetentionPolicy] = [
    *traces.RETENTION,
    *usage.RETENTION,
    *metrics.RETENTION,
    *requests.RETENTION,
    *tool_usage.RETENTION,
    *activity.RETENTION,
    *status.RETENTION,
]
