"""gRPC adapter for the telemetry tool_usage area: one line per RPC, no logic."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from quarterdeck.telemetry.v1 import tool_usage_pb2 as pb
from quarterdeck.telemetry.v1 import tool_usage_pb2_grpc
from services.telemetry.context import TelemetryContext
from services.telemetry.tool_usage.handlers import ToolUsageHandlers

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ToolUsageService"].full_name


class ToolUsageServiceServicer(tool_usage_pb2_grpc.ToolUsageServiceServicer):
    def __init__(self, handlers: ToolUsageHandlers) -> None:
        self._handlers = handlers

    async def RecordToolUsage(
        self, request: pb.RecordToolUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordToolUsageResponse:
        return await self._handlers.record_tool_usage(request)

    async def GetToolUsageAnalytics(
        self, request: pb.GetToolUsageAnalyticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetToolUsageAnalyticsResponse:
        return await self._handlers.get_tool_usage_analytics(request)

    async def ListRecentToolErrors(
        self, request: pb.ListRecentToolErrorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRecentToolErrorsResponse:
        return await self._handlers.list_recent_tool_errors(request)


def register(server: grpc.aio.Server, context: TelemetryContext) -> Sequence[str]:
    tool_usage_pb2_grpc.add_ToolUsageServiceServicer_to_server(
        ToolUsageServiceServicer(ToolUsageHandlers(context)), server
    )
    return [SERVICE_NAME]
