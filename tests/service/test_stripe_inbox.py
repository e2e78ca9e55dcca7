"""The Stripe inbox over real in-process gRPC servers, on SQLite and on PostgreSQL: signature
checks, storing each event once, dispatch with leases, retries, backoff and the dead letter,
out-of-order deliveries, concurrent dispatchers, and the gateway's webhook route.

Two tenancy servers share one database: ``main`` applies each event right after ingest,
``quiet`` only stores it (and dead-letters after 3 attempts), as a second replica would."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Connection, select, update

from quarterdeck.tenancy.v1 import billing_pb2 as bpb
from quarterdeck.tenancy.v1 import stripe_pb2 as pb
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.billing_pb2_grpc import BillingServiceStub
from quarterdeck.tenancy.v1.stripe_pb2_grpc import StripeInboxServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.tenancy.billing.models import (
    InvoiceRecord,
    InvoiceStatus,
    SubscriptionRecord,
    SubscriptionStatus,
)
from services.tenancy.schema import metadata as tenancy_metadata
from services.tenancy.stripe import events as stripe_events
from services.tenancy.stripe.models import StripeDispatchRecord, StripeEventRecord
from services.tenancy.stripe.signature import signature_header
from shared.db import Database
from shared.grpc_client import open_channel
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer

SECRET = "whsec_test_endpoint_secret"
PERIOD_START = datetime(2026, 1, 1, tzinfo=UTC)
BACKOFF = 10.0
MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@dataclass
class Inbox:
    main: StripeInboxServiceStub
    quiet: StripeInboxServiceStub
    billing: BillingServiceStub
    tenancy: TenancyServiceStub
    issuer: TestIssuer
    operator: list[tuple[str, str]]
    db: Database
    url: str
    main_target: str


@pytest.fixture(scope="module")
async def inbox(backend: str, databases: Databases, issuer: TestIssuer) -> AsyncIterator[Inbox]:
    url = await databases.url(backend, "tenancy", "stripe")
    auth = issuer.authenticator
    async with (
        running_service("tenancy", url, authenticator=auth(), stripe_webhook_secret=SECRET) as main,
        running_service(
            "tenancy",
            url,
            authenticator=auth(),
            stripe_webhook_secret=SECRET,
            stripe_dispatch_after_ingest=False,
            stripe_dispatch_max_attempts=MAX_ATTEMPTS,
            stripe_dispatch_backoff_seconds=BACKOFF,
        ) as quiet,
        open_channel(main.target) as main_channel,
        open_channel(quiet.target) as quiet_channel,
    ):
        db = Database(url)
        try:
            yield Inbox(
                StripeInboxServiceStub(main_channel),
                StripeInboxServiceStub(quiet_channel),
                BillingServiceStub(main_channel),
                TenancyServiceStub(main_channel),
                issuer,
                issuer.operator(),
                db,
                url,
                main.target,
            )
        finally:
            await db.dispose()


# ----- helpers -----


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


async def new_subscription(inbox: Inbox) -> str:
    suffix = uuid.uuid4().hex[:10]
    tenant = await inbox.tenancy.CreateTenant(
        tpb.CreateTenantRequest(tenant=tpb.Tenant(slug=f"t-{suffix}", name=f"Tenant {suffix}")),
        metadata=inbox.operator,
    )
    plan = await inbox.billing.CreatePlan(
        bpb.CreatePlanRequest(plan=bpb.Plan(code=f"plan-{suffix}", name="Team", price="10.00")),
        metadata=inbox.operator,
    )
    sub = await inbox.billing.CreateSubscription(
        bpb.CreateSubscriptionRequest(
            tenant_id=tenant.tenant.id, plan_id=plan.plan.id, start_time=stamp(PERIOD_START)
        ),
        metadata=inbox.issuer.member(tenant.tenant.id, "owner"),
    )
    return sub.subscription.id


def event(event_type: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def subscription_event(
    sub_id: str,
    status: str,
    *,
    created: int | None = None,
    stripe_id: str | None = None,
    period: tuple[datetime, datetime] | None = None,
    event_type: str = "customer.subscription.updated",
) -> dict[str, Any]:
    start, end = period or (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    return event(
        event_type,
        {
            "id": stripe_id or f"sub_{sub_id.replace('-', '')[:14]}",
            "object": "subscription",
            "status": status,
            "current_period_start": int(start.timestamp()),
            "current_period_end": int(end.timestamp()),
            "cancel_at_period_end": False,
            "metadata": {"subscription_id": sub_id},
        },
        created,
    )


def body_of(evt: dict[str, Any]) -> bytes:
    # Deliberately not compact, as Stripe sends it: the signature covers these exact bytes.
    return json.dumps(evt, indent=2).encode()


def signed(body: bytes, *, at: int | None = None, secret: str = SECRET) -> str:
    return signature_header(secret, at if at is not None else int(time.time()), body)


async def deliver(
    stub: StripeInboxServiceStub, evt: dict[str, Any], header: str | None = None
) -> pb.IngestStripeEventResponse:
    body = body_of(evt)
    return await stub.IngestStripeEvent(
        pb.IngestStripeEventRequest(
            raw_body=body, signature_header=signed(body) if header is None else header
        )
    )


async def subscription(inbox: Inbox, sub_id: str) -> SubscriptionRecord:
    async with inbox.db.reading() as session:
        row = await session.get(SubscriptionRecord, uuid.UUID(sub_id))
        assert row is not None
        return row


async def stored(inbox: Inbox, event_id: str) -> tuple[StripeEventRecord, StripeDispatchRecord]:
    async with inbox.db.reading() as session:
        row = (
            await session.execute(
                select(StripeEventRecord, StripeDispatchRecord)
                .join(StripeDispatchRecord)
                .where(StripeEventRecord.stripe_event_id == event_id)
            )
        ).one()
        return row[0], row[1]


async def events_named(inbox: Inbox, event_id: str) -> int:
    async with inbox.db.reading() as session:
        rows = await session.scalars(
            select(StripeEventRecord.id).where(StripeEventRecord.stripe_event_id == event_id)
        )
        return len(rows.all())


async def set_dispatch(inbox: Inbox, event_id: str, **values: Any) -> None:
    evt, _ = await stored(inbox, event_id)
    async with inbox.db.transaction() as session:
        await session.execute(
            update(StripeDispatchRecord)
            .where(StripeDispatchRecord.stripe_event_id == evt.id)
            .values(**values)
        )


async def make_due(inbox: Inbox, event_id: str) -> None:
    await set_dispatch(inbox, event_id, next_retry_at=datetime.now(UTC) - timedelta(seconds=1))


async def dispatch(stub: StripeInboxServiceStub, inbox: Inbox) -> pb.DispatchStripeEventsResponse:
    return await stub.DispatchStripeEvents(
        pb.DispatchStripeEventsRequest(), metadata=inbox.operator
    )


class Recorder:
    """Wraps the handlers: counts each event's completed handler runs, can fail on purpose."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, fail_times: int = 0, delay: float = 0):
        self.applied: Counter[str] = Counter()
        self.fail_times = fail_times
        self.delay = delay
        for name, handler in list(stripe_events.HANDLERS.items()):
            monkeypatch.setitem(stripe_events.HANDLERS, name, self._wrap(handler))

    def _wrap(self, handler: stripe_events.Handler) -> stripe_events.Handler:
        async def wrapped(session: Any, evt: StripeEventRecord) -> Any:
            if self.fail_times:
                self.fail_times -= 1
                raise RuntimeError("handler blew up on purpose")
            if self.delay:
                await asyncio.sleep(self.delay)
            outcome = await handler(session, evt)
            self.applied[evt.stripe_event_id] += 1
            return outcome

        return wrapped


# ----- signatures -----


async def test_valid_event_is_stored_and_applied(inbox: Inbox) -> None:
    sub_id = await new_subscription(inbox)
    evt = subscription_event(sub_id, "past_due")
    reply = await deliver(inbox.main, evt)
    assert (reply.event_id, reply.event_type, reply.duplicate) == (
        evt["id"],
        "customer.subscription.updated",
        False,
    )
    sub = await subscription(inbox, sub_id)
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert sub.current_period_start == datetime(2026, 2, 1, tzinfo=UTC)
    assert sub.current_period_end == datetime(2026, 3, 1, tzinfo=UTC)
    row, dispatch_row = await stored(inbox, evt["id"])
    assert row.processing_outcome == "applied"
    assert row.payload == evt
    assert (dispatch_row.status, dispatch_row.attempts) == ("done", 1)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "no_matching_signature"),
        ("wrong_secret", "no_matching_signature"),
        ("tampered_body", "no_matching_signature"),
        ("stale", "timestamp_outside_tolerance"),
        ("missing", "missing_header"),
        ("no_v1", "no_signature"),
    ],
)
async def test_bad_signatures_are_refused_and_nothing_is_stored(
    inbox: Inbox, case: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    evt = event("customer.subscription.updated", {"id": "sub_x", "status": "active"})
    body = body_of(evt)
    now = int(time.time())
    header = {
        "forged": f"t={now},v1={'0' * 64}",
        "wrong_secret": signed(body, secret="whsec_someone_else"),
        "tampered_body": signed(body_of({**evt, "type": "invoice.paid"})),
        "stale": signed(body, at=now - 301),
        "missing": "",
        "no_v1": f"t={now},v0={'0' * 64}",
    }[case]
    with caplog.at_level(logging.WARNING, logger="quarterdeck.tenancy.stripe"):
        error = await failure(
            inbox.main.IngestStripeEvent(
                pb.IngestStripeEventRequest(raw_body=body, signature_header=header)
            )
        )
    details = rich_error(error)
    assert details.code is grpc.StatusCode.UNAUTHENTICATED
    assert details.reason == "STRIPE_SIGNATURE_INVALID"
    assert details.metadata["signature_error"] == reason
    assert await events_named(inbox, evt["id"]) == 0
    assert any(reason in r.getMessage() for r in caplog.records)


async def test_several_v1_signatures_one_matching_is_accepted(inbox: Inbox) -> None:
    evt = event("charge.succeeded", {"id": "ch_1"})
    body = body_of(evt)
    now = int(time.time())
    header = f"t={now},v1={'a' * 64},{signed(body, at=now).split(',')[1]}"
    reply = await deliver(inbox.main, evt, header)
    assert not reply.duplicate
    row, dispatch_row = await stored(inbox, evt["id"])
    # Unknown types are stored and ignored.
    assert (row.processing_outcome, dispatch_row.status) == ("ignored", "done")


# ----- once only, ordering -----


async def test_duplicate_delivery_is_stored_and_applied_once(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(monkeypatch)
    sub_id = await new_subscription(inbox)
    evt = subscription_event(sub_id, "past_due")
    first = await deliver(inbox.main, evt)
    version = (await subscription(inbox, sub_id)).version
    second = await deliver(inbox.main, evt)
    assert not first.duplicate and second.duplicate
    assert (second.event_id, second.event_type) == (first.event_id, first.event_type)
    assert await events_named(inbox, evt["id"]) == 1
    await dispatch(inbox.main, inbox)
    assert recorder.applied[evt["id"]] == 1
    assert (await subscription(inbox, sub_id)).version == version


async def test_an_older_event_never_overwrites_a_newer_one(inbox: Inbox) -> None:
    sub_id = await new_subscription(inbox)
    now = int(time.time())
    newer = subscription_event(
        sub_id,
        "past_due",
        created=now,
        period=(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    )
    older = subscription_event(
        sub_id,
        "active",
        created=now - 60,
        period=(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    )
    await deliver(inbox.main, newer)
    await deliver(inbox.main, older)
    sub = await subscription(inbox, sub_id)
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert sub.current_period_start == datetime(2026, 3, 1, tzinfo=UTC)
    row, dispatch_row = await stored(inbox, older["id"])
    assert (row.processing_outcome, dispatch_row.status) == ("stale", "done")
    # A later event still applies.
    await deliver(inbox.main, subscription_event(sub_id, "active", created=now + 60))
    assert (await subscription(inbox, sub_id)).status is SubscriptionStatus.ACTIVE


async def test_subscription_deleted_cancels(inbox: Inbox) -> None:
    sub_id = await new_subscription(inbox)
    await deliver(
        inbox.main,
        subscription_event(sub_id, "canceled", event_type="customer.subscription.deleted"),
    )
    sub = await subscription(inbox, sub_id)
    assert sub.status is SubscriptionStatus.CANCELED
    assert sub.cancel_at is not None


async def test_invoice_paid_then_voided_stays_paid(inbox: Inbox) -> None:
    sub_id = await new_subscription(inbox)
    invoice = await inbox.billing.GenerateInvoice(
        bpb.GenerateInvoiceRequest(subscription_id=sub_id), metadata=inbox.operator
    )
    invoice_id = invoice.invoice.id
    obj = {"id": "in_" + uuid.uuid4().hex[:12], "object": "invoice"}
    obj["metadata"] = {"invoice_id": invoice_id}  # type: ignore[assignment]
    now = int(time.time())
    paid = event("invoice.paid", obj, now)
    await deliver(inbox.main, paid)
    # Redelivered, and a later void: the paid invoice stays paid, without an error.
    await deliver(inbox.main, paid)
    voided = event("invoice.voided", {"id": obj["id"], "object": "invoice"}, now + 10)
    await deliver(inbox.main, voided)
    async with inbox.db.reading() as session:
        row = await session.get(InvoiceRecord, uuid.UUID(invoice_id))
        assert row is not None
        assert row.status is InvoiceStatus.PAID
        assert row.external_invoice_id == obj["id"]
    for evt, outcome in ((paid, "applied"), (voided, "ignored")):
        stored_event, dispatch_row = await stored(inbox, evt["id"])
        assert (stored_event.processing_outcome, dispatch_row.status) == (outcome, "done")


# ----- retries, leases, dead letter -----


async def test_a_handler_failure_is_retried_and_applied_once(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(monkeypatch, fail_times=1)
    sub_id = await new_subscription(inbox)
    evt = subscription_event(sub_id, "past_due")
    await deliver(inbox.main, evt)  # the dispatch right after ingest fails
    row, dispatch_row = await stored(inbox, evt["id"])
    assert (dispatch_row.status, dispatch_row.attempts) == ("failed", 1)
    assert "blew up" in (dispatch_row.last_error or "")
    assert row.processing_outcome == "failed"
    assert (await subscription(inbox, sub_id)).status is SubscriptionStatus.ACTIVE
    await make_due(inbox, evt["id"])
    await dispatch(inbox.main, inbox)
    await dispatch(inbox.main, inbox)
    row, dispatch_row = await stored(inbox, evt["id"])
    assert (dispatch_row.status, dispatch_row.attempts, dispatch_row.last_error) == (
        "done",
        2,
        None,
    )
    assert row.processing_outcome == "applied"
    assert recorder.applied[evt["id"]] == 1
    assert (await subscription(inbox, sub_id)).status is SubscriptionStatus.PAST_DUE


async def test_a_crashed_dispatch_is_taken_over_after_its_lease(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(monkeypatch)
    sub_id = await new_subscription(inbox)
    evt = subscription_event(sub_id, "past_due")
    await deliver(inbox.quiet, evt)  # stored only
    _, dispatch_row = await stored(inbox, evt["id"])
    assert (dispatch_row.status, dispatch_row.attempts) == ("pending", 0)
    # A dispatcher claimed it and died: its lease is still running, so nobody takes it...
    now = datetime.now(UTC)
    crashed = {"status": "processing", "attempts": 1, "lease_token": uuid.uuid4()}
    await set_dispatch(inbox, evt["id"], lease_expires_at=now + timedelta(minutes=5), **crashed)
    await dispatch(inbox.main, inbox)
    assert recorder.applied[evt["id"]] == 0
    # ... until the lease expires.
    await set_dispatch(inbox, evt["id"], lease_expires_at=now - timedelta(seconds=1))
    await dispatch(inbox.main, inbox)
    await dispatch(inbox.quiet, inbox)
    _, dispatch_row = await stored(inbox, evt["id"])
    assert (dispatch_row.status, dispatch_row.attempts) == ("done", 2)
    assert recorder.applied[evt["id"]] == 1
    assert (await subscription(inbox, sub_id)).status is SubscriptionStatus.PAST_DUE


async def test_backoff_then_dead_letter_after_max_attempts(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    Recorder(monkeypatch, fail_times=10**6)
    evt = subscription_event(str(uuid.uuid4()), "active")
    await deliver(inbox.quiet, evt)
    for attempt in range(1, MAX_ATTEMPTS):
        await dispatch(inbox.quiet, inbox)
        _, row = await stored(inbox, evt["id"])
        assert (row.status, row.attempts) == ("failed", attempt)
        assert row.next_retry_at is not None and row.last_attempt_at is not None
        delay = (row.next_retry_at - row.last_attempt_at).total_seconds()
        assert delay == pytest.approx(BACKOFF * 2 ** (attempt - 1), abs=1)
        # Not due yet: a dispatch round leaves it alone.
        await dispatch(inbox.quiet, inbox)
        _, row = await stored(inbox, evt["id"])
        assert row.attempts == attempt
        await make_due(inbox, evt["id"])
    reply = await dispatch(inbox.quiet, inbox)
    assert reply.dead >= 1
    stored_event, row = await stored(inbox, evt["id"])
    assert (row.status, row.attempts) == ("dead", MAX_ATTEMPTS)
    assert "blew up" in (row.last_error or "")
    assert (stored_event.processing_outcome, stored_event.processing_attempts) == (
        "dead",
        MAX_ATTEMPTS,
    )
    await make_due(inbox, evt["id"])
    await dispatch(inbox.quiet, inbox)
    _, row = await stored(inbox, evt["id"])
    assert (row.status, row.attempts) == ("dead", MAX_ATTEMPTS)


async def test_concurrent_dispatchers_never_apply_an_event_twice(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(monkeypatch, delay=0.02)
    sub_id = await new_subscription(inbox)
    now = int(time.time())
    events = [subscription_event(sub_id, "past_due", created=now + i) for i in range(8)]
    for evt in events:
        await deliver(inbox.quiet, evt)
    replies = await asyncio.gather(
        *(dispatch(stub, inbox) for stub in (inbox.main, inbox.quiet) * 3)
    )
    assert sum(r.failed + r.dead for r in replies) == 0
    for evt in events:
        assert recorder.applied[evt["id"]] == 1, evt["id"]
        _, row = await stored(inbox, evt["id"])
        assert (row.status, row.attempts) == ("done", 1)


async def test_dispatch_needs_an_operator(inbox: Inbox) -> None:
    error = await failure(inbox.main.DispatchStripeEvents(pb.DispatchStripeEventsRequest()))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    member = inbox.issuer.member(str(uuid.uuid4()), "owner")
    error = await failure(
        inbox.main.DispatchStripeEvents(pb.DispatchStripeEventsRequest(), metadata=member)
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_malformed_event_with_a_valid_signature_is_invalid(inbox: Inbox) -> None:
    body = b'{"no": "id"}'
    error = await failure(
        inbox.main.IngestStripeEvent(
            pb.IngestStripeEventRequest(raw_body=body, signature_header=signed(body))
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


# ----- gateway -----


async def test_gateway_webhook_route(inbox: Inbox) -> None:
    sub_id = await new_subscription(inbox)
    evt = subscription_event(sub_id, "past_due")
    body = body_of(evt)
    app = create_app(GatewaySettings(tenancy_target=inbox.main_target, request_timeout_seconds=5))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as client,
    ):
        headers = {"Stripe-Signature": signed(body), "Content-Type": "application/json"}
        for _ in range(2):  # the redelivery is a 200 too
            reply = await client.post("/v1/webhooks/stripe", content=body, headers=headers)
            assert reply.status_code == 200, reply.text
            assert reply.json() == {"received": True}
        forged = {**headers, "Stripe-Signature": signed(body, secret="whsec_wrong")}
        other = event("charge.succeeded", {"id": "ch_2"})
        reply = await client.post("/v1/webhooks/stripe", content=body_of(other), headers=forged)
        assert reply.status_code == 400
        reply = await client.post("/v1/webhooks/stripe", content=body_of(other))
        assert reply.status_code == 400
    assert await events_named(inbox, evt["id"]) == 1
    assert await events_named(inbox, other["id"]) == 0
    assert (await subscription(inbox, sub_id)).status is SubscriptionStatus.PAST_DUE


# ----- schema -----


async def test_the_migration_builds_the_inbox_tables_as_modelled(inbox: Inbox) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [d for d in compare_metadata(context, tenancy_metadata) if "stripe" in str(d)]

    async with inbox.db.engine.connect() as conn:
        assert await conn.run_sync(differences) == []
