"""Ledger segments over a real in-process conversation service, on SQLite and PostgreSQL:
truncating a conversation opens a new segment (parent_segment_id, visible_through_*) that hides
later messages from listings without deleting or rewriting anything; a run with
MULTITASK_STRATEGY_ROLLBACK cancels the pending runs and hides what they were asked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy import func, select

from quarterdeck.conversation.v1 import conversations_pb2 as cpb
from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from quarterdeck.conversation.v1 import runs_pb2 as rpb
from services.conversation.events.models import LedgerSegmentRecord
from services.conversation.messages.models import MessageRecord
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
    # No tenancy or tooling: runs stay queued, as these tests want.
    async with conversation_service(databases, backend, "segments", ISSUER) as service:
        yield service


async def texts(stack: ConversationStack, caller: list[tuple[str, str]], cid: str) -> list[str]:
    listed = await stack.messages.ListMessages(
        mpb.ListMessagesRequest(conversation_id=cid), metadata=caller
    )
    return [m.text for m in listed.messages]


async def stored(stack: ConversationStack, cid: str) -> int:
    async with stack.ctx.database.reading() as session:
        return int(
            await session.scalar(
                select(func.count()).where(MessageRecord.conversation_id == uuid.UUID(cid))
            )
            or 0
        )


async def test_truncating_opens_a_segment_and_hides_later_messages_without_deleting(
    stack: ConversationStack,
) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    conversation = await new_conversation(stack, member)
    for text in ("one", "two", "three"):
        await say(stack, member, conversation.id, text)
    truncated = await stack.conversations.TruncateConversation(
        cpb.TruncateConversationRequest(conversation_id=conversation.id, keep_through_position=0),
        metadata=member,
    )
    segment = truncated.segment
    assert segment.segment_index == 1 and segment.parent_segment_id
    assert segment.visible_through_message_position == 0
    assert segment.visible_through_event_id > 0
    assert await texts(stack, member, conversation.id) == ["one"]
    # An edit: truncate before a message, then say it again; new positions continue.
    edited = await say(stack, member, conversation.id, "two, edited")
    assert edited.message.position == 3
    assert await texts(stack, member, conversation.id) == ["one", "two, edited"]
    with_messages = await stack.conversations.GetConversationWithMessages(
        cpb.GetConversationWithMessagesRequest(conversation_id=conversation.id), metadata=member
    )
    assert [m.text for m in with_messages.messages] == ["one", "two, edited"]
    # A truncation into a segment's ancestors: only what is visible may be named.
    hidden = await failure(
        stack.conversations.TruncateConversation(
            cpb.TruncateConversationRequest(
                conversation_id=conversation.id, keep_through_position=2
            ),
            metadata=member,
        )
    )
    assert hidden.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "keep_through_position" in (hidden.details() or "")
    again = await stack.conversations.TruncateConversation(
        cpb.TruncateConversationRequest(conversation_id=conversation.id, keep_through_position=-1),
        metadata=member,
    )
    assert again.segment.parent_segment_id == segment.id
    assert await texts(stack, member, conversation.id) == []
    await say(stack, member, conversation.id, "fresh start")
    assert await texts(stack, member, conversation.id) == ["fresh start"]
    # Nothing stored was deleted; the whole ledger (hidden history included, when asked for)
    # says what happened; by default only the visible part is listed.
    assert await stored(stack, conversation.id) == 5
    events = await stack.events.ListEvents(
        epb.ListEventsRequest(conversation_id=conversation.id, page_size=100, include_hidden=True),
        metadata=member,
    )
    assert [e.kind for e in events.events].count("conversation.truncated") == 2
    visible = await stack.events.ListEvents(
        epb.ListEventsRequest(conversation_id=conversation.id, page_size=100), metadata=member
    )
    assert [e.kind for e in visible.events] == [
        "conversation.created",
        "conversation.truncated",
        "conversation.message.created",
    ]
    async with stack.ctx.database.reading() as session:
        segments = list(
            (
                await session.scalars(
                    select(LedgerSegmentRecord)
                    .where(LedgerSegmentRecord.conversation_id == uuid.UUID(conversation.id))
                    .order_by(LedgerSegmentRecord.segment_index)
                )
            ).all()
        )
    assert [s.truncated_at is not None for s in segments] == [True, True, False]


async def test_truncation_is_refused_while_a_run_is_pending_and_for_bad_input(
    stack: ConversationStack,
) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    conversation = await new_conversation(stack, member)
    posted = await say(stack, member, conversation.id, "hello", start_run=True)
    busy = await failure(
        stack.conversations.TruncateConversation(
            cpb.TruncateConversationRequest(
                conversation_id=conversation.id, keep_through_position=-1
            ),
            metadata=member,
        )
    )
    assert busy.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(busy).reason == "RUN_IN_PROGRESS"
    await stack.runs.CancelRun(rpb.CancelRunRequest(run_id=posted.run.id), metadata=member)
    for position in (-2, 7):
        bad = await failure(
            stack.conversations.TruncateConversation(
                cpb.TruncateConversationRequest(
                    conversation_id=conversation.id, keep_through_position=position
                ),
                metadata=member,
            )
        )
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    other = ISSUER.member(str(uuid.uuid4()), "member")
    missing = await failure(
        stack.conversations.TruncateConversation(
            cpb.TruncateConversationRequest(
                conversation_id=conversation.id, keep_through_position=-1
            ),
            metadata=other,
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_rollback_cancels_pending_runs_and_hides_what_they_were_asked(
    stack: ConversationStack,
) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    conversation = await new_conversation(stack, member)
    await say(stack, member, conversation.id, "kept")
    first = await say(stack, member, conversation.id, "first question", start_run=True)
    second = await say(stack, member, conversation.id, "second question", start_run=True)
    rolled = await say(
        stack,
        member,
        conversation.id,
        "the question, rephrased",
        start_run=True,
        multitask_strategy=rpb.MULTITASK_STRATEGY_ROLLBACK,
    )
    for run_id in (first.run.id, second.run.id):
        got = await stack.runs.GetRun(rpb.GetRunRequest(run_id=run_id), metadata=member)
        assert got.run.status == rpb.RUN_STATUS_CANCELLED
    assert rolled.run.status == rpb.RUN_STATUS_QUEUED
    assert await texts(stack, member, conversation.id) == ["kept", "the question, rephrased"]
    assert await stored(stack, conversation.id) == 4
    # With nothing pending, a rollback is a plain post.
    await stack.runs.CancelRun(rpb.CancelRunRequest(run_id=rolled.run.id), metadata=member)
    plain = await say(
        stack,
        member,
        conversation.id,
        "and another",
        start_run=True,
        multitask_strategy=rpb.MULTITASK_STRATEGY_ROLLBACK,
    )
    assert plain.run.status == rpb.RUN_STATUS_QUEUED
    assert await texts(stack, member, conversation.id) == [
        "kept",
        "the question, rephrased",
        "and another",
    ]


async def search(
    stack: ConversationStack,
    caller: list[tuple[str, str]],
    query: str,
    **fields: object,
) -> list[str]:
    found = await stack.messages.SearchMessages(
        mpb.SearchMessagesRequest(query=query, **fields),  # type: ignore[arg-type]
        metadata=caller,
    )
    return sorted(m.text for m in found.messages)


async def ledger_texts(
    stack: ConversationStack, caller: list[tuple[str, str]], cid: str, **fields: object
) -> list[str]:
    """The texts of the message events ListEvents gives (one page of up to 1,000)."""
    listed = await stack.events.ListEvents(
        epb.ListEventsRequest(conversation_id=cid, page_size=1000, **fields),  # type: ignore[arg-type]
        metadata=caller,
    )
    return [
        e.payload.fields["text"].string_value
        for e in listed.events
        if e.kind == "conversation.message.created"
    ]


async def test_an_edit_replaces_a_message_in_a_new_segment_and_hides_what_followed_it(
    stack: ConversationStack,
) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    conversation = await new_conversation(stack, member)
    for text in ("alpha plan", "bravo plan", "charlie plan"):
        await say(stack, member, conversation.id, text)
    before = await stack.conversations.GetConversation(
        cpb.GetConversationRequest(conversation_id=conversation.id), metadata=member
    )
    request = mpb.EditMessageRequest(
        conversation_id=conversation.id,
        position=1,
        message=mpb.Message(role=mpb.MESSAGE_ROLE_USER, text="bravo plan, edited"),
        request_id=f"edit-{uuid.uuid4()}",
    )
    edited = await stack.messages.EditMessage(request, metadata=member)
    assert edited.message.position == 3 and edited.message.text == "bravo plan, edited"
    assert edited.message.metadata["edited_position"] == 1
    assert not edited.HasField("run")
    # Idempotent: the same request answers the same edit and opens nothing more.
    assert await stack.messages.EditMessage(request, metadata=member) == edited
    assert await texts(stack, member, conversation.id) == ["alpha plan", "bravo plan, edited"]
    async with stack.ctx.database.reading() as session:
        segments = list(
            (
                await session.scalars(
                    select(LedgerSegmentRecord)
                    .where(LedgerSegmentRecord.conversation_id == uuid.UUID(conversation.id))
                    .order_by(LedgerSegmentRecord.segment_index)
                )
            ).all()
        )
    assert [s.segment_index for s in segments] == [0, 1]
    assert str(segments[1].id) == edited.message.segment_id
    assert segments[1].visible_through_message_position == 0
    # The ledger kept is the one before the first hidden message was appended.
    assert segments[1].visible_through_event_id is not None
    assert segments[1].visible_through_event_id < before.conversation.last_event_sequence
    assert await stored(stack, conversation.id) == 4  # nothing deleted

    # Hidden history leaks neither through search nor through ListEvents, unless asked for.
    assert await search(stack, member, "plan", conversation_id=conversation.id) == [
        "alpha plan",
        "bravo plan, edited",
    ]
    assert await search(stack, member, "charlie") == []  # tenant-wide too
    assert await search(stack, member, "plan", include_hidden=True) == [
        "alpha plan",
        "bravo plan",
        "bravo plan, edited",
        "charlie plan",
    ]
    assert await ledger_texts(stack, member, conversation.id) == [
        "alpha plan",
        "bravo plan, edited",
    ]
    assert await ledger_texts(stack, member, conversation.id, include_hidden=True) == [
        "alpha plan",
        "bravo plan",
        "charlie plan",
        "bravo plan, edited",
    ]
    # A page that starts in hidden history skips it; its cursor still moves on.
    listed = await stack.events.ListEvents(
        epb.ListEventsRequest(
            conversation_id=conversation.id,
            after_sequence_number=segments[1].visible_through_event_id,
            page_size=1,
        ),
        metadata=member,
    )
    [first] = listed.events
    assert first.kind == "conversation.truncated" and first.segment_id == str(segments[1].id)

    # A second edit, of the first message: everything after it hidden, across both segments.
    again = await stack.messages.EditMessage(
        mpb.EditMessageRequest(
            conversation_id=conversation.id,
            position=0,
            message=mpb.Message(role=mpb.MESSAGE_ROLE_USER, text="alpha plan, edited"),
        ),
        metadata=member,
    )
    assert again.message.position == 4
    assert await texts(stack, member, conversation.id) == ["alpha plan, edited"]
    assert await search(stack, member, "plan", conversation_id=conversation.id) == [
        "alpha plan, edited"
    ]
    assert await ledger_texts(stack, member, conversation.id) == ["alpha plan, edited"]


async def test_an_edit_is_refused_for_bad_input_another_role_and_while_a_run_is_pending(
    stack: ConversationStack,
) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    viewer = ISSUER.member(tenant, "viewer")
    conversation = await new_conversation(stack, member)
    await say(stack, member, conversation.id, "hello")
    await say(
        stack,
        ISSUER.member(tenant, "admin"),
        conversation.id,
        "be brief",
        role=mpb.MESSAGE_ROLE_SYSTEM,
    )

    async def edit(caller: list[tuple[str, str]], **fields: object) -> mpb.EditMessageResponse:
        fields.setdefault("message", mpb.Message(role=mpb.MESSAGE_ROLE_USER, text="hi"))
        return await stack.messages.EditMessage(
            mpb.EditMessageRequest(conversation_id=conversation.id, **fields),  # type: ignore[arg-type]
            metadata=caller,
        )

    error = await failure(edit(member, position=7))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "position" in str(rich_error(error))
    error = await failure(edit(member, position=-1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = await failure(edit(member, position=0, message=mpb.Message(role=mpb.MESSAGE_ROLE_USER)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "message.text" in str(rich_error(error))
    # The system message is not the member's to edit, nor a user message to replace it.
    error = await failure(
        edit(member, position=1, message=mpb.Message(role=mpb.MESSAGE_ROLE_SYSTEM, text="x"))
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await failure(edit(member, position=1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "message.role" in str(rich_error(error))
    assert (await failure(edit(viewer, position=0))).code() == grpc.StatusCode.PERMISSION_DENIED
    stranger = ISSUER.member(str(uuid.uuid4()), "admin")
    assert (await failure(edit(stranger, position=0))).code() == grpc.StatusCode.NOT_FOUND
    # A run queued (no worker here) refuses the edit until it is cancelled.
    queued = await say(stack, member, conversation.id, "answer me", start_run=True)
    error = await failure(edit(member, position=0))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "RUN_IN_PROGRESS" in str(rich_error(error))
    await stack.runs.CancelRun(rpb.CancelRunRequest(run_id=queued.run.id), metadata=member)
    started = await edit(member, position=0, start_run=True)
    assert started.run.message_position == started.message.position
    assert await texts(stack, member, conversation.id) == ["hi"]


async def visible_cursors(
    stack: ConversationStack, caller: list[tuple[str, str]], cid: str, after: int, **fields: object
) -> list[int]:
    """The cursors ListEvents gives after ``after``, page by page (two events a page)."""
    cursors: list[int] = []
    while True:
        page = await stack.events.ListEvents(
            epb.ListEventsRequest(
                conversation_id=cid,
                after_sequence_number=after,
                page_size=2,
                **fields,  # type: ignore[arg-type]
            ),
            metadata=caller,
        )
        if not page.events:
            return cursors
        cursors += [e.sequence_number for e in page.events]
        after = page.next_after_sequence_number


async def follow_through_a_marker(
    stack: ConversationStack, caller: list[tuple[str, str]], cid: str, after: int, replayed: int
) -> list[epb.LedgerEvent]:
    """What a follower from cursor ``after`` is sent: its replay of ``replayed`` events, then a
    message appended live (a hidden event sent in between would show before it)."""
    seen: list[epb.LedgerEvent] = []
    follower = Follower(stack, caller, cid, after, seen)
    try:
        await eventually(lambda: has(seen, replayed), f"the replay after cursor {after}")
        await say(stack, caller, cid, f"marker after {after}")
        await eventually(lambda: has(seen, replayed + 1), "the live marker")
    finally:
        await follower.stop()
    return seen


async def test_a_follower_resuming_from_before_a_truncation_or_an_edit_gets_no_hidden_event(
    stack: ConversationStack,
) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    conversation = await new_conversation(stack, member)
    cid = conversation.id
    # One follower live from the start: it sees everything as it is appended, hidden later
    # or not (what it was sent stays sent).
    live: list[epb.LedgerEvent] = []
    live_follower = Follower(stack, member, cid, 0, live)
    one = await say(stack, member, cid, "one")
    for text in ("two", "three"):
        await say(stack, member, cid, text)
    # A follower that saw "one" and dropped, and one that saw "two" (hidden by what follows).
    resume_after_one = 2
    resume_inside_hidden = 3
    await stack.conversations.TruncateConversation(
        cpb.TruncateConversationRequest(conversation_id=cid, keep_through_position=0),
        metadata=member,
    )
    await say(stack, member, cid, "four")
    await stack.messages.EditMessage(
        mpb.EditMessageRequest(
            conversation_id=cid,
            position=3,
            message=mpb.Message(role=mpb.MESSAGE_ROLE_USER, text="four, edited"),
        ),
        metadata=member,
    )
    assert one.message.position == 0
    everything = await visible_cursors(stack, member, cid, 0, include_hidden=True)
    for after in (0, resume_after_one, resume_inside_hidden):
        visible = await visible_cursors(stack, member, cid, after)
        hidden = set(everything) - set(visible)
        assert hidden, "the truncation and the edit hid events after the cursor"
        seen = await follow_through_a_marker(stack, member, cid, after, len(visible))
        cursors = [e.sequence_number for e in seen]
        assert cursors == [*visible, cursors[-1]], (after, cursors, visible)
        assert cursors[-1] > visible[-1] and not hidden & set(cursors)
        texts_seen = [e.payload["text"] for e in seen if e.kind == "conversation.message.created"]
        assert texts_seen[-1] == f"marker after {after}"
        assert "two" not in texts_seen and "three" not in texts_seen and "four" not in texts_seen
        assert "four, edited" in texts_seen
    # The live follower got every event once, in cursor order, hidden later or not.
    last = (await visible_cursors(stack, member, cid, 0, include_hidden=True))[-1]
    await eventually(lambda: has(live, last), "every event reaching the live follower")
    await live_follower.stop()
    assert [e.sequence_number for e in live] == list(range(1, last + 1))
