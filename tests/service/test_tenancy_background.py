"""Tenancy's background jobs over real in-process services, on SQLite and on PostgreSQL: billing
periods advance and due Stripe events are applied with no RPC asking for it, a failing pass is
logged and the loop goes on, two replicas close each period once, stopping the service ends the
loops cleanly (even mid-pass), and an interval of 0 starts nothing.

Each test has a database of its own: the jobs touch every subscription and event in it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, inspect, select, text, update

from quarterdeck.tenancy.v1 import billing_pb2 as bpb
from quarterdeck.tenancy.v1 import stripe_pb2 as spb
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.billing_pb2_grpc import BillingServiceStub
from quarterdeck.tenancy.v1.stripe_pb2_grpc import StripeInboxServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.tenancy.billing.background import BILLING_PERIODS_JOB
from services.tenancy.billing.models import (
    InvoiceRecord,
    SubscriptionPeriodRecord,
    SubscriptionRecord,
    SubscriptionStatus,
)
from services.tenancy.config import TenancySettings
from services.tenancy.stripe.background import STRIPE_DISPATCH_JOB
from services.tenancy.stripe.models import StripeDispatchRecord, StripeEventRecord
from services.tenancy.stripe.signature import signature_header
from shared.db import Database
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually

SECRET = "whsec_background_jobs_secret"
ISSUER = TestIssuer()
JOB_NAMES = frozenset({BILLING_PERIODS_JOB, STRIPE_DISPATCH_JOB})
#: Short enough for a test to watch several passes, long enough not to busy-loop.
INTERVAL = 0.05
BOTH_JOBS = {
    "billing_advance_interval_seconds": INTERVAL,
    "stripe_dispatch_interval_seconds": INTERVAL,
}


@pytest.fixture
async def url(backend: str, databases: Databases) -> str:
    return await databases.url(backend, "tenancy", f"background-{uuid.uuid4().hex[:8]}")


@dataclass
class Tenancy:
    running: RunningService[Any, Any]
    tenancy: TenancyServiceStub
    billing: BillingServiceStub
    inbox: StripeInboxServiceStub

    @property
    def db(self) -> Database:
        return self.running.context.database


@asynccontextmanager
async def tenancy_on(url: str, **overrides: Any) -> AsyncIterator[Tenancy]:
    """A tenancy service on ``url``: jobs off unless ``overrides`` set their intervals; Stripe
    events are only stored at ingest, so that only a dispatch applies them."""
    settings = {"stripe_webhook_secret": SECRET, "stripe_dispatch_after_ingest": False}
    async with (
        running_service(
            "tenancy", url, authenticator=ISSUER.authenticator(), **{**settings, **overrides}
        ) as running,
        open_channel(running.target) as channel,
    ):
        yield Tenancy(
            running,
            TenancyServiceStub(channel),
            BillingServiceStub(channel),
            StripeInboxServiceStub(channel),
        )


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


async def subscription_started(service: Tenancy, start: datetime) -> str:
    """A new tenant's monthly subscription to a new plan, started at ``start``: its id."""
    suffix = uuid.uuid4().hex[:10]
    operator = ISSUER.operator()
    tenant = await service.tenancy.CreateTenant(
        tpb.CreateTenantRequest(tenant=tpb.Tenant(slug=f"bg-{suffix}", name=f"Tenant {suffix}")),
        metadata=operator,
    )
    plan = await service.billing.CreatePlan(
        bpb.CreatePlanRequest(plan=bpb.Plan(code=f"plan-{suffix}", name="Team", price="10.00")),
        metadata=operator,
    )
    sub = await service.billing.CreateSubscription(
        bpb.CreateSubscriptionRequest(
            tenant_id=tenant.tenant.id, plan_id=plan.plan.id, start_time=stamp(start)
        ),
        metadata=ISSUER.member(tenant.tenant.id, "owner"),
    )
    return sub.subscription.id


async def subscription(service: Tenancy, sub_id: str) -> SubscriptionRecord:
    async with service.db.reading() as session:
        row = await session.get(SubscriptionRecord, uuid.UUID(sub_id), populate_existing=True)
        assert row is not None
        return row


async def invoiced_periods(service: Tenancy, sub_id: str) -> list[datetime]:
    async with service.db.reading() as session:
        starts = await session.scalars(
            select(InvoiceRecord.period_start)
            .where(InvoiceRecord.subscription_id == uuid.UUID(sub_id))
            .order_by(InvoiceRecord.period_start)
        )
        return list(starts)


async def deliver(service: Tenancy, event_type: str, obj: dict[str, Any]) -> str:
    """Store a signed Stripe event (not applied: dispatch after ingest is off); its Stripe id."""
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()
    await service.inbox.IngestStripeEvent(
        spb.IngestStripeEventRequest(
            raw_body=body, signature_header=signature_header(SECRET, int(time.time()), body)
        )
    )
    return event_id


def past_due_event(sub_id: str) -> dict[str, Any]:
    """A Stripe subscription object moving ``sub_id`` to past_due, in a period not yet ended."""
    now = utcnow()
    return {
        "id": f"sub_{sub_id.replace('-', '')[:14]}",
        "object": "subscription",
        "status": "past_due",
        "current_period_start": int((now - timedelta(days=1)).timestamp()),
        "current_period_end": int((now + timedelta(days=29)).timestamp()),
        "cancel_at_period_end": False,
        "metadata": {"subscription_id": sub_id},
    }


async def dispatch_row(service: Tenancy, event_id: str) -> StripeDispatchRecord:
    async with service.db.reading() as session:
        row = await session.scalar(
            select(StripeDispatchRecord)
            .join(StripeEventRecord)
            .where(StripeEventRecord.stripe_event_id == event_id)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row


async def set_dispatch(service: Tenancy, event_id: str, **values: Any) -> None:
    row = await dispatch_row(service, event_id)
    async with service.db.transaction() as session:
        await session.execute(
            update(StripeDispatchRecord).where(StripeDispatchRecord.id == row.id).values(**values)
        )


async def passes_ended(*services: Tenancy) -> list[int]:
    """Passes ended by each job that was started (an interval of 0 starts none)."""
    return [job.passes_ended for service in services for job in service.running.jobs if job.running]


async def more_passes(services: Sequence[Tenancy], count: int) -> None:
    """Wait until every job of ``services`` has ended ``count`` more passes."""
    before = await passes_ended(*services)

    async def done() -> bool:
        now = await passes_ended(*services)
        return all(after >= start + count for start, after in zip(before, now, strict=True))

    await eventually(done, f"{count} more passes of every job")


def job_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() in JOB_NAMES]


async def rename_table(service: Tenancy, old: str, new: str) -> None:
    async with service.db.engine.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


# ----- the jobs do the work by themselves -----


async def test_an_ended_period_renews_and_due_events_apply_with_no_rpc_asking(url: str) -> None:
    now = utcnow()
    async with tenancy_on(url) as quiet:  # a replica with its jobs off sets the scene
        ended = await subscription_started(quiet, now - timedelta(days=45))
        before = await subscription(quiet, ended)
        assert before.current_period_end < now
        current = await subscription_started(quiet, now - timedelta(days=1))
        new = await deliver(quiet, "customer.subscription.updated", past_due_event(current))
        retry_due = await deliver(quiet, "customer.created", {"id": "cus_1"})
        await set_dispatch(
            quiet,
            retry_due,
            status="failed",
            attempts=1,
            last_error="RuntimeError: earlier attempt",
            next_retry_at=now - timedelta(seconds=1),
        )
        crashed = await deliver(quiet, "customer.created", {"id": "cus_2"})
        await set_dispatch(
            quiet,
            crashed,
            status="processing",
            attempts=1,
            lease_token=uuid.uuid4(),
            lease_expires_at=now - timedelta(seconds=1),
        )
        backing_off = await deliver(quiet, "customer.created", {"id": "cus_3"})
        await set_dispatch(
            quiet, backing_off, status="failed", attempts=1, next_retry_at=now + timedelta(hours=1)
        )

        async with tenancy_on(url, **BOTH_JOBS) as worker:
            assert {task.get_name() for task in job_tasks()} == JOB_NAMES

            async def all_done() -> bool:
                sub = await subscription(worker, ended)
                renewed = sub.current_period_start == before.current_period_end
                rows = [await dispatch_row(worker, e) for e in (new, retry_due, crashed)]
                return renewed and all(row.status == "done" for row in rows)

            await eventually(all_done, "the due period closed and the pending event dispatched")
            renewed = await subscription(worker, ended)
            assert renewed.current_period_start == before.current_period_end
            assert renewed.current_period_end > now
            assert renewed.status is SubscriptionStatus.ACTIVE
            assert await invoiced_periods(worker, ended) == [before.current_period_start]
            assert (await subscription(worker, current)).status is SubscriptionStatus.PAST_DUE
            assert [
                (row.status, row.attempts)
                for row in [await dispatch_row(worker, e) for e in (new, retry_due, crashed)]
            ] == [("done", 1), ("done", 2), ("done", 2)]
            # A retry whose backoff is not over yet waits for it.
            waiting = await dispatch_row(worker, backing_off)
            assert (waiting.status, waiting.attempts) == ("failed", 1)


async def test_a_failing_pass_is_logged_and_the_loop_goes_on(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    now = utcnow()
    async with tenancy_on(url) as quiet:
        ended = await subscription_started(quiet, now - timedelta(days=45))
        event_id = await deliver(quiet, "customer.created", {"id": "cus_1"})
        # Every pass of either job fails while its table is away.
        await rename_table(quiet, "tenant_subscriptions", "tenant_subscriptions_away")
        await rename_table(quiet, "stripe_event_dispatch", "stripe_event_dispatch_away")
        try:
            with caplog.at_level(logging.ERROR, logger="quarterdeck.tenancy.background"):
                async with tenancy_on(url, **BOTH_JOBS) as worker:

                    async def each_failed_twice() -> bool:
                        failed = [r.getMessage() for r in caplog.records if r.exc_info]
                        return all(
                            sum(m.startswith(f"{job}: pass failed") for m in failed) >= 2
                            for job in JOB_NAMES
                        )

                    await eventually(each_failed_twice, "each job to fail twice")
                    await rename_table(quiet, "tenant_subscriptions_away", "tenant_subscriptions")
                    await rename_table(quiet, "stripe_event_dispatch_away", "stripe_event_dispatch")

                    async def recovered() -> bool:
                        sub = await subscription(worker, ended)
                        row = await dispatch_row(worker, event_id)
                        return sub.current_period_end > now and row.status == "done"

                    await eventually(recovered, "both jobs to recover")
                    assert len(job_tasks()) == 2 and not any(t.done() for t in job_tasks())
        finally:
            async with quiet.db.engine.connect() as connection:
                tables = await connection.run_sync(
                    lambda sync: set(inspect(sync).get_table_names())
                )
            if "tenant_subscriptions_away" in tables:
                await rename_table(quiet, "tenant_subscriptions_away", "tenant_subscriptions")
            if "stripe_event_dispatch_away" in tables:
                await rename_table(quiet, "stripe_event_dispatch_away", "stripe_event_dispatch")


async def test_two_replicas_close_each_period_exactly_once(url: str) -> None:
    now = utcnow()
    async with tenancy_on(url) as quiet:
        # About three months behind: three periods each to close.
        subs = [await subscription_started(quiet, now - timedelta(days=95)) for _ in range(4)]
        versions = {sub: (await subscription(quiet, sub)).version for sub in subs}
        async with (
            tenancy_on(url, billing_advance_interval_seconds=INTERVAL) as first,
            tenancy_on(url, billing_advance_interval_seconds=INTERVAL) as second,
        ):
            assert [task.get_name() for task in job_tasks()] == [BILLING_PERIODS_JOB] * 2

            async def all_current() -> bool:
                rows = [await subscription(first, sub) for sub in subs]
                return all(row.current_period_end > now for row in rows)

            await eventually(all_current, "every subscription's periods closed")
            await more_passes([first, second], 5)  # with nothing left to do
            for sub in subs:
                row = await subscription(second, sub)
                starts = await invoiced_periods(second, sub)
                assert len(starts) == len(set(starts)) == 3
                assert row.version == versions[sub] + 3  # renewed three times, once each
        async with quiet.db.reading() as session:
            periods = await session.scalar(
                select(func.count()).select_from(SubscriptionPeriodRecord)
            )
        assert periods == 12


# ----- stopping, and turning the jobs off -----


async def test_stopping_mid_pass_ends_the_loops_without_an_error(
    url: str, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    now = utcnow()
    async with tenancy_on(url) as quiet:
        ended = await subscription_started(quiet, now - timedelta(days=45))
        before = await subscription(quiet, ended)
        # The test holds the subscription (PostgreSQL: its row; SQLite: the write lock), so
        # the worker's billing pass blocks inside the database.
        holder = contextlib.AsyncExitStack()
        holding = await holder.enter_async_context(quiet.db.transaction())
        await holding.execute(
            select(SubscriptionRecord.id)
            .where(SubscriptionRecord.id == uuid.UUID(ended))
            .with_for_update()
        )

        cancelled = f"{BILLING_PERIODS_JOB}: pass still running after 1.0s; cancelled"

        async def was_cancelled() -> bool:
            return any(r.getMessage() == cancelled for r in caplog.records)

        async def let_go_once_cancelled() -> None:
            # SQLite cannot interrupt a statement waiting for its lock: without this it would
            # wait out its busy timeout (10 s), cancelled or not.
            await eventually(was_cancelled, "the stuck billing pass to be cancelled")
            await holder.aclose()

        try:
            with caplog.at_level(logging.INFO):
                async with tenancy_on(url, **BOTH_JOBS) as worker:
                    jobs = {job.name: job for job in worker.running.jobs}

                    async def stripe_passes_beside_a_stuck_billing() -> bool:
                        billing, stripe = jobs[BILLING_PERIODS_JOB], jobs[STRIPE_DISPATCH_JOB]
                        stuck = billing.passes_started == 1 and billing.passes_ended == 0
                        return stuck and stripe.passes_ended >= 3

                    await eventually(
                        stripe_passes_beside_a_stuck_billing,
                        "several Stripe passes while the billing pass waits on the held row",
                    )
                    assert len(job_tasks()) == 2
                    letting_go = asyncio.create_task(let_go_once_cancelled())
                # The jobs had the test settings' grace period (1 s) to end their passes: the
                # stuck one was cancelled (the row was let go only after that).
                await letting_go
        finally:
            await holder.aclose()
        assert job_tasks() == []
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        # The cancelled pass left nothing half-done.
        after = await subscription(quiet, ended)
        assert (after.current_period_start, after.version) == (
            before.current_period_start,
            before.version,
        )
        assert await invoiced_periods(quiet, ended) == []


async def test_an_interval_of_zero_starts_nothing(url: str) -> None:
    defaults = TenancySettings()
    assert (
        defaults.billing_advance_interval_seconds,
        defaults.stripe_dispatch_interval_seconds,
    ) == (
        60.0,
        30.0,
    )
    now = utcnow()
    async with tenancy_on(
        url, billing_advance_interval_seconds=0, stripe_dispatch_interval_seconds=0
    ) as service:
        assert job_tasks() == []
        ended = await subscription_started(service, now - timedelta(days=45))
        before = await subscription(service, ended)
        event_id = await deliver(service, "customer.created", {"id": "cus_1"})
        # No job runs (none was started), so nothing renews or dispatches.
        assert (await subscription(service, ended)).version == before.version
        assert (await dispatch_row(service, event_id)).status == "pending"
    async with tenancy_on(url, stripe_dispatch_interval_seconds=INTERVAL) as service:
        assert [task.get_name() for task in job_tasks()] == [STRIPE_DISPATCH_JOB]
