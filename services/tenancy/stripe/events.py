"""What each Stripe event type does to subscriptions and invoices.

Handlers run inside the dispatcher's transaction and are idempotent: each Stripe object's
``stripe_object_state`` row (locked for the transaction) remembers the ``created`` time and id
of the last event applied to it, so a redelivered event is skipped, and an event older than the
last applied one is skipped as stale rather than overwrite newer state.

Matching: a subscription by ``metadata.subscription_id`` (our id, set when the Stripe
subscription is created) or by the link an earlier event left; an invoice by
``metadata.invoice_id``, its ``external_invoice_id``, or the link. An event for an object with
no local match is ignored.

Handlers return the event's outcome (applied, ignored or stale); any exception fails the
attempt, and the dispatcher retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.tenancy.billing.models import (
    InvoiceRecord,
    InvoiceStatus,
    SubscriptionRecord,
    SubscriptionStatus,
)
from services.tenancy.billing.rules import INVOICE_TRANSITIONS, SUB_TRANSITIONS
from services.tenancy.stripe.models import Outcome, StripeEventRecord, StripeObjectStateRecord
from shared.db_types import utcnow
from shared.inserts import insert_ignoring_duplicates

Handler = Callable[[AsyncSession, StripeEventRecord], Awaitable[Outcome]]

#: Stripe's subscription statuses as ours; the ones missing here leave the status unchanged.
SUBSCRIPTION_STATUS = {
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "canceled": SubscriptionStatus.CANCELED,
    "incomplete_expired": SubscriptionStatus.CANCELED,
}


def _object(event: StripeEventRecord) -> dict[str, Any]:
    data = event.payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ValueError("the event has no data.object with an id")
    return obj


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


async def _state(
    session: AsyncSession, object_type: str, object_id: str
) -> StripeObjectStateRecord:
    """The object's state row, created if new, locked until the transaction ends."""
    await session.execute(
        insert_ignoring_duplicates(
            session.get_bind().dialect.name,
            StripeObjectStateRecord,
            ["object_type", "stripe_object_id"],
        ).values(object_type=object_type, stripe_object_id=object_id, updated_at=utcnow())
    )
    row = await session.scalar(
        select(StripeObjectStateRecord)
        .where(
            StripeObjectStateRecord.object_type == object_type,
            StripeObjectStateRecord.stripe_object_id == object_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def _already_seen(state: StripeObjectStateRecord, event: StripeEventRecord) -> Outcome | None:
    """STALE when a newer event (or this very one) was applied to the object already."""
    if state.last_event_id == event.stripe_event_id:
        return Outcome.STALE
    last, this = state.last_event_created_at, event.stripe_created_at
    if last is not None and this is not None and this < last:
        return Outcome.STALE
    return None


def _mark(state: StripeObjectStateRecord, event: StripeEventRecord, local_id: uuid.UUID) -> None:
    state.local_id = local_id
    state.last_event_id = event.stripe_event_id
    if event.stripe_created_at is not None:
        state.last_event_created_at = event.stripe_created_at


async def _subscription_event(
    session: AsyncSession, event: StripeEventRecord, *, deleted: bool
) -> Outcome:
    obj = _object(event)
    state = await _state(session, "subscription", obj["id"])
    if (seen := _already_seen(state, event)) is not None:
        return seen
    local_id = _uuid(_metadata(obj).get("subscription_id")) or state.local_id
    if local_id is None:
        return Outcome.IGNORED
    sub = await session.scalar(
        select(SubscriptionRecord).where(SubscriptionRecord.id == local_id).with_for_update()
    )
    if sub is None:
        return Outcome.IGNORED
    status = obj.get("status")
    target = (
        SubscriptionStatus.CANCELED
        if deleted
        else SUBSCRIPTION_STATUS.get(status)
        if isinstance(status, str)
        else None
    )
    if target is not None and target in SUB_TRANSITIONS[sub.status]:
        sub.status = target
        if target is SubscriptionStatus.CANCELED:
            sub.cancel_at = _time(obj.get("canceled_at")) or utcnow()
    if sub.status is not SubscriptionStatus.CANCELED:
        item = _first_item(obj)
        start = _time(obj.get("current_period_start")) or _time(item.get("current_period_start"))
        end = _time(obj.get("current_period_end")) or _time(item.get("current_period_end"))
        if start is not None and end is not None and start < end:
            sub.current_period_start, sub.current_period_end = start, end
        if isinstance(obj.get("cancel_at_period_end"), bool):
            sub.cancel_at_period_end = obj["cancel_at_period_end"]
            sub.cancel_at = _time(obj.get("cancel_at"))
    _mark(state, event, sub.id)
    await session.flush()
    return Outcome.APPLIED


def _first_item(obj: dict[str, Any]) -> dict[str, Any]:
    items = obj.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    first = data[0] if isinstance(data, list) and data else None
    return first if isinstance(first, dict) else {}


async def _invoice_event(
    session: AsyncSession, event: StripeEventRecord, target: InvoiceStatus
) -> Outcome:
    obj = _object(event)
    state = await _state(session, "invoice", obj["id"])
    if (seen := _already_seen(state, event)) is not None:
        return seen
    stmt = select(InvoiceRecord).with_for_update()
    local_id = _uuid(_metadata(obj).get("invoice_id")) or state.local_id
    if local_id is not None:
        invoice = await session.scalar(stmt.where(InvoiceRecord.id == local_id))
    else:
        invoice = await session.scalar(stmt.where(InvoiceRecord.external_invoice_id == obj["id"]))
    if invoice is None:
        return Outcome.IGNORED
    # Along the allowed transitions only: a draft is finalized (open) on its way to paid; a paid
    # or void invoice stays as it is.
    path = [InvoiceStatus.OPEN, target] if invoice.status is InvoiceStatus.DRAFT else [target]
    if target is InvoiceStatus.VOID:
        path = [target]
    outcome = Outcome.IGNORED
    if invoice.status is not target:
        current = invoice.status
        if all(
            step in INVOICE_TRANSITIONS[prev]
            for prev, step in zip([current, *path[:-1]], path, strict=True)
        ):
            invoice.status = target
            outcome = Outcome.APPLIED
    if invoice.external_invoice_id is None:
        invoice.external_invoice_id = obj["id"]
    url = obj.get("hosted_invoice_url")
    if isinstance(url, str) and len(url) <= 256 and invoice.hosted_invoice_url is None:
        invoice.hosted_invoice_url = url
    _mark(state, event, invoice.id)
    await session.flush()
    return outcome


async def subscription_updated(session: AsyncSession, event: StripeEventRecord) -> Outcome:
    return await _subscription_event(session, event, deleted=False)


async def subscription_deleted(session: AsyncSession, event: StripeEventRecord) -> Outcome:
    return await _subscription_event(session, event, deleted=True)


async def invoice_paid(session: AsyncSession, event: StripeEventRecord) -> Outcome:
    return await _invoice_event(session, event, InvoiceStatus.PAID)


async def invoice_voided(session: AsyncSession, event: StripeEventRecord) -> Outcome:
    return await _invoice_event(session, event, InvoiceStatus.VOID)


#: Looked up at dispatch time; an event type missing here is stored and ignored.
HANDLERS: dict[str, Handler] = {
    "customer.subscription.updated": subscription_updated,
    "customer.subscription.deleted": subscription_deleted,
    "invoice.paid": invoice_paid,
    "invoice.voided": invoice_voided,
}


async def apply(session: AsyncSession, event: StripeEventRecord) -> Outcome:
    handler = HANDLERS.get(event.event_type)
    if handler is None:
        return Outcome.IGNORED
    return await handler(session, event)
