"""The ledger over a real in-process conversation service, on SQLite and on PostgreSQL: one
strictly increasing cursor per conversation, pages read after a cursor, and FollowEvents that
replays then follows live, so a follower that reconnects with its last cursor sees no gap and
no duplicate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from quarterdeck.conversation.v1 import events_pb2 as pb
from services.conversation.events.notifier import LedgerNotifier
from tests.support.conversation import (
    ConversationStack,
    Follower,
    conversation_service,
    has,
    new_conversation,
    say,
)
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually

ISSUER = TestIssuer()


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[ConversationStack]:
    # A long poll: followers in these tests are woken by appends, never by the clock.
    async with conversation_service(
        databases, backend, "ledger", ISSUER, follow_poll_seconds=60
    ) as service:
        yield service


def member() -> list[tuple[str, str]]:
    return ISSUER.member(str(uuid.uuid4()), "member")


async def test_every_append_takes_the_next_cursor_even_under_concurrency(
    stack: ConversationStack,
) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    await asyncio.gather(*(say(stack, caller, conversation.id, f"m{i}") for i in range(10)))
    listed = await stack.events.ListEvents(
        pb.ListEventsRequest(conversation_id=conversation.id, page_size=100), metadata=caller
    )
    assert [e.sequence_number for e in listed.events] == list(range(1, 12))
    assert listed.events[0].kind == "conversation.created"
    assert {e.kind for e in listed.events[1:]} == {"conversation.message.created"}
    assert sorted(e.payload["position"] for e in listed.events[1:]) == list(range(10))
    assert all(e.schema_version == "public_sse_v1" for e in listed.events)
    assert listed.next_after_sequence_number == 11
    page = await stack.events.ListEvents(
        pb.ListEventsRequest(conversation_id=conversation.id, after_sequence_number=9),
        metadata=caller,
    )
    assert [e.sequence_number for e in page.events] == [10, 11]
    empty = await stack.events.ListEvents(
        pb.ListEventsRequest(conversation_id=conversation.id, after_sequence_number=11),
        metadata=caller,
    )
    assert list(empty.events) == [] and empty.next_after_sequence_number == 11


async def test_follow_replays_then_streams_live_to_every_follower(
    stack: ConversationStack,
) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    await say(stack, caller, conversation.id, "before anyone followed")
    first: list[pb.LedgerEvent] = []
    second: list[pb.LedgerEvent] = []
    calls = [
        Follower(stack, caller, conversation.id, 0, first),
        Follower(stack, caller, conversation.id, 1, second),
    ]
    await eventually(lambda: has(first, 2), "the first follower's replay of two events")
    for i in range(5):
        await say(stack, caller, conversation.id, f"live {i}")
    await eventually(lambda: has(first, 7), "seven events reaching the first follower")
    await eventually(lambda: has(second, 6), "six events reaching the second follower")
    for call in calls:
        await call.stop()
    assert [e.sequence_number for e in first] == list(range(1, 8))
    assert [e.sequence_number for e in second] == list(range(2, 8))
    assert [e.payload["text"] for e in first[2:]] == [f"live {i}" for i in range(5)]


async def test_a_follower_that_drops_resumes_from_its_cursor_without_gap_or_duplicate(
    stack: ConversationStack,
) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    seen: list[pb.LedgerEvent] = []
    call = Follower(stack, caller, conversation.id, 0, seen)
    for i in range(3):
        await say(stack, caller, conversation.id, f"first {i}")
    await eventually(lambda: has(seen, 4), "four events before the drop")
    await call.stop()
    # Appended while nobody followed.
    for i in range(3):
        await say(stack, caller, conversation.id, f"while away {i}")
    call = Follower(stack, caller, conversation.id, seen[-1].sequence_number, seen)
    await say(stack, caller, conversation.id, "after the return")
    await eventually(lambda: has(seen, 8), "eight events after resuming")
    await call.stop()
    assert [e.sequence_number for e in seen] == list(range(1, 9))


async def test_another_tenants_ledger_is_not_found_and_bad_cursors_are_named(
    stack: ConversationStack,
) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    call = stack.events.FollowEvents(
        pb.FollowEventsRequest(conversation_id=conversation.id), metadata=member()
    )
    refused = await failure(_first(call))
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    negative = await failure(
        stack.events.ListEvents(
            pb.ListEventsRequest(conversation_id=conversation.id, after_sequence_number=-1),
            metadata=caller,
        )
    )
    assert "after_sequence_number" in rich_error(negative).field_violations


async def _first(call: grpc.aio.UnaryStreamCall) -> None:
    async for _ in call:
        return


async def test_one_poll_wakes_the_followers_whose_conversation_grew_in_another_process(
    stack: ConversationStack,
) -> None:
    # This notifier stands for another process's: the service's appends never notify it, so
    # only its poll (one statement for every conversation followed) can wake its followers.
    caller = member()
    grown, quiet = [uuid.UUID((await new_conversation(stack, caller)).id) for _ in range(2)]
    notifier = LedgerNotifier(stack.ctx.database, poll_seconds=0.05)
    waits = [
        asyncio.ensure_future(notifier.wait(conversation, 1, notifier.signal(conversation)))
        for conversation in (grown, quiet)
    ]
    try:
        await say(stack, caller, str(grown), "appended elsewhere")  # cursor 2
        await asyncio.wait_for(waits[0], 60)
        # The poll that saw the one conversation grow read the other too, unchanged.
        assert not waits[1].done()
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        await notifier.close()
