"""gRPC adapter for the telemetry usage area: one line per RPC, no logic."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from quarterdeck.telemetry.v1 import usage_pb2_grpc
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from services.telemetry.context import TelemetryContext
from services.telemetry.usage.handlers import UsageHandlers
from shared.grpc_client import open_channel
from shared.model_prices import PriceCache, TenancyPriceSource

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["UsageService"].full_name


class UsageServicer(usage_pb2_grpc.UsageServiceServicer):
    def __init__(self, handlers: UsageHandlers) -> None:
        self._handlers = handlers

    async def RecordUsage(
        self, request: pb.RecordUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordUsageResponse:
        return await self._handlers.record_usage(request)

    async def RecordUsageBatch(
        self, request: pb.RecordUsageBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordUsageBatchResponse:
        return await self._handlers.record_usage_batch(request)

    async def StreamUsage(
        self,
        request_iterator: AsyncIterator[pb.StreamUsageRequest],
        context: grpc.aio.ServicerContext,
    ) -> pb.StreamUsageResponse:
        return await self._handlers.stream_usage(request_iterator)

    async def ListUsageRecords(
        self, request: pb.ListUsageRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListUsageRecordsResponse:
        return await self._handlers.list_usage_records(request)

    async def SummarizeCost(
        self, request: pb.SummarizeCostRequest, context: grpc.aio.ServicerContext
    ) -> pb.SummarizeCostResponse:
        return await self._handlers.summarize_cost(request)

    async def GetCacheSavings(
        self, request: pb.GetCacheSavingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCacheSavingsResponse:
        return await self._handlers.get_cache_savings(request)


def _price_cache(context: TelemetryContext) -> PriceCache | None:
    """Tenancy's prices, when tenancy and an internal token to call it are configured; the
    cache's channel is closed with the service."""
    settings = context.settings
    if settings.tenancy_target is None or context.identity is None:
        return None
    channel = open_channel(settings.tenancy_target)
    context.resources.on_close(channel.close)
    source = TenancyPriceSource(ModelCatalogServiceStub(channel), context.identity)
    return PriceCache(source, settings.price_cache_seconds)


def register(server: grpc.aio.Server, context: TelemetryContext) -> Sequence[str]:
    handlers = UsageHandlers(
        context.database, context.page_tokens, context.settings, _price_cache(context)
    )
    usage_pb2_grpc.add_UsageServiceServicer_to_server(UsageServicer(handlers), server)
    return [SERVICE_NAME]
