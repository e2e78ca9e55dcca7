"""StreamTicketService: tickets issued to whoever may read a conversation, redeemed with no
other credential."""

from __future__ import annotations

from datetime import timedelta

from quarterdeck.conversation.v1 import stream_tickets_pb2 as pb
from services.conversation.access import caller_tenant
from services.conversation.context import ConversationContext
from services.conversation.conversations.store import tenant_conversation
from services.conversation.tickets.convert import ticket_to_proto
from services.conversation.tickets.models import StreamTicketRecord
from services.conversation.tickets.store import (
    at,
    delete_expired,
    new_ticket,
    ticket_hash,
    valid_ticket,
)
from shared.ids import parse_id
from shared.validation import Violations

MAX_SESSION_KEY = 255


class StreamTicketHandlers:
    def __init__(self, ctx: ConversationContext) -> None:
        self._ctx = ctx

    async def create_stream_ticket(
        self, request: pb.CreateStreamTicketRequest
    ) -> pb.CreateStreamTicketResponse:
        tenant_id, principal = caller_tenant()
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        settings = self._ctx.settings
        violations = Violations()
        violations.text("session_key", request.session_key, MAX_SESSION_KEY)
        if not 0 <= request.ttl_seconds <= settings.stream_ticket_max_ttl_seconds:
            violations.add(
                "ttl_seconds",
                f"must be between 0 (the default, {settings.stream_ticket_ttl_seconds:g} s) "
                f"and {settings.stream_ticket_max_ttl_seconds}",
            )
        violations.raise_if_any()
        ttl = request.ttl_seconds or settings.stream_ticket_ttl_seconds
        ticket = new_ticket()
        now = at(self._ctx.clock())
        async with self._ctx.database.transaction() as session:
            await tenant_conversation(session, tenant_id, conversation_id)
            row = StreamTicketRecord(
                ticket_hash=ticket_hash(ticket),
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                session_key=request.session_key or None,
                created_by=principal.subject,
                use_count=0,
                expires_at=now + timedelta(seconds=ttl),
                created_at=now,
            )
            session.add(row)
            await session.flush()
            return pb.CreateStreamTicketResponse(ticket=ticket, stream_ticket=ticket_to_proto(row))

    async def redeem_stream_ticket(
        self, request: pb.RedeemStreamTicketRequest
    ) -> pb.RedeemStreamTicketResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        async with self._ctx.database.transaction() as session:
            row = await valid_ticket(
                session, request.ticket, conversation_id, self._ctx.clock(), for_update=True
            )
            row.use_count += 1
            row.last_used_at = at(self._ctx.clock())
            await session.flush()
            return pb.RedeemStreamTicketResponse(stream_ticket=ticket_to_proto(row))

    async def sweep(self) -> int:
        """Forget expired tickets (the background sweep)."""
        async with self._ctx.database.transaction() as session:
            return await delete_expired(session, self._ctx.clock())
