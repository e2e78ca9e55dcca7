"""What telemetry's handlers are built from: the shared service context, typed with telemetry's
own long-lived objects (built once by ``prepare``)."""

from __future__ import annotations

from dataclasses import dataclass

from services.telemetry.config import TelemetrySettings
from services.telemetry.retention import RetentionEnforcer
from shared.server import ServiceContext


@dataclass(frozen=True)
class TelemetryState:
    #: One enforcer per process: the background job and RunRetention share its lock.
    retention: RetentionEnforcer


TelemetryContext = ServiceContext[TelemetrySettings, TelemetryState]
