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
    conversation_service,
    new_conversation,
    say,
)
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer

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
    # Nothing stored was deleted; the ledger says what happened.
    assert await stored(stack, conversation.id) == 5
    events = await stack.events.ListEvents(
        epb.ListEventsRequest(conversation_id=conversation.id, page_size=100), metadata=member
    )
    assert [e.kind for e in events.events].count("conversation.truncated") == 2
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
