"""gRPC adapter for the Stripe inbox: one line per RPC, no logic."""

from __future__ import annotations

import grpc

from quarterdeck.tenancy.v1 import stripe_pb2 as pb
from quarterdeck.tenancy.v1 import stripe_pb2_grpc
from services.tenancy.stripe.handlers import StripeInbox


class StripeInboxServicer(stripe_pb2_grpc.StripeInboxServiceServicer):
    def __init__(self, inbox: StripeInbox) -> None:
        self._inbox = inbox

    async def IngestStripeEvent(
        self, request: pb.IngestStripeEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.IngestStripeEventResponse:
        return await self._inbox.ingest(request)

    async def DispatchStripeEvents(
        self, request: pb.DispatchStripeEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.DispatchStripeEventsResponse:
        return await self._inbox.dispatch_events(request)
