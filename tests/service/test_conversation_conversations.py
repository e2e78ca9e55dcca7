"""Conversations and messages over a real in-process conversation service, on SQLite and on
PostgreSQL: tenant scope from the token, FieldMask updates under a version, archive, messages at
unique positions, full-text search, and seed 003's conversation with its messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.conversation.v1 import conversations_pb2 as pb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from shared.json_values import dict_to_struct, python_to_value
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
    async with conversation_service(databases, backend, "conversations", ISSUER) as service:
        yield service


def tenant() -> str:
    return str(uuid.uuid4())


async def test_create_takes_the_tenant_from_the_token_and_get_is_tenant_scoped(
    stack: ConversationStack,
) -> None:
    mine = tenant()
    member = ISSUER.member(mine, "member", user_id="user-123")
    created = await new_conversation(
        stack,
        member,
        display_name="Debt query",
        session_key="demo-session",
        metadata=dict_to_struct({"channel": "web", "priority": 2}),
        memory=pb.MemoryStrategy(strategy="window", max_turns=20, clear_tool_inputs=True),
    )
    assert created.tenant_id == mine and created.user_id == "user-123"
    assert created.status == pb.CONVERSATION_STATUS_ACTIVE and created.version == 1
    assert created.conversation_key.startswith("conv_") and created.agent_entrypoint == "default"
    assert created.memory.max_turns == 20 and created.memory.clear_tool_inputs
    assert not created.memory.HasField("keep_last_turns")
    assert created.metadata["priority"] == 2 and created.usage.cost_usd == "0.000000000000"
    # The conversation.created event took the first cursor.
    assert created.last_event_sequence == 1

    got = await stack.conversations.GetConversation(
        pb.GetConversationRequest(conversation_id=created.id),
        metadata=ISSUER.member(mine, "viewer"),
    )
    assert got.conversation == created
    other = await failure(
        stack.conversations.GetConversation(
            pb.GetConversationRequest(conversation_id=created.id),
            metadata=ISSUER.member(tenant(), "owner"),
        )
    )
    assert other.code() == grpc.StatusCode.NOT_FOUND
    assert rich_error(other).reason == "CONVERSATION_NOT_FOUND"


async def test_bad_input_names_the_field_and_roles_are_enforced(stack: ConversationStack) -> None:
    mine = tenant()
    bad = await failure(
        stack.conversations.CreateConversation(
            pb.CreateConversationRequest(
                conversation=pb.Conversation(
                    display_name="x" * 129,
                    agent_id="not-a-uuid",
                    memory=pb.MemoryStrategy(max_turns=-1),
                )
            ),
            metadata=ISSUER.member(mine, "member"),
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_error(bad).field_violations) == {
        "conversation.display_name",
        "conversation.agent_id",
        "conversation.memory.max_turns",
    }
    viewer = await failure(
        stack.conversations.CreateConversation(
            pb.CreateConversationRequest(conversation=pb.Conversation()),
            metadata=ISSUER.member(mine, "viewer"),
        )
    )
    assert viewer.code() == grpc.StatusCode.PERMISSION_DENIED
    no_tenant = await failure(
        stack.conversations.ListConversations(
            pb.ListConversationsRequest(), metadata=ISSUER.operator()
        )
    )
    assert no_tenant.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rich_error(no_tenant).reason == "TENANT_TOKEN_REQUIRED"
    missing = await failure(
        stack.conversations.GetConversation(
            pb.GetConversationRequest(conversation_id="nope"), metadata=ISSUER.member(mine)
        )
    )
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "conversation_id" in rich_error(missing).field_violations


async def test_create_is_idempotent_by_request_id_and_keys_are_unique(
    stack: ConversationStack,
) -> None:
    mine = tenant()
    member = ISSUER.member(mine, "member")
    request = pb.CreateConversationRequest(
        conversation=pb.Conversation(conversation_key=f"key-{uuid.uuid4()}"), request_id="r-1"
    )
    first = await stack.conversations.CreateConversation(request, metadata=member)
    again = await stack.conversations.CreateConversation(request, metadata=member)
    assert again.conversation.id == first.conversation.id
    clash = await failure(
        stack.conversations.CreateConversation(
            pb.CreateConversationRequest(
                conversation=pb.Conversation(conversation_key=request.conversation.conversation_key)
            ),
            metadata=member,
        )
    )
    assert clash.code() == grpc.StatusCode.ALREADY_EXISTS
    assert rich_error(clash).metadata["field"] == "conversation.conversation_key"


async def test_update_changes_the_masked_fields_under_the_version(stack: ConversationStack) -> None:
    mine = tenant()
    member = ISSUER.member(mine, "member")
    created = await new_conversation(stack, member, display_name="Before", topic_hint="debts")
    updated = await stack.conversations.UpdateConversation(
        pb.UpdateConversationRequest(
            conversation=pb.Conversation(
                id=created.id, version=created.version, display_name="After", topic_hint="ignored"
            ),
            update_mask=FieldMask(paths=["display_name"]),
        ),
        metadata=member,
    )
    assert updated.conversation.display_name == "After"
    assert updated.conversation.topic_hint == "debts" and updated.conversation.version == 2
    stale = await failure(
        stack.conversations.UpdateConversation(
            pb.UpdateConversationRequest(
                conversation=pb.Conversation(id=created.id, version=1, display_name="Late"),
                update_mask=FieldMask(paths=["display_name"]),
            ),
            metadata=member,
        )
    )
    assert stale.code() == grpc.StatusCode.ABORTED
    unknown = await failure(
        stack.conversations.UpdateConversation(
            pb.UpdateConversationRequest(
                conversation=pb.Conversation(id=created.id, version=2),
                update_mask=FieldMask(paths=["status"]),
            ),
            metadata=member,
        )
    )
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in rich_error(unknown).field_violations
    handoff = await stack.conversations.UpdateConversation(
        pb.UpdateConversationRequest(
            conversation=pb.Conversation(id=created.id, version=2, active_agent="billing"),
            update_mask=FieldMask(paths=["active_agent"]),
        ),
        metadata=member,
    )
    assert handoff.conversation.handoff_count == 0  # the first agent is no hand-off
    handoff = await stack.conversations.UpdateConversation(
        pb.UpdateConversationRequest(
            conversation=pb.Conversation(id=created.id, version=3, active_agent="support"),
            update_mask=FieldMask(paths=["active_agent"]),
        ),
        metadata=member,
    )
    assert handoff.conversation.handoff_count == 1


async def test_list_pages_newest_first_with_filters_and_message_counts(
    stack: ConversationStack,
) -> None:
    mine = tenant()
    alice = ISSUER.member(mine, "member", user_id="alice")
    made = [await new_conversation(stack, alice, session_key=f"s{i}") for i in range(3)]
    await new_conversation(stack, ISSUER.member(mine, "member", user_id="bob"))
    await say(stack, alice, made[0].id, "hello")
    await say(stack, alice, made[0].id, "anyone there?")
    first = await stack.conversations.ListConversations(
        pb.ListConversationsRequest(user_id="alice", page_size=2), metadata=alice
    )
    second = await stack.conversations.ListConversations(
        pb.ListConversationsRequest(user_id="alice", page_size=2, page_token=first.next_page_token),
        metadata=alice,
    )
    listed = [*first.conversations, *second.conversations]
    assert [c.id for c in listed] == [c.id for c in reversed(made)]
    assert second.next_page_token == ""
    assert listed[-1].message_count == 2
    every = await stack.conversations.ListConversations(
        pb.ListConversationsRequest(), metadata=alice
    )
    assert len(every.conversations) == 4
    by_session = await stack.conversations.ListConversations(
        pb.ListConversationsRequest(session_key="s1"), metadata=alice
    )
    assert [c.id for c in by_session.conversations] == [made[1].id]


async def test_archive_is_idempotent_and_refuses_new_messages(stack: ConversationStack) -> None:
    mine = tenant()
    member = ISSUER.member(mine, "member")
    created = await new_conversation(stack, member)
    archived = await stack.conversations.ArchiveConversation(
        pb.ArchiveConversationRequest(conversation_id=created.id), metadata=member
    )
    again = await stack.conversations.ArchiveConversation(
        pb.ArchiveConversationRequest(conversation_id=created.id), metadata=member
    )
    assert archived.conversation.status == pb.CONVERSATION_STATUS_ARCHIVED
    assert again.conversation.version == archived.conversation.version
    refused = await failure(say(stack, member, created.id, "still there?"))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused).reason == "CONVERSATION_ARCHIVED"


async def test_messages_take_unique_consecutive_positions_under_concurrency(
    stack: ConversationStack,
) -> None:
    mine = tenant()
    member = ISSUER.member(mine, "member")
    created = await new_conversation(stack, member)
    await asyncio.gather(*(say(stack, member, created.id, f"message {i}") for i in range(12)))
    listed = await stack.messages.ListMessages(
        mpb.ListMessagesRequest(conversation_id=created.id, page_size=5), metadata=member
    )
    positions = [m.position for m in listed.messages]
    while listed.next_page_token:
        listed = await stack.messages.ListMessages(
            mpb.ListMessagesRequest(
                conversation_id=created.id, page_size=5, page_token=listed.next_page_token
            ),
            metadata=member,
        )
        positions += [m.position for m in listed.messages]
    assert positions == list(range(12))
    got = await stack.conversations.GetConversation(
        pb.GetConversationRequest(conversation_id=created.id), metadata=member
    )
    assert got.conversation.message_count == 12


async def test_append_checks_roles_content_and_idempotency(stack: ConversationStack) -> None:
    mine = tenant()
    member = ISSUER.member(mine, "member")
    admin = ISSUER.member(mine, "admin")
    created = await new_conversation(stack, member)
    structured = await stack.messages.AppendMessage(
        mpb.AppendMessageRequest(
            conversation_id=created.id,
            message=mpb.Message(
                role=mpb.MESSAGE_ROLE_USER,
                content=python_to_value([{"type": "text", "text": "invoice 42 overdue"}]),
                metadata=dict_to_struct({"intent": "customer_debt_query"}),
            ),
            request_id="append-1",
        ),
        metadata=member,
    )
    assert structured.message.text == "invoice 42 overdue"
    assert len(structured.message.content_checksum) == 32
    repeated = await stack.messages.AppendMessage(
        mpb.AppendMessageRequest(
            conversation_id=created.id,
            message=mpb.Message(
                role=mpb.MESSAGE_ROLE_USER,
                content=python_to_value([{"type": "text", "text": "invoice 42 overdue"}]),
                metadata=dict_to_struct({"intent": "customer_debt_query"}),
            ),
            request_id="append-1",
        ),
        metadata=member,
    )
    assert repeated.message.id == structured.message.id
    as_assistant = await failure(
        say(stack, member, created.id, "I am the agent", role=mpb.MESSAGE_ROLE_ASSISTANT)
    )
    assert as_assistant.code() == grpc.StatusCode.PERMISSION_DENIED
    tool = await failure(say(stack, admin, created.id, "{}", role=mpb.MESSAGE_ROLE_TOOL))
    assert "message.tool_call_id" in rich_error(tool).field_violations
    empty = await failure(say(stack, member, created.id, "  "))
    assert "message.text" in rich_error(empty).field_violations
    foreign = await failure(say(stack, ISSUER.member(tenant(), "owner"), created.id, "hi"))
    assert foreign.code() == grpc.StatusCode.NOT_FOUND
    system = await say(stack, admin, created.id, "Be brief.", role=mpb.MESSAGE_ROLE_SYSTEM)
    assert system.message.position == 1


async def test_search_finds_every_word_within_the_tenant(stack: ConversationStack) -> None:
    mine = tenant()
    member = ISSUER.member(mine, "member")
    one = await new_conversation(stack, member)
    two = await new_conversation(stack, member)
    await say(stack, member, one.id, "The invoice for March is overdue")
    await say(stack, member, one.id, "Please resend the invoice")
    await say(stack, member, two.id, "Overdue invoice again, what's going on?")
    theirs = tenant()
    other_member = ISSUER.member(theirs, "member")
    await say(
        stack, other_member, (await new_conversation(stack, other_member)).id, "overdue invoice"
    )

    found = await stack.messages.SearchMessages(
        mpb.SearchMessagesRequest(query="overdue invoice"), metadata=member
    )
    assert [m.text for m in found.messages] == [
        "Overdue invoice again, what's going on?",
        "The invoice for March is overdue",
    ]
    in_one = await stack.messages.SearchMessages(
        mpb.SearchMessagesRequest(query="invoice", conversation_id=one.id, page_size=1),
        metadata=member,
    )
    rest = await stack.messages.SearchMessages(
        mpb.SearchMessagesRequest(
            query="invoice", conversation_id=one.id, page_size=1, page_token=in_one.next_page_token
        ),
        metadata=member,
    )
    assert [m.text for m in [*in_one.messages, *rest.messages]] == [
        "Please resend the invoice",
        "The invoice for March is overdue",
    ]
    quoted = await stack.messages.SearchMessages(
        mpb.SearchMessagesRequest(query='"what\'s" OR NEAR('), metadata=member
    )
    assert [m.text for m in quoted.messages] == []
    blank = await failure(
        stack.messages.SearchMessages(mpb.SearchMessagesRequest(query="  "), metadata=member)
    )
    assert "query" in rich_error(blank).field_violations


async def test_conversation_with_messages_by_session_key(stack: ConversationStack) -> None:
    mine = tenant()
    member = ISSUER.member(mine, "member")
    key = f"demo-session-{uuid.uuid4().hex[:6]}"
    created = await new_conversation(stack, member, session_key=key)
    for text in ("hi", "what do I owe?", "thanks"):
        await say(stack, member, created.id, text)
    whole = await stack.conversations.GetConversationWithMessages(
        pb.GetConversationWithMessagesRequest(session_key=key), metadata=member
    )
    assert whole.conversation.id == created.id and not whole.truncated
    assert [m.text for m in whole.messages] == ["hi", "what do I owe?", "thanks"]
    cut = await stack.conversations.GetConversationWithMessages(
        pb.GetConversationWithMessagesRequest(conversation_id=created.id, max_messages=2),
        metadata=member,
    )
    assert [m.text for m in cut.messages] == ["hi", "what do I owe?"] and cut.truncated
    missing = await failure(
        stack.conversations.GetConversationWithMessages(
            pb.GetConversationWithMessagesRequest(session_key=key),
            metadata=ISSUER.member(tenant(), "member"),
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
