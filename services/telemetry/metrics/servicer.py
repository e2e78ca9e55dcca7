"""gRPC adapter for the telemetry metrics area: one line per RPC, no logic."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from quarterdeck.telemetry.v1 import metrics_pb2 as pb
from quarterdeck.telemetry.v1 import metrics_pb2_grpc
from services.telemetry.context import TelemetryContext
from services.telemetry.metrics.handlers import MetricsHandlers

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AgentMetricsService"].full_name


class AgentMetricsServiceServicer(metrics_pb2_grpc.AgentMetricsServiceServicer):
    def __init__(self, handlers: MetricsHandlers) -> None:
        self._handlers = handlers

    async def RecordMetrics(
        self, request: pb.RecordMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordMetricsResponse:
        return await self._handlers.record_metrics(request)

    async def ListMetrics(
        self, request: pb.ListMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMetricsResponse:
        return await self._handlers.list_metrics(request)

    async def GetAgentStatistics(
        self, request: pb.GetAgentStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAgentStatisticsResponse:
        return await self._handlers.get_agent_statistics(request)


def register(server: grpc.aio.Server, context: TelemetryContext) -> Sequence[str]:
    metrics_pb2_grpc.add_AgentMetricsServiceServicer_to_server(
        AgentMetricsServiceServicer(MetricsHandlers(context)), server
    )
    return [SERVICE_NAME]
