"""EventService: a conversation's ledger read from a cursor, and followed live.

FollowEvents replays in pages from the cursor, then waits for the next append: woken at once by
an append in this process (or a NOTIFY of another), or by the process's one poll every
``follow_poll_seconds`` finding the conversation's ledger grew (appends of other replicas).
Each event is sent once, in cursor order, so a follower that reconnects with the last cursor it
saw misses nothing and sees nothing twice. A stream opened with a stream ticket ends when the
ticket expires (its wait never runs past the expiry), with a last StreamEnd naming the cursor
to resume after: the ticket is the stream's only credential, so it cannot outlive it.

Both read what a truncation or an edit hid by the ledger's one rule (``Ledger.after`` and
``Ledger.followed``, from :mod:`conversations.hiding`): ListEvents leaves it out unless
include_hidden, FollowEvents never sends it, so a follower resuming from a cursor before a
truncation gets the visible events after it, each once, and no hidden one."""

from __future__ import annotations

from collections.abc import AsyncIterator

from quarterdeck.conversation.v1 import events_pb2 as pb
from services.conversation.access import caller_tenant
from services.conversation.context import ConversationContext
from services.conversation.conversations.store import (
    check_tenant_conversation,
    tenant_conversation,
)
from services.conversation.events.convert import event_to_proto
from services.conversation.events.ledger import Ledger
from services.conversation.tickets.store import valid_ticket
from shared.errors import InvalidArgument
from shared.ids import parse_id
from shared.pagination import page_size_from

#: Events read per query while replaying.
REPLAY_BATCH = 500


def _cursor(value: int) -> int:
    if value < 0:
        raise InvalidArgument.field("after_sequence_number", "must not be negative")
    return value


class EventHandlers:
    def __init__(self, ctx: ConversationContext) -> None:
        self._ctx = ctx

    async def list_events(self, request: pb.ListEventsRequest) -> pb.ListEventsResponse:
        tenant_id, _ = caller_tenant()
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        after = _cursor(request.after_sequence_number)
        size = page_size_from(request.page_size)
        statement, parameters = Ledger.after(
            conversation_id, after, size, include_hidden=request.include_hidden
        )
        async with self._ctx.database.reading() as session:
            await tenant_conversation(session, tenant_id, conversation_id)
            rows = list((await session.execute(statement, parameters)).all())
        return pb.ListEventsResponse(
            events=[event_to_proto(row) for row in rows],
            next_after_sequence_number=rows[-1].event_id if rows else after,
        )

    async def follow_events(
        self, request: pb.FollowEventsRequest
    ) -> AsyncIterator[pb.FollowEventsResponse]:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        after = _cursor(request.after_sequence_number)
        #: When a ticket's stream ends (the ticket's expiry, seconds of the service's clock).
        expires: float | None = None
        if request.stream_ticket:
            # The ticket is the credential: this conversation's events, nothing else, and only
            # for as long as the ticket lasts (a stream does not outlive its credential).
            async with self._ctx.database.reading() as session:
                ticket = await valid_ticket(
                    session, request.stream_ticket, conversation_id, self._ctx.clock()
                )
            expires = ticket.expires_at.timestamp()
        else:
            tenant_id, _ = caller_tenant()
            await check_tenant_conversation(self._ctx.database, tenant_id, conversation_id)
        notifier = self._ctx.ledger.notifier
        while True:
            signal = notifier.signal(conversation_id)
            if expires is not None and self._ctx.clock() >= expires:
                yield pb.FollowEventsResponse(end=_ticket_expired(after))
                return
            # One statement on its own (no transaction around it): each wake-up of each
            # follower is one round trip.
            rows = await self._ctx.database.fetch_prepared(
                *Ledger.followed(conversation_id, after, REPLAY_BATCH)
            )
            for row in rows:
                # What a truncation or an edit hid is skipped as ListEvents skips it (a
                # follower resuming from before one); the cursor moves on all the same.
                if not row.hidden:
                    yield pb.FollowEventsResponse(event=event_to_proto(row))
                after = row.event_id
            if len(rows) < REPLAY_BATCH:
                if expires is None:
                    await notifier.wait(conversation_id, after, signal)
                elif (left := expires - self._ctx.clock()) > 0:
                    await notifier.wait(conversation_id, after, signal, within=left)


def _ticket_expired(after: int) -> pb.StreamEnd:
    return pb.StreamEnd(
        reason="STREAM_TICKET_EXPIRED",
        message="the stream ticket expired: follow on with a new ticket (or an access token) "
        f"after cursor {after}",
        resume_after_sequence_number=after,
    )
