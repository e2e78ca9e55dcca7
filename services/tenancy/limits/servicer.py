"""gRPC adapter for tenants' rate limits: one line per RPC, no logic (see handlers.py)."""

from __future__ import annotations

import grpc

from quarterdeck.tenancy.v1 import limits_pb2 as pb
from quarterdeck.tenancy.v1 import limits_pb2_grpc
from services.tenancy.limits.handlers import LimitHandlers


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
