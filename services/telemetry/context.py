"""What telemetry's handlers are built from: the shared service context, typed with telemetry's
own long-lived objects (built once by ``prepare``)."""

from __future__ import annotations

from dataclasses import dataclass

from services.telemetry.config import TelemetrySettings
from services.telemetry.retention import RetentionEnforcer
from services.telemetry.traces.spool import SpanSpool
from shared.server import ServiceContext


@dataclass(frozen=True)
class TelemetryState:
    #: One enforcer per process: the background job and RunRetention share its lock.
    retention: RetentionEnforcer
    #: Accepted span exports not yet stored (None: the spool is off, Export stores them itself).
    spool: SpanSpool | None = None


TelemetryContext = ServiceContext[TelemetrySettings, TelemetryState]
