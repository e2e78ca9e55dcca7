"""Tables of the telemetry service's metrics area."""

from __future__ import annotations

from services.telemetry.retention import RetentionPolicy

#: How long this area's tables keep rows; read by the retention loop.
RETENTION: list[RetentionPolicy] = []
