"""gRPC adapter for the model catalogue and prices: one line per RPC, no logic."""

from __future__ import annotations

import grpc

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from quarterdeck.tenancy.v1 import pricing_pb2_grpc
from services.tenancy.pricing.handlers import PricingHandlers


class ModelCatalogServicer(pricing_pb2_grpc.ModelCatalogServiceServicer):
    def __init__(self, handlers: PricingHandlers) -> None:
        self._handlers = handlers

    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        return await self._handlers.list_models(request)

    async def GetModel(
        self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetModelResponse:
        return await self._handlers.get_model(request)

    async def CreateModel(
        self, request: pb.CreateModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateModelResponse:
        return await self._handlers.create_model(request)

    async def UpdateModel(
        self, request: pb.UpdateModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateModelResponse:
        return await self._handlers.update_model(request)

    async def SetModelPrice(
        self, request: pb.SetModelPriceRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetModelPriceResponse:
        return await self._handlers.set_model_price(request)

    async def ListModelPrices(
        self, request: pb.ListModelPricesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelPricesResponse:
        return await self._handlers.list_model_prices(request)

    async def PriceUsage(
        self, request: pb.PriceUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.PriceUsageResponse:
        return await self._handlers.price_usage(request)
