"""gRPC adapter for StreamTicketService: one line per RPC, each handed to its handler."""

from __future__ import annotations

import grpc

from quarterdeck.conversation.v1 import stream_tickets_pb2 as pb
from quarterdeck.conversation.v1 import stream_tickets_pb2_grpc
from services.conversation.tickets.handlers import StreamTicketHandlers

#: The ticket is the credential: RedeemStreamTicket reads no token.
PUBLIC_METHODS = frozenset({"/quarterdeck.conversation.v1.StreamTicketService/RedeemStreamTicket"})


class StreamTicketServiceServicer(stream_tickets_pb2_grpc.StreamTicketServiceServicer):
    def __init__(self, handlers: StreamTicketHandlers) -> None:
        self._handlers = handlers

    async def CreateStreamTicket(
        self, request: pb.CreateStreamTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateStreamTicketResponse:
        return await self._handlers.create_stream_ticket(request)

    async def RedeemStreamTicket(
        self, request: pb.RedeemStreamTicketRequest, context: grpc.aio.ServicerContext
    ) -> pb.RedeemStreamTicketResponse:
        return await self._handlers.redeem_stream_ticket(request)
