"""The agent turn end to end over real in-process services, on SQLite and on PostgreSQL:
identity (internal tokens), tenancy (tenant status, model configuration and provider key,
limits), tooling (the agent, its tool, execution against a local HTTP server), telemetry
(usage) and the conversation service whose worker leases the run and calls the local test
provider. A user message becomes an answer streamed into the ledger; a tool call runs through
tooling; a rejected key fails the run naming the model configuration; a run repeated after its
worker vanished stores, runs and counts nothing twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from sqlalchemy import select, update

from quarterdeck.conversation.v1 import conversations_pb2 as cpb
from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from quarterdeck.conversation.v1 import runs_pb2 as rpb
from quarterdeck.telemetry.v1 import usage_pb2 as upb
from quarterdeck.tenancy.v1 import limits_pb2 as lpb
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub
from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import executions_pb2 as xpb
from services.conversation.conversations.models import ConversationSummaryRecord
from services.conversation.provider import ChatProvider, ProviderError
from services.conversation.runs.models import (
    AgentTaskRecord,
    RunRecord,
    RunUsageRecord,
    TaskStatus,
)
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from tests.support.conversation import new_conversation, say
from tests.support.conversation_turn import (
    ISSUER,
    Tenant,
    TurnStack,
    events_of,
    messages_of,
    new_tenant,
    turn_stack,
)
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[TurnStack]:
    async with turn_stack(databases, backend) as built:
        yield built


async def finished_run(stack: TurnStack, tenant: Tenant, run_id: str) -> rpb.Run:
    async def done() -> bool:
        run = await stack.conversation.runs.GetRun(
            rpb.GetRunRequest(run_id=run_id), metadata=tenant.member
        )
        return run.run.status in (
            rpb.RUN_STATUS_COMPLETED,
            rpb.RUN_STATUS_FAILED,
            rpb.RUN_STATUS_REQUIRES_ACTION,
        )

    await eventually(done, f"run {run_id} to finish")
    return (
        await stack.conversation.runs.GetRun(
            rpb.GetRunRequest(run_id=run_id), metadata=tenant.member
        )
    ).run


def delta_of(event: epb.LedgerEvent) -> str | None:
    field = event.payload.fields.get("delta")
    return field.string_value if field is not None else None


async def usage_rows(stack: TurnStack, run_id: str) -> list[RunUsageRecord]:
    async with stack.conversation.ctx.database.reading() as session:
        return list(
            (
                await session.scalars(select(RunUsageRecord).where(RunUsageRecord.run_id == run_id))
            ).all()
        )


async def test_a_user_message_is_answered_with_every_token_in_the_ledger(
    stack: TurnStack,
) -> None:
    tenant = await new_tenant(stack)
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    posted = await say(
        stack.conversation, tenant.member, conversation.id, "what do I owe", start_run=True
    )
    run = await finished_run(stack, tenant, posted.run.id)
    assert run.status == rpb.RUN_STATUS_COMPLETED, run.error
    messages = await messages_of(stack, tenant, conversation.id)
    assert [(m.role, m.text) for m in messages] == [
        (mpb.MESSAGE_ROLE_USER, "what do I owe"),
        (mpb.MESSAGE_ROLE_ASSISTANT, "Echo: what do I owe"),
    ]
    assert messages[1].run_id == run.id and messages[1].tokens.completion == 5
    kinds = [
        (e.kind, delta_of(e))
        for e in await events_of(stack, tenant, conversation.id)
        if e.run_id == run.id
    ]
    assert kinds == [
        ("run.queued", None),
        ("run.started", None),
        ("response.created", None),
        ("response.output_text.delta", "Echo:"),
        ("response.output_text.delta", " what"),
        ("response.output_text.delta", " do"),
        ("response.output_text.delta", " I"),
        ("response.output_text.delta", " owe"),
        ("response.completed", None),
        ("conversation.message.created", None),
        ("run.completed", None),
    ]
    [usage] = await usage_rows(stack, run.id)
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (
        9,  # the words of the system prompt and of the question
        5,
        1,
    )
    recorded = await stack.usage.ListUsageRecords(
        upb.ListUsageRecordsRequest(tenant_id=tenant.id), metadata=stack.internal
    )
    assert [r.event_id for r in recorded.records] == [f"run:{run.id}:0"]
    assert recorded.records[0].output_tokens == 5
    # The agent's system prompt went to the provider first.
    sent = stack.provider.behaviour.requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert sent["tools"][0]["function"]["name"] == tenant.tool_name


async def test_a_tool_call_runs_through_tooling_and_the_agent_answers_its_result(
    stack: TurnStack,
) -> None:
    tenant = await new_tenant(stack)
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    posted = await say(
        stack.conversation,
        tenant.member,
        conversation.id,
        f'/tool {tenant.tool_name} {{"q": "0123456789"}}',
        start_run=True,
    )
    run = await finished_run(stack, tenant, posted.run.id)
    assert run.status == rpb.RUN_STATUS_COMPLETED, run.error
    messages = await messages_of(stack, tenant, conversation.id)
    assert [m.role for m in messages] == [
        mpb.MESSAGE_ROLE_USER,
        mpb.MESSAGE_ROLE_ASSISTANT,
        mpb.MESSAGE_ROLE_TOOL,
        mpb.MESSAGE_ROLE_ASSISTANT,
    ]
    assert messages[2].tool_call_id == "call_1" and "/echo/0123456789" in messages[2].text
    assert messages[3].text.startswith(f"Tool {tenant.tool_name} returned: ")
    calls = await stack.tooling.executions.ListToolCalls(
        xpb.ListToolCallsRequest(tenant_id=tenant.id), metadata=stack.internal
    )
    assert [(c.run_id, c.state) for c in calls.tool_calls] == [(run.id, xpb.TOOL_CALL_STATE_OK)]
    assert len(await usage_rows(stack, run.id)) == 2
    assert stack.http.hits("/echo/0123456789") == 1


async def test_a_rejected_provider_key_fails_the_run_naming_the_model_configuration(
    stack: TurnStack,
) -> None:
    tenant = await new_tenant(stack, api_key="sk-test-wrong")
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    posted = await say(stack.conversation, tenant.member, conversation.id, "hi", start_run=True)
    run = await finished_run(stack, tenant, posted.run.id)
    assert run.status == rpb.RUN_STATUS_FAILED
    assert run.error.reason == "PROVIDER_KEY_REJECTED"
    assert f"model configuration of tenant {tenant.id}" in run.error.message
    kinds = [e.kind for e in await events_of(stack, tenant, conversation.id) if e.run_id == run.id]
    assert kinds[-2:] == ["response.failed", "run.failed"]
    assert await usage_rows(stack, run.id) == []


async def test_a_run_repeated_after_its_worker_vanished_duplicates_nothing(
    stack: TurnStack,
) -> None:
    ctx = stack.conversation.ctx
    assert ctx.worker is not None
    tenant = await new_tenant(stack)
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    posted = await say(
        stack.conversation,
        tenant.member,
        conversation.id,
        f'/tool {tenant.tool_name} {{"q": "twice"}}',
        start_run=True,
    )
    first = await finished_run(stack, tenant, posted.run.id)
    assert first.status == rpb.RUN_STATUS_COMPLETED
    events_before = await events_of(stack, tenant, conversation.id)
    messages_before = await messages_of(stack, tenant, conversation.id)
    # As if the worker had died before marking the run complete: the lease lapses, the reaper
    # hands the run to another worker, which carries the whole turn out again.
    async with ctx.database.transaction() as session:
        await session.execute(
            update(RunRecord)
            .where(RunRecord.run_id == uuid.UUID(first.id))
            .values(status="running", lease_expires_at=utcnow() - timedelta(minutes=1))
        )
    assert await ctx.runs.reap() == 1
    again = await finished_run(stack, tenant, first.id)
    assert again.status == rpb.RUN_STATUS_COMPLETED and again.attempt_count == 2
    events_after = await events_of(stack, tenant, conversation.id)
    new_kinds = [e.kind for e in events_after[len(events_before) :]]
    assert new_kinds == ["run.requeued", "run.started", "run.completed"]
    assert [m.id for m in await messages_of(stack, tenant, conversation.id)] == [
        m.id for m in messages_before
    ]
    assert stack.http.hits("/echo/twice") == 1
    assert len(await usage_rows(stack, first.id)) == 2
    recorded = await stack.usage.ListUsageRecords(
        upb.ListUsageRecordsRequest(tenant_id=tenant.id), metadata=stack.internal
    )
    assert sorted(r.event_id for r in recorded.records) == [
        f"run:{first.id}:0",
        f"run:{first.id}:1",
    ]
    got = await stack.conversation.conversations.GetConversation(
        cpb.GetConversationRequest(conversation_id=conversation.id),
        metadata=tenant.member,
    )
    usage = await usage_rows(stack, first.id)
    assert got.conversation.usage.total_tokens == sum(u.total_tokens or 0 for u in usage)
    assert got.conversation.usage.requests == 2


async def test_a_tool_call_awaiting_approval_parks_the_run_until_an_admin_decides(
    stack: TurnStack,
) -> None:
    tenant = await new_tenant(stack, tool_needs_approval=True)
    admin = ISSUER.member(tenant.id, "admin")
    outcomes = {}
    for decision, query in (
        (rpb.TOOL_CALL_DECISION_APPROVE, "approved-1"),
        (rpb.TOOL_CALL_DECISION_DENY, "denied-1"),
    ):
        conversation = await new_conversation(
            stack.conversation, tenant.member, agent_id=tenant.agent_id
        )
        posted = await say(
            stack.conversation,
            tenant.member,
            conversation.id,
            f'/tool {tenant.tool_name} {{"q": "{query}"}}',
            start_run=True,
        )
        parked = await finished_run(stack, tenant, posted.run.id)
        assert parked.status == rpb.RUN_STATUS_REQUIRES_ACTION
        [waiting] = [
            e
            for e in await events_of(stack, tenant, conversation.id)
            if e.kind == "run.requires_action"
        ]
        tool_call_id = waiting.payload.fields["tool_call_id"].string_value
        assert stack.http.hits(f"/echo/{query}") == 0
        refused = await failure(
            stack.conversation.runs.DecideToolCall(
                rpb.DecideToolCallRequest(
                    run_id=parked.id, tool_call_id=tool_call_id, decision=decision
                ),
                metadata=tenant.member,
            )
        )
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        decided = await stack.conversation.runs.DecideToolCall(
            rpb.DecideToolCallRequest(
                run_id=parked.id,
                tool_call_id=tool_call_id,
                decision=decision,
                reason="not for this customer",
            ),
            metadata=admin,
        )
        assert decided.run.status == rpb.RUN_STATUS_QUEUED
        done = await finished_run(stack, tenant, parked.id)
        assert done.status == rpb.RUN_STATUS_COMPLETED, done.error
        again = await failure(
            stack.conversation.runs.DecideToolCall(
                rpb.DecideToolCallRequest(
                    run_id=parked.id, tool_call_id=tool_call_id, decision=decision
                ),
                metadata=admin,
            )
        )
        assert rich_error(again).reason == "RUN_NOT_AWAITING_ACTION"
        messages = await messages_of(stack, tenant, conversation.id)
        outcomes[query] = (messages[2].text, messages[3].text, stack.http.hits(f"/echo/{query}"))
        assert len(messages) == 4
    tool_result, answer, hits = outcomes["approved-1"]
    assert "/echo/approved-1" in tool_result and hits == 1
    assert answer.startswith(f"Tool {tenant.tool_name} returned: ")
    tool_result, answer, hits = outcomes["denied-1"]
    assert tool_result == "error: an admin denied the call: not for this customer" and hits == 0


async def test_a_suspended_tenant_or_a_disabled_agent_refuses_the_run_with_a_reason(
    stack: TurnStack,
) -> None:
    asked_before = len(stack.provider.behaviour.requests)
    suspended = await new_tenant(stack)
    await stack.tenants.SuspendTenant(
        tpb.SuspendTenantRequest(id=suspended.id, reason="unpaid invoice"), metadata=stack.internal
    )
    conversation = await new_conversation(
        stack.conversation, suspended.member, agent_id=suspended.agent_id
    )
    posted = await say(stack.conversation, suspended.member, conversation.id, "hi", start_run=True)
    run = await finished_run(stack, suspended, posted.run.id)
    assert (run.status, run.error.reason) == (rpb.RUN_STATUS_FAILED, "TENANT_NOT_ACTIVE")
    failed = [
        e for e in await events_of(stack, suspended, conversation.id) if e.kind == "run.failed"
    ]
    error = failed[0].payload.fields["error"].struct_value
    assert error.fields["reason"].string_value == "TENANT_NOT_ACTIVE"

    tenant = await new_tenant(stack)
    await stack.tooling.agents.ArchiveAgent(
        apb.ArchiveAgentRequest(tenant_id=tenant.id, agent_id=tenant.agent_id),
        metadata=stack.internal,
    )
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    posted = await say(stack.conversation, tenant.member, conversation.id, "hi", start_run=True)
    run = await finished_run(stack, tenant, posted.run.id)
    assert (run.status, run.error.reason) == (rpb.RUN_STATUS_FAILED, "AGENT_NOT_ACTIVE")
    # Neither refused run reached the provider.
    assert len(stack.provider.behaviour.requests) == asked_before


async def test_past_the_compaction_trigger_older_turns_are_sent_as_a_stored_summary(
    stack: TurnStack,
) -> None:
    tenant = await new_tenant(stack)
    conversation = await new_conversation(
        stack.conversation,
        tenant.member,
        agent_id=tenant.agent_id,
        memory=cpb.MemoryStrategy(strategy="compact", compact_trigger_turns=2, compact_keep=1),
    )
    runs = []
    for text in ("my name is Ana", "I owe 40 dollars", "what do I owe"):
        posted = await say(stack.conversation, tenant.member, conversation.id, text, start_run=True)
        run = await finished_run(stack, tenant, posted.run.id)
        assert run.status == rpb.RUN_STATUS_COMPLETED, run.error
        runs.append(run)
    # The third turn passed the trigger (3 user turns > 2): the model was asked for a summary
    # of the first four messages, then answered with it and the last turn only.
    summarizing, answering = stack.provider.behaviour.requests[-2:]
    assert "user: my name is Ana" in summarizing["messages"][-1]["content"]
    assert "assistant: Echo: I owe 40 dollars" in summarizing["messages"][-1]["content"]
    sent = answering["messages"]
    assert sent[0]["content"] == "You are a helpful assistant."
    assert sent[1]["role"] == "system"
    assert sent[1]["content"].startswith("Summary of the conversation so far: Echo: user:")
    assert [m["content"] for m in sent[2:]] == ["what do I owe"]
    async with stack.conversation.ctx.database.reading() as session:
        summaries = list(
            (
                await session.scalars(
                    select(ConversationSummaryRecord).where(
                        ConversationSummaryRecord.conversation_id == uuid.UUID(conversation.id)
                    )
                )
            ).all()
        )
    assert [s.version for s in summaries] == ["through:3"]
    assert summaries[0].summary_text == sent[1]["content"].removeprefix(
        "Summary of the conversation so far: "
    )
    # The summary's model call is the run's usage too, once.
    usage = await usage_rows(stack, runs[-1].id)
    assert sorted(u.response_id or "" for u in usage) == [
        f"{runs[-1].id}:0",
        f"{runs[-1].id}:summary:3",
    ]
    # And it counted against the tenant's limits like a step: reserved under its key and
    # settled with what it used (Reserve is idempotent by request_id: asking again answers the
    # reservation the run made).
    [summary_usage] = [u for u in usage if (u.response_id or "").endswith(":summary:3")]
    async with open_channel(stack.conversation.ctx.settings.tenancy_target) as channel:
        reserved = await LimitsServiceStub(channel).Reserve(
            lpb.ReserveRequest(
                tenant_id=tenant.id, tokens=1, request_id=f"{runs[-1].id}:summary:3"
            ),
            metadata=stack.internal,
        )
    assert reserved.reservation.state == lpb.RESERVATION_STATE_SETTLED
    assert reserved.reservation.actual_tokens == summary_usage.total_tokens
    # The compaction is a subtask of the run's task: its own status, duration and usage.
    run_task, [compaction] = await tasks_of(stack, runs[-1].id)
    assert compaction.parent_task_id == run_task.id and run_task.parent_task_id is None
    assert compaction.task_type == "conversation_compaction"
    assert compaction.task_key == f"{runs[-1].id}:summary:3"
    assert compaction.status == TaskStatus.COMPLETED and compaction.retry_count == 0
    assert compaction.duration_ms is not None and compaction.duration_ms >= 0
    assert compaction.completed_at is not None
    assert compaction.tokens_used == summary_usage.total_tokens
    assert compaction.cost_picos == summary_usage.cost_picos
    assert compaction.output_data is not None
    assert compaction.output_data["summary_version"] == "through:3"
    assert compaction.input_data is not None and compaction.input_data["messages"] == 4
    # The run's task sums all its model calls, the subtask's included.
    assert run_task.status == TaskStatus.COMPLETED
    assert run_task.tokens_used == sum(u.total_tokens or 0 for u in usage)
    # ListRunTasks reads them, the run's own first, the subtask naming it as its parent.
    listed = await stack.conversation.runs.ListRunTasks(
        rpb.ListRunTasksRequest(run_id=runs[-1].id), metadata=tenant.member
    )
    assert [(t.id, t.parent_task_id, t.task_type) for t in listed.tasks] == [
        (str(run_task.id), "", "conversation_run"),
        (str(compaction.id), str(run_task.id), "conversation_compaction"),
    ]
    assert listed.tasks[1].status == rpb.TASK_STATUS_COMPLETED
    assert listed.tasks[1].tokens_used == compaction.tokens_used
    assert listed.tasks[1].duration_ms == compaction.duration_ms
    assert listed.tasks[1].input["summary_version"] == "through:3"
    first_page = await stack.conversation.runs.ListRunTasks(
        rpb.ListRunTasksRequest(run_id=runs[-1].id, page_size=1), metadata=tenant.member
    )
    second_page = await stack.conversation.runs.ListRunTasks(
        rpb.ListRunTasksRequest(
            run_id=runs[-1].id, page_size=1, page_token=first_page.next_page_token
        ),
        metadata=tenant.member,
    )
    assert [t.id for t in [*first_page.tasks, *second_page.tasks]] == [t.id for t in listed.tasks]
    stranger = ISSUER.member(str(uuid.uuid4()), "member")
    missing = await failure(
        stack.conversation.runs.ListRunTasks(
            rpb.ListRunTasksRequest(run_id=runs[-1].id), metadata=stranger
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    # The runs before the trigger had no subtask.
    for earlier in runs[:-1]:
        assert (await tasks_of(stack, earlier.id))[1] == []


async def tasks_of(stack: TurnStack, run_id: str) -> tuple[AgentTaskRecord, list[AgentTaskRecord]]:
    """The run's own task and its subtasks."""
    async with stack.conversation.ctx.database.reading() as session:
        rows = list(
            (
                await session.scalars(
                    select(AgentTaskRecord)
                    .where(AgentTaskRecord.run_id == uuid.UUID(run_id))
                    .order_by(AgentTaskRecord.created_at)
                )
            ).all()
        )
    [own] = [row for row in rows if row.parent_task_id is None]
    return own, [row for row in rows if row.parent_task_id is not None]


def is_summary_request(messages: list[dict[str, Any]]) -> bool:
    return str(messages[0].get("content", "")).startswith("Summarize this conversation")


async def compacting_conversation(stack: TurnStack, tenant: Tenant) -> str:
    """A conversation that compacts from its third turn on, two turns answered already."""
    conversation = await new_conversation(
        stack.conversation,
        tenant.member,
        agent_id=tenant.agent_id,
        memory=cpb.MemoryStrategy(strategy="compact", compact_trigger_turns=2, compact_keep=1),
    )
    for text in ("my name is Ana", "I owe 40 dollars"):
        posted = await say(stack.conversation, tenant.member, conversation.id, text, start_run=True)
        assert (await finished_run(stack, tenant, posted.run.id)).status == rpb.RUN_STATUS_COMPLETED
    return conversation.id


async def test_a_compaction_repeated_after_its_worker_hung_is_one_subtask(
    stack: TurnStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = stack.conversation.ctx
    assert ctx.worker is not None
    tenant = await new_tenant(stack)
    conversation_id = await compacting_conversation(stack, tenant)
    # The first lease hangs in the summary's model call (its subtask started); the next goes on.
    hung, release = asyncio.Event(), asyncio.Event()
    complete = ChatProvider.complete

    async def hanging_once(self: ChatProvider, **call: Any) -> Any:
        if is_summary_request(call["messages"]) and not hung.is_set():
            hung.set()
            await release.wait()
        return await complete(self, **call)

    monkeypatch.setattr(ChatProvider, "complete", hanging_once)
    posted = await say(
        stack.conversation, tenant.member, conversation_id, "what do I owe", start_run=True
    )
    await eventually(lambda: is_set(hung), "the first lease to ask for the summary")
    _, [started] = await tasks_of(stack, posted.run.id)
    assert started.status == TaskStatus.RUNNING and started.retry_count == 0
    # The lease lapses (a hung worker); the reaper hands the run to another lease.
    async with ctx.database.transaction() as session:
        await session.execute(
            update(RunRecord)
            .where(RunRecord.run_id == uuid.UUID(posted.run.id))
            .values(lease_expires_at=utcnow() - timedelta(minutes=1))
        )
    assert await ctx.runs.reap() == 1
    run = await finished_run(stack, tenant, posted.run.id)
    assert run.status == rpb.RUN_STATUS_COMPLETED and run.attempt_count == 2
    # The hung lease wakes up late: its writes are refused (or its heartbeat stopped it).
    release.set()
    await eventually(lambda: worker_idle(stack), "the hung lease to end")
    run_task, [compaction] = await tasks_of(stack, posted.run.id)
    assert compaction.id == started.id and compaction.parent_task_id == run_task.id
    assert compaction.status == TaskStatus.COMPLETED and compaction.retry_count == 1
    assert compaction.output_data is not None and compaction.output_data["attempts"] == 2
    [summary_usage] = [
        u for u in await usage_rows(stack, posted.run.id) if u.response_id == compaction.task_key
    ]
    assert compaction.tokens_used == summary_usage.total_tokens
    async with ctx.database.reading() as session:
        versions = (
            await session.scalars(
                select(ConversationSummaryRecord.version).where(
                    ConversationSummaryRecord.conversation_id == uuid.UUID(conversation_id)
                )
            )
        ).all()
    assert list(versions) == ["through:3"]


async def is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def worker_idle(stack: TurnStack) -> bool:
    worker = stack.conversation.ctx.worker
    return worker is not None and worker.in_flight == 0


async def test_a_failed_compaction_is_a_failed_subtask_of_the_failed_run(
    stack: TurnStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await new_tenant(stack)
    conversation_id = await compacting_conversation(stack, tenant)
    complete = ChatProvider.complete

    async def refusing_summaries(self: ChatProvider, **call: Any) -> Any:
        if is_summary_request(call["messages"]):
            raise ProviderError("PROVIDER_BAD_REQUEST", "the summary was refused", status=400)
        return await complete(self, **call)

    monkeypatch.setattr(ChatProvider, "complete", refusing_summaries)
    posted = await say(
        stack.conversation, tenant.member, conversation_id, "what do I owe", start_run=True
    )
    run = await finished_run(stack, tenant, posted.run.id)
    assert run.status == rpb.RUN_STATUS_FAILED
    assert "could not be compacted" in run.error.message
    run_task, [compaction] = await tasks_of(stack, posted.run.id)
    assert run_task.status == TaskStatus.FAILED
    assert compaction.parent_task_id == run_task.id
    assert compaction.status == TaskStatus.FAILED
    assert compaction.error_message == "the summary was refused"
    assert compaction.duration_ms is not None and compaction.tokens_used == 0
