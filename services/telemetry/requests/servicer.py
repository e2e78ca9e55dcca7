"""gRPC adapter for the telemetry requests area: one line per RPC, no logic."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from quarterdeck.telemetry.v1 import requests_pb2 as pb
from quarterdeck.telemetry.v1 import requests_pb2_grpc
from services.telemetry.context import TelemetryContext
from services.telemetry.requests.handlers import RequestLogHandlers

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RequestLogService"].full_name


class RequestLogServiceServicer(requests_pb2_grpc.RequestLogServiceServicer):
    def __init__(self, handlers: RequestLogHandlers) -> None:
        self._handlers = handlers

    async def RecordRequests(
        self, request: pb.RecordRequestsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordRequestsResponse:
        return await self._handlers.record_requests(request)

    async def ListRequests(
        self, request: pb.ListRequestsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRequestsResponse:
        return await self._handlers.list_requests(request)

    async def ListRecentErrors(
        self, request: pb.ListRecentErrorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRecentErrorsResponse:
        return await self._handlers.list_recent_errors(request)


def register(server: grpc.aio.Server, context: TelemetryContext) -> Sequence[str]:
    requests_pb2_grpc.add_RequestLogServiceServicer_to_server(
        RequestLogServiceServicer(RequestLogHandlers(context)), server
    )
    return [SERVICE_NAME]
