"""The telemetry service as the shared bootstrap runs it: an OTLP receiver plus trace reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from quarterdeck.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc
from services.telemetry.config import TelemetrySettings
from services.telemetry.models import Base, IdempotencyKey
from services.telemetry.servicer import TelemetryServicer, TraceServicer
from services.telemetry.spans import SpanHandlers
from shared.server import ServiceContext, ServiceSpec

TRACE_SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
TELEMETRY_SERVICE = telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"].full_name


def register(server: grpc.aio.Server, context: ServiceContext[TelemetrySettings]) -> Sequence[str]:
    handlers = SpanHandlers(context)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceServicer(handlers), server)
    telemetry_pb2_grpc.add_TelemetryServiceServicer_to_server(TelemetryServicer(handlers), server)
    return [TRACE_SERVICE, TELEMETRY_SERVICE]


SPEC = ServiceSpec(
    name="telemetry",
    settings_type=TelemetrySettings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
    # Tracing the receiver's own Export would record a span per export, to be exported in
    # turn: a loop that never ends.
    untraced_methods=frozenset({f"/{TRACE_SERVICE}/Export"}),
    # Every process's exporter sends spans without a token; the OTLP port belongs on the
    # internal network only.
    public_methods=frozenset({f"/{TRACE_SERVICE}/Export"}),
)
