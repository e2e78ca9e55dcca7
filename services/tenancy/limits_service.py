"""gRPC adapter for tenants' rate limits: one line per RPC, no logic (see limits.py)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from quarterdeck.tenancy.v1 import limits_pb2 as pb
from quarterdeck.tenancy.v1 import limits_pb2_grpc
from services.tenancy.context import TenancyContext
from services.tenancy.limits import LimitHandlers


class LimitsServicer(limits_pb2_grpc.LimitsServiceServicer):
    def __init__(self, handlers: LimitHandlers) -> None:
        self._handlers = handlers

    async def Reserve(
        self, request: pb.ReserveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReserveResponse:
        return await self._handlers.reserve(request)

    async def Settle(
        self, request: pb.SettleRequest, context: grpc.aio.ServicerContext
    ) -> pb.SettleResponse:
        return await self._handlers.settle(request)

    async def Release(
        self, request: pb.ReleaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseResponse:
        return await self._handlers.release(request)


def register(server: grpc.aio.Server, context: TenancyContext) -> Sequence[str]:
    handlers = LimitHandlers(context)
    # The Redis backend's pool is released when the service stops.
    context.resources.on_close(handlers.close)
    limits_pb2_grpc.add_LimitsServiceServicer_to_server(LimitsServicer(handlers), server)
    return [pb.DESCRIPTOR.services_by_name["LimitsService"].full_name]
