"""Runs carried out by separate `quarterdeck worker` processes, and killed with SIGKILL.

The platform a turn crosses runs in-process (tests.support.conversation_turn) with the
conversation service's own workers off; `quarterdeck worker` processes, started here against
the same conversation database, lease the runs. A worker told to stop at a phase (setting
run_pause_at) writes its pid to a file there and waits; the test kills it with SIGKILL at that
point, starts another, which re-queues the run once its lease lapsed and completes it: once, with
no ledger event, tool execution, message, usage row or counter duplicated (PostgreSQL, each
phase). `quarterdeck up --test-provider` starts the local test provider as a process of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from sqlalchemy import func, select

from quarterdeck.conversation.v1 import conversations_pb2 as cpb
from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from quarterdeck.conversation.v1 import runs_pb2 as rpb
from quarterdeck.telemetry.v1 import usage_pb2 as upb
from quarterdeck.tenancy.v1 import billing_pb2 as bpb
from services.conversation.events.models import LedgerEventRecord, RunEventRecord
from services.conversation.runs import phases
from services.conversation.runs.models import AgentTaskRecord, RunUsageRecord, TaskStatus
from services.supervisor import Platform
from tests.support.conversation import new_conversation, say
from tests.support.conversation_turn import (
    Tenant,
    TurnStack,
    events_of,
    messages_of,
    new_tenant,
    turn_stack,
)
from tests.support.stack import Databases
from tests.support.waiting import eventually
from tests.support.worker_processes import worker_process

#: Short leases: a killed worker's run is re-queued about a second later (by another worker).
LEASE_SECONDS = 1.0
#: A worker process on a loaded machine takes a while to import and connect.
START_WITHIN = 120.0


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[TurnStack]:
    # On PostgreSQL, followers here learn of a worker's appends by NOTIFY: polls are rare.
    follow_poll = 60 if backend == "postgresql" else 1.0
    async with turn_stack(
        databases,
        backend,
        "workers",
        run_workers_in_process=False,
        follow_poll_seconds=follow_poll,
    ) as built:
        assert built.conversation.ctx.worker is None  # the worker processes do it all
        yield built


async def run_of(stack: TurnStack, tenant: Tenant, run_id: str) -> rpb.Run:
    return (
        await stack.conversation.runs.GetRun(
            rpb.GetRunRequest(run_id=run_id), metadata=tenant.member
        )
    ).run


async def completed(stack: TurnStack, tenant: Tenant, run_id: str) -> rpb.Run:
    async def finished() -> bool:
        run = await run_of(stack, tenant, run_id)
        return run.status in (rpb.RUN_STATUS_COMPLETED, rpb.RUN_STATUS_FAILED)

    await eventually(finished, f"run {run_id} to finish", within=START_WITHIN)
    run = await run_of(stack, tenant, run_id)
    assert run.status == rpb.RUN_STATUS_COMPLETED, run.error
    return run


async def test_a_worker_process_carries_out_a_run_with_a_tool_call(
    stack: TurnStack, tmp_path: Path
) -> None:
    tenant = await new_tenant(stack)
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    async with worker_process(stack, tmp_path / "worker.log"):
        posted = await say(
            stack.conversation,
            tenant.member,
            conversation.id,
            f'/tool {tenant.tool_name} {{"q": "from-a-worker"}}',
            start_run=True,
        )
        run = await completed(stack, tenant, posted.run.id)
    assert run.attempt_count == 1
    messages = await messages_of(stack, tenant, conversation.id)
    assert [m.role for m in messages] == [
        mpb.MESSAGE_ROLE_USER,
        mpb.MESSAGE_ROLE_ASSISTANT,
        mpb.MESSAGE_ROLE_TOOL,
        mpb.MESSAGE_ROLE_ASSISTANT,
    ]
    assert messages[-1].text.startswith(f"Tool {tenant.tool_name} returned:")
    assert stack.http.hits("/echo/from-a-worker") == 1
    async with stack.conversation.ctx.database.reading() as session:
        usage = list(
            (
                await session.scalars(select(RunUsageRecord).where(RunUsageRecord.run_id == run.id))
            ).all()
        )
    await assert_recorded_once(stack, tenant, run, usage)


async def test_on_postgresql_a_queued_run_and_its_events_are_announced_by_notify(
    stack: TurnStack, backend: str, tmp_path: Path
) -> None:
    """A worker that never polls claims a run queued after it started, and a follower in the
    conversation process (which polls once a minute) sees the worker's events: both woken by
    LISTEN/NOTIFY."""
    if backend != "postgresql":
        pytest.skip("SQLite has no NOTIFY: workers and followers poll there")
    listener = stack.conversation.ctx.listener
    assert listener is not None
    await asyncio.wait_for(listener.listening.wait(), START_WITHIN)
    tenant = await new_tenant(stack)
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    log = tmp_path / "worker.log"
    async with worker_process(
        stack, log, run_worker_interval_seconds=600, run_reaper_interval_seconds=0
    ):

        async def listening() -> bool:
            return log.exists() and "listening on" in log.read_text()

        await eventually(listening, "the worker to LISTEN", within=START_WITHIN)
        seen: list[epb.LedgerEvent] = []
        call = stack.conversation.events.FollowEvents(
            epb.FollowEventsRequest(conversation_id=conversation.id), metadata=tenant.member
        )

        async def read() -> None:
            async for response in call:
                seen.append(response.event)

        reader = asyncio.ensure_future(read())
        try:
            posted = await say(
                stack.conversation, tenant.member, conversation.id, "hello", start_run=True
            )

            async def followed_to_the_end() -> bool:
                return any(e.kind == "run.completed" for e in seen)

            await eventually(followed_to_the_end, "the follower to see the run complete")
        finally:
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    run = await run_of(stack, tenant, posted.run.id)
    assert run.status == rpb.RUN_STATUS_COMPLETED and run.attempt_count == 1
    assert [e.sequence_number for e in seen] == sorted({e.sequence_number for e in seen})


def _payload(event: epb.LedgerEvent) -> str:
    return json.dumps(MessageToDict(event.payload), sort_keys=True)


@pytest.mark.parametrize("phase", phases.PHASES)
async def test_a_worker_killed_at_each_phase_leaves_a_run_completed_once(
    stack: TurnStack, backend: str, tmp_path: Path, phase: str
) -> None:
    if backend != "postgresql":
        pytest.skip("kill -9 per phase is proven on PostgreSQL")
    tenant = await new_tenant(stack)
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    query = f"killed-{phase.replace('_', '-')}"
    posted = await say(
        stack.conversation,
        tenant.member,
        conversation.id,
        f'/tool {tenant.tool_name} {{"q": "{query}"}}',
        start_run=True,
    )
    pause_file = tmp_path / "paused"
    # The first worker's lease is short, so it lapses soon after the kill; it reaps nothing
    # itself, so however late its heartbeats on a loaded machine, it keeps its run until
    # killed. The second one takes a long lease: it reaps the first's run and keeps it.
    async with worker_process(
        stack,
        tmp_path / "first.log",
        run_pause_at=phase,
        run_pause_file=pause_file,
        run_lease_seconds=LEASE_SECONDS,
        run_reaper_interval_seconds=0,
    ) as first:

        async def paused() -> bool:
            assert first.returncode is None, (tmp_path / "first.log").read_text()
            return pause_file.exists() and pause_file.read_text().endswith("\n")

        await eventually(paused, f"the worker to reach phase {phase}", within=START_WITHIN)
        pid, run_id = pause_file.read_text().split()
        assert (int(pid), run_id) == (first.pid, posted.run.id)
        first.kill()  # SIGKILL: no finally, no lease given back
        await first.wait()
    assert (await run_of(stack, tenant, posted.run.id)).status == rpb.RUN_STATUS_RUNNING
    async with worker_process(stack, tmp_path / "second.log"):
        run = await completed(stack, tenant, posted.run.id)
    assert run.attempt_count == 2

    # Messages: the user's, the tool call, its result, the answer; each once.
    messages = await messages_of(stack, tenant, conversation.id)
    assert [m.role for m in messages] == [
        mpb.MESSAGE_ROLE_USER,
        mpb.MESSAGE_ROLE_ASSISTANT,
        mpb.MESSAGE_ROLE_TOOL,
        mpb.MESSAGE_ROLE_ASSISTANT,
    ]
    # The tool ran once.
    assert stack.http.hits(f"/echo/{query}") == 1
    # The ledger: every event once, but the run's start (one per lease) and its re-queue.
    events = [e for e in await events_of(stack, tenant, conversation.id) if e.run_id == run.id]
    kinds = collections.Counter(e.kind for e in events)
    assert kinds["run.started"] == 2
    assert kinds["run.requeued"] == 1
    assert kinds["run.completed"] == 1
    assert kinds["response.created"] == kinds["response.completed"] == 2
    repeated = collections.Counter(
        (e.kind, e.response_id, e.tool_call_id, _payload(e))
        for e in events
        if e.kind not in ("run.started", "run.requeued")
    )
    assert [key for key, count in repeated.items() if count > 1] == []
    deltas = "".join(
        e.payload.fields["delta"].string_value
        for e in events
        if e.kind == "response.output_text.delta"
    )
    assert deltas.split() == messages[-1].text.split()
    async with stack.conversation.ctx.database.reading() as session:
        keys = (
            await session.execute(
                select(LedgerEventRecord.dedupe_key, func.count())
                .where(
                    LedgerEventRecord.conversation_id == uuid.UUID(conversation.id),
                    LedgerEventRecord.dedupe_key.is_not(None),
                )
                .group_by(LedgerEventRecord.dedupe_key)
                .having(func.count() > 1)
            )
        ).all()
        usage = list(
            (
                await session.scalars(select(RunUsageRecord).where(RunUsageRecord.run_id == run.id))
            ).all()
        )
    assert keys == []
    # Usage: one row per model call, recorded once in telemetry, counted once.
    assert sorted(u.response_id or "" for u in usage) == [f"{run.id}:0", f"{run.id}:1"]
    recorded = await stack.usage.ListUsageRecords(
        upb.ListUsageRecordsRequest(tenant_id=tenant.id), metadata=stack.internal
    )
    assert sorted(r.event_id for r in recorded.records) == [f"run:{run.id}:0", f"run:{run.id}:1"]
    got = await stack.conversation.conversations.GetConversation(
        cpb.GetConversationRequest(conversation_id=conversation.id), metadata=tenant.member
    )
    assert got.conversation.usage.requests == 2
    assert got.conversation.usage.total_tokens == sum(u.total_tokens or 0 for u in usage)
    await assert_recorded_once(stack, tenant, run, usage)


async def assert_recorded_once(
    stack: TurnStack, tenant: Tenant, run: rpb.Run, usage: list[RunUsageRecord]
) -> None:
    """The run's task record, its run items and the tenant's usage counters: each once."""
    async with stack.conversation.ctx.database.reading() as session:
        tasks = list(
            (
                await session.scalars(
                    select(AgentTaskRecord).where(AgentTaskRecord.run_id == uuid.UUID(run.id))
                )
            ).all()
        )
        items = list(
            (
                await session.scalars(
                    select(RunEventRecord)
                    .where(RunEventRecord.workflow_run_id == run.id)
                    .order_by(RunEventRecord.sequence_no)
                )
            ).all()
        )
    assert len(tasks) == 1
    task = tasks[0]
    assert task.status == TaskStatus.COMPLETED
    assert task.retry_count == run.attempt_count - 1
    assert task.tokens_used == sum(u.total_tokens or 0 for u in usage) > 0
    assert task.duration_ms is not None and task.duration_ms >= 0
    assert [i.run_item_type for i in items] == [
        "tool_call_item",
        "tool_call_output_item",
        "message_output_item",
    ]
    assert items[0].tool_call_id == items[1].tool_call_id
    counters = await stack.billing.GetUsage(
        bpb.GetUsageRequest(tenant_id=tenant.id), metadata=stack.internal
    )
    (counted,) = counters.tenants
    assert counted.requests == len(usage) == 2
    assert counted.input_tokens == sum(u.input_tokens or 0 for u in usage)
    assert counted.output_tokens == sum(u.output_tokens or 0 for u in usage)


async def test_up_starts_the_test_provider_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QD_CONVERSATION_TEST_PROVIDER_BASE_URL", raising=False)
    plain = Platform(tmp_path, "127.0.0.1", 50051, 8080)
    assert "QD_CONVERSATION_TEST_PROVIDER_BASE_URL" not in plain.environment()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    platform = Platform(tmp_path, "127.0.0.1", 50051, 8080, test_provider_port=port)
    env = platform.environment()
    assert env["QD_CONVERSATION_TEST_PROVIDER_BASE_URL"] == f"http://127.0.0.1:{port}/v1"
    # The supervisor's own start of the process, in a process with no gRPC threads (a fork
    # from this one, which has them, may abort in the child before its exec).
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from services.supervisor import TEST_PROVIDER_PROCESS, Platform\n"
        "async def main():\n"
        f"    p = Platform(Path({str(tmp_path)!r}), '127.0.0.1', 50051, 8080, "
        f"test_provider_port={port})\n"
        "    await p._start(TEST_PROVIDER_PROCESS, p.environment())\n"
        "    print('ready', p.test_provider_url, flush=True)\n"
        "    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)\n"
        "    await p._stop_all()\n"
        "asyncio.run(main())\n"
    )
    supervisor = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith(("QD_", "OTEL_"))},
    )
    assert supervisor.stdin is not None and supervisor.stdout is not None
    try:
        line = ""
        while not line.startswith("ready "):  # the provider's own banner comes first
            line = (await asyncio.wait_for(supervisor.stdout.readline(), START_WITHIN)).decode()
            assert line, "the supervisor script ended early"
        url = line.removeprefix("ready ")
        assert url.strip() == f"http://127.0.0.1:{port}/v1"
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.post(
                f"{url.strip()}/chat/completions",
                json={"model": "echo", "messages": [{"role": "user", "content": "hello there"}]},
            )
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["content"] == "Echo: hello there"
    finally:
        supervisor.stdin.close()
        await asyncio.wait_for(supervisor.wait(), 30)
    assert supervisor.returncode == 0
