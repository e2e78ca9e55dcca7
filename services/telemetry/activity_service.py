"""gRPC adapter for the telemetry activity area: one line per RPC, no logic."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from services.telemetry.config import TelemetrySettings
from shared.server import ServiceContext


def register(server: grpc.aio.Server, context: ServiceContext[TelemetrySettings]) -> Sequence[str]:
    return []
