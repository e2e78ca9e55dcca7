"""The run queue and its workers over a real in-process conversation service, on SQLite and on
PostgreSQL: runs queued with their user message under a multitask strategy, one active run per
conversation, claims fair across tenants, leases kept by heartbeats, a fencing token that stops
a worker which lost its lease from writing anything, the reaper's re-queue and attempt limit,
and idempotent cancel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import func, select, update

from quarterdeck.conversation.v1 import conversations_pb2 as cpb
from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from quarterdeck.conversation.v1 import runs_pb2 as pb
from services.conversation.conversations.models import ConversationRecord
from services.conversation.events.ledger import NewEvent
from services.conversation.events.models import LedgerEventRecord
from services.conversation.messages.models import MessageRecord, MessageRole
from services.conversation.messages.store import NewMessage
from services.conversation.runs.fencing import LeaseLost
from services.conversation.runs.models import RunRecord
from services.conversation.runs.queue import ClaimedRun
from services.conversation.runs.worker import RunWorker
from shared.db_types import utcnow
from shared.errors import FailedPrecondition
from tests.support.conversation import (
    ConversationStack,
    conversation_service,
    new_conversation,
    say,
)
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually

ISSUER = TestIssuer()
MAX_ATTEMPTS = 2


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[ConversationStack]:
    async with conversation_service(
        databases,
        backend,
        "runs",
        ISSUER,
        run_max_attempts=MAX_ATTEMPTS,
        # Heartbeats every 0.5 s: a lost lease is noticed quickly; expiry is set by the tests.
        run_lease_seconds=1.5,
    ) as service:
        yield service


def member(tenant: str | None = None) -> list[tuple[str, str]]:
    return ISSUER.member(tenant or str(uuid.uuid4()), "member")


async def ask(
    stack: ConversationStack,
    caller: list[tuple[str, str]],
    conversation_id: str,
    text: str = "what do I owe?",
    strategy: int = pb.MULTITASK_STRATEGY_UNSPECIFIED,
) -> pb.Run:
    response = await say(
        stack, caller, conversation_id, text, start_run=True, multitask_strategy=strategy
    )
    return response.run


async def get_run(stack: ConversationStack, caller: list[tuple[str, str]], run_id: str) -> pb.Run:
    return (await stack.runs.GetRun(pb.GetRunRequest(run_id=run_id), metadata=caller)).run


async def expire_lease(stack: ConversationStack, run_id: uuid.UUID) -> None:
    """What the clock would do to a worker that stopped heartbeating."""
    async with stack.ctx.database.transaction() as session:
        await session.execute(
            update(RunRecord)
            .where(RunRecord.run_id == run_id)
            .values(lease_expires_at=utcnow() - timedelta(hours=1))
        )


async def claim_of(stack: ConversationStack, run_id: str, worker: str = "w") -> ClaimedRun:
    """Claim until the given run is leased (runs of other tests may be claimable too)."""
    for _ in range(200):
        claimed = await stack.ctx.runs.claim(worker)
        assert claimed is not None, f"run {run_id} never became claimable"
        if str(claimed.run_id) == run_id:
            return claimed
    raise AssertionError(f"run {run_id} was not claimed")


async def drain_queue(stack: ConversationStack) -> None:
    """Finish what earlier tests left claimable, so a test sees only its own runs."""
    while (leftover := await stack.ctx.runs.claim("drain")) is not None:
        await stack.ctx.runs.finish(leftover.fence)


async def last_cursor(stack: ConversationStack, conversation_id: str) -> int | None:
    async with stack.ctx.database.reading() as session:
        return await session.scalar(
            select(ConversationRecord.last_event_sequence).where(
                ConversationRecord.id == uuid.UUID(conversation_id)
            )
        )


async def ledger_rows(stack: ConversationStack, conversation_id: str) -> list[LedgerEventRecord]:
    async with stack.ctx.database.reading() as session:
        return list(
            (
                await session.scalars(
                    select(LedgerEventRecord)
                    .where(LedgerEventRecord.conversation_id == uuid.UUID(conversation_id))
                    .order_by(LedgerEventRecord.event_id)
                )
            ).all()
        )


async def test_a_user_message_queues_a_run_under_the_multitask_strategy(
    stack: ConversationStack,
) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    first = await ask(stack, caller, conversation.id)
    assert first.status == pb.RUN_STATUS_QUEUED and first.message_position == 0
    assert first.payload["agent_id"] == conversation.agent_id
    rejected = await failure(
        ask(stack, caller, conversation.id, "again?", pb.MULTITASK_STRATEGY_REJECT)
    )
    assert rejected.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(rejected).reason == "RUN_IN_PROGRESS"
    assert rich_error(rejected).metadata["run_id"] == first.id
    queued = await ask(stack, caller, conversation.id, "and this", pb.MULTITASK_STRATEGY_ENQUEUE)
    latest = await ask(stack, caller, conversation.id, "no, this", pb.MULTITASK_STRATEGY_INTERRUPT)
    assert (await get_run(stack, caller, first.id)).status == pb.RUN_STATUS_CANCELLED
    assert (await get_run(stack, caller, queued.id)).status == pb.RUN_STATUS_CANCELLED
    listed = await stack.runs.ListRuns(
        pb.ListRunsRequest(conversation_id=conversation.id), metadata=caller
    )
    assert [r.id for r in listed.runs] == [latest.id, queued.id, first.id]
    got = await stack.conversations.GetConversation(
        cpb.GetConversationRequest(conversation_id=conversation.id),
        metadata=caller,
    )
    assert got.conversation.last_run_id == latest.id
    kinds = [row.kind for row in await ledger_rows(stack, conversation.id)]
    assert kinds.count("run.queued") == 3 and kinds.count("run.cancelled") == 2
    not_user = await failure(
        say(
            stack,
            ISSUER.member(got.conversation.tenant_id, "admin"),
            conversation.id,
            "be brief",
            role=mpb.MESSAGE_ROLE_SYSTEM,
            start_run=True,
        )
    )
    assert "start_run" in rich_error(not_user).field_violations
    no_agent = await new_conversation(stack, caller, agent_id="")
    refused = await failure(ask(stack, caller, no_agent.id))
    assert rich_error(refused).reason == "CONVERSATION_HAS_NO_AGENT"


async def test_one_active_run_per_conversation(stack: ConversationStack) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    first = await ask(stack, caller, conversation.id, "one")
    second = await ask(stack, caller, conversation.id, "two")
    claimed = await claim_of(stack, first.id)
    # The second run waits for the first however often workers ask.
    for _ in range(3):
        other = await stack.ctx.runs.claim("another worker")
        assert other is None or other.conversation_id != claimed.conversation_id
    await stack.ctx.runs.finish(claimed.fence)
    after = await claim_of(stack, second.id)
    assert after.attempt == 1 and after.fence.lease_generation == 1
    await stack.ctx.runs.finish(after.fence)
    assert (await get_run(stack, caller, first.id)).status == pb.RUN_STATUS_COMPLETED


async def test_claims_are_fair_across_tenants(stack: ConversationStack) -> None:
    await drain_queue(stack)
    busy_tenant, quiet_tenant = str(uuid.uuid4()), str(uuid.uuid4())
    busy, quiet = member(busy_tenant), member(quiet_tenant)
    backlog = []
    for i in range(4):
        conversation = await new_conversation(stack, busy)
        backlog.append(await ask(stack, busy, conversation.id, f"busy {i}"))
    late = await ask(stack, quiet, (await new_conversation(stack, quiet)).id, "quiet")
    order = []
    for _ in range(3):
        claimed = await stack.ctx.runs.claim("fair")
        assert claimed is not None
        order.append(str(claimed.run_id))
    # The busy tenant's oldest first; then the quiet tenant, though queued last, goes before
    # the rest of the busy tenant's backlog.
    assert order == [backlog[0].id, late.id, backlog[1].id]


async def test_a_worker_that_lost_its_lease_can_write_nothing(stack: ConversationStack) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    run = await ask(stack, caller, conversation.id)
    stale = await claim_of(stack, run.id, "worker-a")
    writes = stack.ctx.writes
    await writes.events(stale, [NewEvent("response.output_text.delta", {"delta": "Hel"})])
    await expire_lease(stack, stale.run_id)
    assert await stack.ctx.runs.reap() >= 1
    assert (await get_run(stack, caller, run.id)).status == pb.RUN_STATUS_QUEUED
    fresh = await claim_of(stack, run.id, "worker-b")
    assert fresh.fence.lease_generation == stale.fence.lease_generation + 1
    assert fresh.attempt == 2
    before = await ledger_rows(stack, conversation.id)

    with pytest.raises(LeaseLost):
        await writes.events(stale, [NewEvent("response.output_text.delta", {"delta": "lo"})])
    with pytest.raises(LeaseLost):
        await writes.message(stale, NewMessage(MessageRole.ASSISTANT, "Hello", "Hello"))
    with pytest.raises(LeaseLost):
        await stack.ctx.runs.finish(stale.fence)
    assert not await stack.ctx.runs.heartbeat(stale.fence)
    assert [r.id for r in await ledger_rows(stack, conversation.id)] == [r.id for r in before]
    # A refused write took no cursor either (the stale lease's batch updates the cursor before
    # its fence check: rolled back with it), so the ledger's cursors stay without a gap.
    assert await last_cursor(stack, conversation.id) == before[-1].event_id

    # The current lease writes; a step repeated after a crash is stored once.
    step = NewEvent("response.output_text.delta", {"delta": "Hello"}, dedupe_key="step-1")
    once = await writes.events(fresh, [step])
    again = await writes.events(fresh, [step])
    assert [e.event_id for e in once] == [e.event_id for e in again]
    answer = NewMessage(MessageRole.ASSISTANT, "Hello", "Hello", write_key=f"{run.id}:answer")
    assert (await writes.message(fresh, answer)).id == (await writes.message(fresh, answer)).id
    await stack.ctx.runs.finish(fresh.fence)
    cursors = [r.event_id for r in await ledger_rows(stack, conversation.id)]
    assert cursors == list(range(1, len(cursors) + 1))
    assert await last_cursor(stack, conversation.id) == cursors[-1]
    done = await get_run(stack, caller, run.id)
    assert done.status == pb.RUN_STATUS_COMPLETED
    async with stack.ctx.database.reading() as session:
        assistants = await session.scalar(
            select(func.count())
            .select_from(MessageRecord)
            .where(
                MessageRecord.conversation_id == uuid.UUID(conversation.id),
                MessageRecord.role == MessageRole.ASSISTANT,
            )
        )
    assert assistants == 1


async def test_the_reaper_fails_a_run_after_its_last_attempt(stack: ConversationStack) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    run = await ask(stack, caller, conversation.id)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = await claim_of(stack, run.id)
        assert claimed.attempt == attempt
        await expire_lease(stack, claimed.run_id)
        await stack.ctx.runs.reap()
    failed = await get_run(stack, caller, run.id)
    assert failed.status == pb.RUN_STATUS_FAILED
    assert failed.error.reason == "LEASE_EXPIRED" and failed.attempt_count == MAX_ATTEMPTS
    kinds = [row.kind for row in await ledger_rows(stack, conversation.id)]
    assert kinds.count("run.requeued") == MAX_ATTEMPTS - 1 and kinds[-1] == "run.failed"


async def test_cancel_is_idempotent_and_fences_off_the_worker(stack: ConversationStack) -> None:
    caller = member()
    conversation = await new_conversation(stack, caller)
    queued = await ask(stack, caller, conversation.id)
    cancelled = await stack.runs.CancelRun(
        pb.CancelRunRequest(run_id=queued.id, reason="changed my mind"), metadata=caller
    )
    again = await stack.runs.CancelRun(pb.CancelRunRequest(run_id=queued.id), metadata=caller)
    assert cancelled.run.status == again.run.status == pb.RUN_STATUS_CANCELLED
    assert again.run.cancel_time == cancelled.run.cancel_time
    assert again.run.error.message == "changed my mind"

    running = await ask(stack, caller, conversation.id, "second try")
    claimed = await claim_of(stack, running.id)
    await stack.runs.CancelRun(pb.CancelRunRequest(run_id=running.id), metadata=caller)
    with pytest.raises(LeaseLost):
        await stack.ctx.writes.events(claimed, [NewEvent("response.created", {})])

    finished = await ask(stack, caller, conversation.id, "third")
    done = await claim_of(stack, finished.id)
    await stack.ctx.runs.finish(done.fence)
    kept = await stack.runs.CancelRun(pb.CancelRunRequest(run_id=finished.id), metadata=caller)
    assert kept.run.status == pb.RUN_STATUS_COMPLETED

    foreign = await failure(
        stack.runs.CancelRun(pb.CancelRunRequest(run_id=finished.id), metadata=member())
    )
    assert foreign.code() == grpc.StatusCode.NOT_FOUND
    viewer = await failure(
        stack.runs.CancelRun(
            pb.CancelRunRequest(run_id=finished.id),
            metadata=ISSUER.member(conversation.tenant_id, "viewer"),
        )
    )
    assert viewer.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_worker_carries_runs_out_and_a_failing_turn_fails_its_run(
    stack: ConversationStack,
) -> None:
    async def turn(run: ClaimedRun) -> bool:
        if run.payload["message_position"] == 2:  # the second user message
            raise FailedPrecondition("the agent is disabled", reason="AGENT_DISABLED")
        await stack.ctx.writes.events(
            run, [NewEvent("response.output_text.delta", {"delta": "Hi"}, dedupe_key="d1")]
        )
        await stack.ctx.writes.message(
            run, NewMessage(MessageRole.ASSISTANT, "Hi", "Hi", write_key=f"{run.run_id}:answer")
        )
        return False

    worker = RunWorker(stack.ctx.runs, turn, concurrency=4)
    job = worker.job(interval_seconds=3600)  # only woken by enqueues here
    stack.ctx.runs.on_enqueued(worker.wake)
    caller = member()
    conversation = await new_conversation(stack, caller)
    answered = await ask(stack, caller, conversation.id, "hello")

    async def finished(run_id: str) -> bool:
        return (await get_run(stack, caller, run_id)).status in (
            pb.RUN_STATUS_COMPLETED,
            pb.RUN_STATUS_FAILED,
        )

    await eventually(lambda: finished(answered.id), "the woken worker to finish the run")
    refused = await ask(stack, caller, conversation.id, "again")
    await eventually(lambda: finished(refused.id), "the worker to fail the second run")
    await worker.drain(10)
    await job.stop(1)
    assert (await get_run(stack, caller, answered.id)).status == pb.RUN_STATUS_COMPLETED
    failed = await get_run(stack, caller, refused.id)
    assert failed.status == pb.RUN_STATUS_FAILED and failed.error.reason == "AGENT_DISABLED"
    messages = await stack.messages.ListMessages(
        mpb.ListMessagesRequest(conversation_id=conversation.id), metadata=caller
    )
    assert [(m.role, m.text) for m in messages.messages] == [
        (mpb.MESSAGE_ROLE_USER, "hello"),
        (mpb.MESSAGE_ROLE_ASSISTANT, "Hi"),
        (mpb.MESSAGE_ROLE_USER, "again"),
    ]
    assert messages.messages[1].run_id == answered.id
    events = await stack.events.ListEvents(
        epb.ListEventsRequest(conversation_id=conversation.id, page_size=100), metadata=caller
    )
    run_kinds = [e.kind for e in events.events if e.run_id == answered.id]
    assert run_kinds == [
        "run.queued",
        "run.started",
        "response.output_text.delta",
        "conversation.message.created",
        "run.completed",
    ]


async def test_a_lost_lease_stops_the_turn(stack: ConversationStack) -> None:
    stopped = asyncio.Event()
    started = asyncio.Event()

    async def endless(run: ClaimedRun) -> bool:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return False

    worker = RunWorker(stack.ctx.runs, endless, concurrency=1)
    await drain_queue(stack)
    caller = member()
    conversation = await new_conversation(stack, caller)
    again = await ask(stack, caller, conversation.id)
    assert await worker.run_pass() == 1
    await eventually(lambda: _is_set(started), "the turn to start")
    await stack.runs.CancelRun(pb.CancelRunRequest(run_id=again.id), metadata=caller)
    await eventually(lambda: _is_set(stopped), "the heartbeat to notice the lost lease")
    await worker.drain(10)
    assert (await get_run(stack, caller, again.id)).status == pb.RUN_STATUS_CANCELLED


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()
