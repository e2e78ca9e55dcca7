"""gRPC adapter for the telemetry status area: one line per RPC, no logic."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from quarterdeck.telemetry.v1 import status_pb2 as pb
from quarterdeck.telemetry.v1 import status_pb2_grpc
from services.telemetry.context import TelemetryContext
from services.telemetry.status.handlers import StatusSubscriptionHandlers
from services.telemetry.status.senders import StatusSender, build_sender

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["StatusSubscriptionService"].full_name

#: Methods that take no access token: the token in the request is the credential (a recipient
#: clicking a link in an email is not signed in). The service's spec lists them as public.
PUBLIC_METHODS = frozenset(
    {
        f"/{SERVICE_NAME}/VerifyStatusSubscription",
        f"/{SERVICE_NAME}/UnsubscribeStatus",
    }
)


class StatusSubscriptionServicer(status_pb2_grpc.StatusSubscriptionServiceServicer):
    def __init__(self, handlers: StatusSubscriptionHandlers) -> None:
        self._handlers = handlers

    async def CreateStatusSubscription(
        self, request: pb.CreateStatusSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateStatusSubscriptionResponse:
        return await self._handlers.create(request)

    async def VerifyStatusSubscription(
        self, request: pb.VerifyStatusSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyStatusSubscriptionResponse:
        return await self._handlers.verify(request)

    async def UnsubscribeStatus(
        self, request: pb.UnsubscribeStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnsubscribeStatusResponse:
        return await self._handlers.unsubscribe(request)

    async def ResendStatusVerification(
        self, request: pb.ResendStatusVerificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResendStatusVerificationResponse:
        return await self._handlers.resend_verification(request)

    async def RevokeStatusSubscription(
        self, request: pb.RevokeStatusSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeStatusSubscriptionResponse:
        return await self._handlers.revoke(request)

    async def ListStatusSubscriptions(
        self, request: pb.ListStatusSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStatusSubscriptionsResponse:
        return await self._handlers.list(request)

    async def GetStatusSubscription(
        self, request: pb.GetStatusSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStatusSubscriptionResponse:
        return await self._handlers.get(request)

    async def NotifyStatus(
        self, request: pb.NotifyStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.NotifyStatusResponse:
        return await self._handlers.notify(request)


def register(
    server: grpc.aio.Server,
    context: TelemetryContext,
    sender: StatusSender | None = None,
) -> Sequence[str]:
    """Adds the servicer; ``sender`` replaces the one the settings choose (tests record)."""
    if sender is None:
        sender = build_sender(context.settings)
        context.resources.on_close(sender.close)
    status_pb2_grpc.add_StatusSubscriptionServiceServicer_to_server(
        StatusSubscriptionServicer(StatusSubscriptionHandlers(context, sender)), server
    )
    return [SERVICE_NAME]
