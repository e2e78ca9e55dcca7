"""Stream tickets over a real in-process conversation service, on SQLite and on PostgreSQL:
issued to whoever may read a conversation, stored only as a hash, redeemed with no other
credential, good for following that one conversation until they expire, then swept."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy import select

from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import stream_tickets_pb2 as pb
from quarterdeck.conversation.v1.stream_tickets_pb2_grpc import StreamTicketServiceStub
from services.conversation.tickets.handlers import StreamTicketHandlers
from services.conversation.tickets.models import StreamTicketRecord
from shared.grpc_client import open_channel
from tests.support.clock import ManualClock
from tests.support.conversation import (
    ConversationStack,
    conversation_service,
    new_conversation,
    say,
)
from tests.support.errors import failure, rich_failure
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually

ISSUER = TestIssuer()
CLOCK = ManualClock()


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[ConversationStack]:
    async with conversation_service(
        databases, backend, "tickets", ISSUER, clock=CLOCK, follow_poll_seconds=60
    ) as service:
        yield service


@pytest.fixture(scope="module")
async def tickets(stack: ConversationStack) -> AsyncIterator[StreamTicketServiceStub]:
    async with open_channel(stack.running.target) as channel:
        yield StreamTicketServiceStub(channel)


async def stored(stack: ConversationStack, ticket_id: str) -> StreamTicketRecord | None:
    async with stack.ctx.database.reading() as session:
        return await session.scalar(
            select(StreamTicketRecord).where(StreamTicketRecord.id == uuid.UUID(ticket_id))
        )


async def first_events(
    stack: ConversationStack, request: epb.FollowEventsRequest, count: int, **call: object
) -> list[epb.LedgerEvent]:
    seen: list[epb.LedgerEvent] = []
    stream = stack.events.FollowEvents(request, **call)  # type: ignore[arg-type]
    try:
        async for response in stream:
            seen.append(response.event)
            if len(seen) == count:
                break
    finally:
        stream.cancel()
    return seen


async def test_a_viewer_gets_a_hashed_ticket_that_follows_the_conversation_without_a_token(
    stack: ConversationStack, tickets: StreamTicketServiceStub
) -> None:
    tenant_id = str(uuid.uuid4())
    member = ISSUER.member(tenant_id, "member")
    viewer = ISSUER.member(tenant_id, "viewer")
    conversation = await new_conversation(stack, member)
    await say(stack, member, conversation.id, "hello")
    issued = await tickets.CreateStreamTicket(
        pb.CreateStreamTicketRequest(conversation_id=conversation.id, session_key="tab-1"),
        metadata=viewer,
    )
    assert issued.ticket.startswith("qdst_") and len(issued.ticket) > 40
    ticket = issued.stream_ticket
    assert ticket.conversation_id == conversation.id and ticket.tenant_id == tenant_id
    assert ticket.use_count == 0 and ticket.session_key == "tab-1"
    assert ticket.expire_time.seconds - ticket.create_time.seconds == 60
    row = await stored(stack, ticket.id)
    assert row is not None
    assert row.ticket_hash == hashlib.sha256(issued.ticket.encode()).hexdigest()
    assert issued.ticket not in {row.ticket_hash, row.session_key, row.created_by}

    for uses in (1, 2):  # an EventSource reconnects with the same URL
        redeemed = await tickets.RedeemStreamTicket(
            pb.RedeemStreamTicketRequest(ticket=issued.ticket, conversation_id=conversation.id)
        )
        assert redeemed.stream_ticket.use_count == uses
        assert redeemed.stream_ticket.HasField("last_use_time")

    events = await first_events(
        stack,
        epb.FollowEventsRequest(conversation_id=conversation.id, stream_ticket=issued.ticket),
        2,
    )
    assert [e.kind for e in events] == ["conversation.created", "conversation.message.created"]


async def test_a_ticket_is_refused_for_another_conversation_once_expired_and_when_unknown(
    stack: ConversationStack, tickets: StreamTicketServiceStub
) -> None:
    member = ISSUER.member(str(uuid.uuid4()), "member")
    mine = await new_conversation(stack, member)
    other = await new_conversation(stack, member)
    issued = await tickets.CreateStreamTicket(
        pb.CreateStreamTicketRequest(conversation_id=mine.id, ttl_seconds=30), metadata=member
    )
    presented = [
        (issued.ticket, other.id),
        ("qdst_" + "A" * 43, mine.id),
        ("not-a-ticket", mine.id),
    ]
    for ticket, conversation_id in presented:
        refused = await rich_failure(
            tickets.RedeemStreamTicket(
                pb.RedeemStreamTicketRequest(ticket=ticket, conversation_id=conversation_id)
            )
        )
        assert refused.code == grpc.StatusCode.UNAUTHENTICATED
        assert refused.reason == "STREAM_TICKET_INVALID"
        follow = await rich_failure(
            first_events(
                stack,
                epb.FollowEventsRequest(conversation_id=conversation_id, stream_ticket=ticket),
                1,
            )
        )
        assert follow.reason == "STREAM_TICKET_INVALID"

    CLOCK.now += 31
    try:
        for call in (
            tickets.RedeemStreamTicket(
                pb.RedeemStreamTicketRequest(ticket=issued.ticket, conversation_id=mine.id)
            ),
            first_events(
                stack,
                epb.FollowEventsRequest(conversation_id=mine.id, stream_ticket=issued.ticket),
                1,
            ),
        ):
            expired = await rich_failure(call)
            assert expired.reason == "STREAM_TICKET_INVALID"
        assert await StreamTicketHandlers(stack.ctx).sweep() >= 1
        assert await stored(stack, issued.stream_ticket.id) is None
    finally:
        CLOCK.now -= 31


async def test_issuing_needs_a_reader_of_the_tenant_and_a_lifetime_in_bounds(
    stack: ConversationStack, tickets: StreamTicketServiceStub
) -> None:
    member = ISSUER.member(str(uuid.uuid4()), "member")
    conversation = await new_conversation(stack, member)
    stranger = await rich_failure(
        tickets.CreateStreamTicket(
            pb.CreateStreamTicketRequest(conversation_id=conversation.id),
            metadata=ISSUER.member(str(uuid.uuid4()), "owner"),
        )
    )
    assert stranger.code == grpc.StatusCode.NOT_FOUND
    anonymous = await failure(
        tickets.CreateStreamTicket(pb.CreateStreamTicketRequest(conversation_id=conversation.id))
    )
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
    bad = await rich_failure(
        tickets.CreateStreamTicket(
            pb.CreateStreamTicketRequest(
                conversation_id=conversation.id, ttl_seconds=601, session_key="k" * 256
            ),
            metadata=member,
        )
    )
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad.field_violations) == {"ttl_seconds", "session_key"}
    missing = await rich_failure(
        tickets.RedeemStreamTicket(pb.RedeemStreamTicketRequest(ticket="qdst_x"))
    )
    assert missing.field_violations == {"conversation_id": "is required"}


async def test_a_stream_opened_with_a_ticket_keeps_following_live(
    stack: ConversationStack, tickets: StreamTicketServiceStub
) -> None:
    member = ISSUER.member(str(uuid.uuid4()), "member")
    conversation = await new_conversation(stack, member)
    issued = await tickets.CreateStreamTicket(
        pb.CreateStreamTicketRequest(conversation_id=conversation.id), metadata=member
    )
    seen: list[epb.LedgerEvent] = []
    stream = stack.events.FollowEvents(
        epb.FollowEventsRequest(conversation_id=conversation.id, stream_ticket=issued.ticket)
    )

    async def read() -> None:
        async for response in stream:
            seen.append(response.event)

    reader = asyncio.ensure_future(read())

    async def count(wanted: int) -> bool:
        return len(seen) >= wanted

    await eventually(lambda: count(1), "the replayed event")
    await say(stack, member, conversation.id, "live")
    await eventually(lambda: count(2), "the live event")
    stream.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    assert [e.sequence_number for e in seen] == [1, 2]


@pytest.fixture(scope="module")
async def short_tickets(backend: str, databases: Databases) -> AsyncIterator[ConversationStack]:
    """The service's own clock, tickets that last 3 s and a poll far longer than that: a
    stream that ended at its ticket's expiry was ended by the expiry, not by a poll."""
    async with conversation_service(
        databases,
        backend,
        "short-tickets",
        ISSUER,
        follow_poll_seconds=60,
        stream_ticket_ttl_seconds=3,
    ) as service:
        yield service


async def test_a_stream_opened_with_a_ticket_ends_when_the_ticket_expires_saying_where_to_resume(
    short_tickets: ConversationStack,
) -> None:
    stack = short_tickets
    member = ISSUER.member(str(uuid.uuid4()), "member")
    conversation = await new_conversation(stack, member)
    await say(stack, member, conversation.id, "before")
    async with open_channel(stack.running.target) as channel:
        issued = await StreamTicketServiceStub(channel).CreateStreamTicket(
            pb.CreateStreamTicketRequest(conversation_id=conversation.id), metadata=member
        )
    received: list[epb.FollowEventsResponse] = []
    stream = stack.events.FollowEvents(
        epb.FollowEventsRequest(conversation_id=conversation.id, stream_ticket=issued.ticket)
    )

    async def read() -> None:
        async for response in stream:
            received.append(response)

    reader = asyncio.ensure_future(read())

    async def ended() -> bool:
        return reader.done()

    # Nothing but the ticket's expiry ends the stream: no append, a 60 s poll.
    await eventually(ended, "the stream to end at the ticket's expiry")
    await reader  # ended cleanly: no error status
    *events, last = received
    assert [r.WhichOneof("item") for r in events] == ["event"] * len(events)
    # The replay (both events, unless the machine was too slow to send them before the expiry).
    cursors = [r.event.sequence_number for r in events]
    assert cursors == [1, 2][: len(cursors)]
    assert last.WhichOneof("item") == "end"
    assert last.end.reason == "STREAM_TICKET_EXPIRED"
    assert last.end.resume_after_sequence_number == (cursors[-1] if cursors else 0)
    # The ticket opens nothing more; an access token follows on after the cursor given.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await first_events(
            stack,
            epb.FollowEventsRequest(conversation_id=conversation.id, stream_ticket=issued.ticket),
            1,
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await say(stack, member, conversation.id, "after")
    [resumed] = await first_events(
        stack,
        epb.FollowEventsRequest(
            conversation_id=conversation.id,
            after_sequence_number=last.end.resume_after_sequence_number,
        ),
        1,
        metadata=member,
    )
    assert resumed.sequence_number == last.end.resume_after_sequence_number + 1
