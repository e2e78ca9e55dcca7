"""gRPC adapter for metering, plans, subscriptions and invoices: one line per RPC, no logic."""

from __future__ import annotations

import grpc

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from quarterdeck.tenancy.v1 import billing_pb2_grpc
from services.tenancy.billing.handlers import BillingHandlers


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, handlers: BillingHandlers) -> None:
        self._h = handlers

    async def RecordUsage(
        self, request: pb.RecordUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordUsageResponse:
        return await self._h.record_usage(request)

    async def GetUsage(
        self, request: pb.GetUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsageResponse:
        return await self._h.get_usage(request)

    async def CreatePlan(
        self, request: pb.CreatePlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreatePlanResponse:
        return await self._h.create_plan(request)

    async def GetPlan(
        self, request: pb.GetPlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlanResponse:
        return await self._h.get_plan(request)

    async def ListPlans(
        self, request: pb.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPlansResponse:
        return await self._h.list_plans(request)

    async def UpdatePlan(
        self, request: pb.UpdatePlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdatePlanResponse:
        return await self._h.update_plan(request)

    async def SetPlanFeature(
        self, request: pb.SetPlanFeatureRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetPlanFeatureResponse:
        return await self._h.set_plan_feature(request)

    async def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSubscriptionResponse:
        return await self._h.create_subscription(request)

    async def GetSubscription(
        self, request: pb.GetSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSubscriptionResponse:
        return await self._h.get_subscription(request)

    async def ChangeSubscription(
        self, request: pb.ChangeSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChangeSubscriptionResponse:
        return await self._h.change_subscription(request)

    async def SetSubscriptionStatus(
        self, request: pb.SetSubscriptionStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetSubscriptionStatusResponse:
        return await self._h.set_subscription_status(request)

    async def RollUpUsage(
        self, request: pb.RollUpUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.RollUpUsageResponse:
        return await self._h.roll_up_usage(request)

    async def GenerateInvoice(
        self, request: pb.GenerateInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GenerateInvoiceResponse:
        return await self._h.generate_invoice(request)

    async def GetInvoice(
        self, request: pb.GetInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInvoiceResponse:
        return await self._h.get_invoice(request)

    async def SetInvoiceStatus(
        self, request: pb.SetInvoiceStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetInvoiceStatusResponse:
        return await self._h.set_invoice_status(request)

    async def AdvanceSubscriptionPeriods(
        self, request: pb.AdvanceSubscriptionPeriodsRequest, context: grpc.aio.ServicerContext
    ) -> pb.AdvanceSubscriptionPeriodsResponse:
        return await self._h.advance_subscription_periods(request)
