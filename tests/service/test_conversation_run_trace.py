"""A run keeps one trace across its leases, on SQLite and on PostgreSQL: parked for a tool
call's approval and resumed by another lease, its usage rows in telemetry (one per model call)
all carry the trace the run was stamped with."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import runs_pb2 as rpb
from quarterdeck.telemetry.v1 import usage_pb2 as upb
from services.conversation.runs import turn
from tests.support.conversation import new_conversation, say
from tests.support.conversation_turn import ISSUER, TurnStack, new_tenant, turn_stack
from tests.support.stack import Databases
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[TurnStack]:
    async with turn_stack(databases, backend, "run-trace") as built:
        yield built


async def test_a_run_resumed_after_an_approval_keeps_its_usage_under_its_one_trace(
    stack: TurnStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recording spans for the turn alone (the process installs no tracer provider in tests).
    monkeypatch.setattr(turn, "tracer", TracerProvider().get_tracer("test"))
    tenant = await new_tenant(stack, tool_needs_approval=True)
    admin = ISSUER.member(tenant.id, "admin")
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    posted = await say(
        stack.conversation,
        tenant.member,
        conversation.id,
        f'/tool {tenant.tool_name} {{"q": "traced"}}',
        start_run=True,
    )
    run_id = posted.run.id

    async def run_in(*statuses: int) -> bool:
        run = await stack.conversation.runs.GetRun(
            rpb.GetRunRequest(run_id=run_id), metadata=tenant.member
        )
        return run.run.status in statuses

    await eventually(lambda: run_in(rpb.RUN_STATUS_REQUIRES_ACTION), "the run to wait")
    listed = await stack.conversation.events.ListEvents(
        epb.ListEventsRequest(conversation_id=conversation.id, page_size=100),
        metadata=tenant.member,
    )
    [waiting] = [e for e in listed.events if e.kind == "run.requires_action"]
    await stack.conversation.runs.DecideToolCall(
        rpb.DecideToolCallRequest(
            run_id=run_id,
            tool_call_id=waiting.payload["tool_call_id"],
            decision=rpb.TOOL_CALL_DECISION_APPROVE,
        ),
        metadata=admin,
    )
    await eventually(lambda: run_in(rpb.RUN_STATUS_COMPLETED), "the resumed run to complete")
    run = (
        await stack.conversation.runs.GetRun(
            rpb.GetRunRequest(run_id=run_id), metadata=tenant.member
        )
    ).run
    assert len(run.trace_id) == 32
    rows = (
        await stack.usage.ListUsageRecords(
            upb.ListUsageRecordsRequest(tenant_id=tenant.id), metadata=stack.internal
        )
    ).records
    mine = [row for row in rows if row.command_id == run_id]
    assert len(mine) == 2  # the call asking for the tool, the answer after it ran
    assert {row.trace_id for row in mine} == {run.trace_id}
    assert len({row.span_id for row in mine}) == 2  # each lease's own span
