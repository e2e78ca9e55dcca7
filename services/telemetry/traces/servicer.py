"""gRPC adapters for the telemetry handlers: one line per RPC, no logic."""

from __future__ import annotations

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from quarterdeck.telemetry.v1 import telemetry_pb2_grpc
from services.telemetry.retention import RetentionHandlers
from services.telemetry.traces.spans import SpanHandlers


class TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    """The standard OTLP/gRPC trace receiver."""

    def __init__(self, handlers: SpanHandlers) -> None:
        self._handlers = handlers

    async def Export(
        self, request: otlp.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> otlp.ExportTraceServiceResponse:
        return await self._handlers.export(request)


class TelemetryServicer(telemetry_pb2_grpc.TelemetryServiceServicer):
    def __init__(self, handlers: SpanHandlers, retention: RetentionHandlers) -> None:
        self._handlers = handlers
        self._retention = retention

    async def GetTrace(
        self, request: pb.GetTraceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTraceResponse:
        return await self._handlers.get_trace(request)

    async def SearchTraces(
        self, request: pb.SearchTracesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchTracesResponse:
        return await self._handlers.search_traces(request)

    async def RunRetention(
        self, request: pb.RunRetentionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RunRetentionResponse:
        return await self._retention.run_retention(request)
