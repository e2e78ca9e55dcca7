"""gRPC adapter for the telemetry activity area: one line per RPC, no logic."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from quarterdeck.telemetry.v1 import activity_pb2 as pb
from quarterdeck.telemetry.v1 import activity_pb2_grpc
from services.telemetry.activity.handlers import ActivityHandlers
from services.telemetry.context import TelemetryContext

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ActivityService"].full_name


class ActivityServicer(activity_pb2_grpc.ActivityServiceServicer):
    def __init__(self, handlers: ActivityHandlers) -> None:
        self._handlers = handlers

    async def AppendActivity(
        self, request: pb.AppendActivityRequest, context: grpc.aio.ServicerContext
    ) -> pb.AppendActivityResponse:
        return await self._handlers.append_activity(request)

    async def ListActivity(
        self, request: pb.ListActivityRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListActivityResponse:
        return await self._handlers.list_activity(request)

    async def MarkActivityRead(
        self, request: pb.MarkActivityReadRequest, context: grpc.aio.ServicerContext
    ) -> pb.MarkActivityReadResponse:
        return await self._handlers.mark_activity_read(request)

    async def MarkAllActivitySeen(
        self, request: pb.MarkAllActivitySeenRequest, context: grpc.aio.ServicerContext
    ) -> pb.MarkAllActivitySeenResponse:
        return await self._handlers.mark_all_activity_seen(request)

    async def GetUnreadCount(
        self, request: pb.GetUnreadCountRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUnreadCountResponse:
        return await self._handlers.get_unread_count(request)


def register(server: grpc.aio.Server, context: TelemetryContext) -> Sequence[str]:
    activity_pb2_grpc.add_ActivityServiceServicer_to_server(
        ActivityServicer(ActivityHandlers(context)), server
    )
    return [SERVICE_NAME]
