"""Periods advance (AdvanceSubscriptionPeriods, or :meth:`PeriodHandlers.advance_periods` from
a background loop): each step is one transaction for one subscription. An ended trial makes the
subscription active (no payment method is known here; Stripe's events move it to past_due when a
payment fails). An ended period is claimed with a conditional UPDATE on its end (so of two
concurrent callers exactly one closes it), rolled up, invoiced in arrears at the plan's price at
closing time (not when wholly inside the trial; an invoice already drafted for it is kept),
recorded in ``subscription_periods``, and then renewed to the next end on the subscription's
start-date schedule, or canceled when ``cancel_at_period_end`` (or no ``auto_renew``). Plan-limit
counters of periods that ended more than ``billing_plan_counter_retention_days`` ago are then
deleted, once per closed period."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.tenancy.billing.handlers.invoices import InvoiceHandlers
from services.tenancy.billing.math import (
    interval_months,
    next_period_end,
)
from services.tenancy.billing.models import (
    SubscriptionPeriodRecord,
    SubscriptionRecord,
    SubscriptionStatus,
)
from services.tenancy.limits.models import LimitCounterRecord
from shared.auth import (
    require_operator,
)
from shared.db import rows_matched
from shared.db_types import utcnow
from shared.errors import (
    DomainError,
    InvalidArgument,
    PermissionDenied,
)
from shared.timestamps import from_timestamp

log = logging.getLogger("quarterdeck.tenancy.billing")

#: The earliest time an operator may advance subscriptions to.
EARLIEST_ADVANCE_YEAR = 2000
#: The most steps one AdvanceSubscriptionPeriods call may be asked to apply.
MAX_ADVANCE_LIMIT = 1000
#: The kind prefix of plan-limit counters in ``limit_counters`` (see limits/models.py).
PLAN_COUNTER_PREFIX = "plan:"


def epoch_seconds(moment: datetime) -> int:
    """A period start as the window of its plan-limit counters (UTC epoch seconds)."""
    return int(moment.timestamp())


@dataclass
class AdvanceReport:
    """What one advance did."""

    periods_renewed: int = 0
    subscriptions_canceled: int = 0
    trials_ended: int = 0
    invoices_drafted: int = 0
    limit_counters_pruned: int = 0
    remaining: int = 0
    subscription_ids: list[uuid.UUID] = field(default_factory=list)
    failed_subscription_ids: list[uuid.UUID] = field(default_factory=list)


class PeriodHandlers(InvoiceHandlers):
    def _due(self, now: datetime) -> Any:
        """Subscriptions with an ended period, or an ended trial, still to close."""
        sub = SubscriptionRecord
        return and_(
            sub.status != SubscriptionStatus.CANCELED,
            or_(
                sub.current_period_end <= now,
                and_(sub.status == SubscriptionStatus.TRIALING, sub.trial_ends_at <= now),
            ),
        )

    async def advance_subscription_periods(
        self, request: pb.AdvanceSubscriptionPeriodsRequest
    ) -> pb.AdvanceSubscriptionPeriodsResponse:
        principal = require_operator()
        if request.HasField("now"):
            if not principal.is_operator:
                raise PermissionDenied(
                    "only platform operators may advance to a chosen time", reason="OPERATOR_ONLY"
                )
            now = from_timestamp(request.now, "now")
            if now.year < EARLIEST_ADVANCE_YEAR:  # periods and retention are reckoned back from it
                raise InvalidArgument.field("now", f"must lie after {EARLIEST_ADVANCE_YEAR}")
        else:
            now = utcnow()
        if not 0 <= request.limit <= MAX_ADVANCE_LIMIT:
            raise InvalidArgument.field("limit", f"must be between 0 and {MAX_ADVANCE_LIMIT}")
        report = await self.advance_periods(now, request.limit or None)
        return pb.AdvanceSubscriptionPeriodsResponse(
            periods_renewed=report.periods_renewed,
            subscriptions_canceled=report.subscriptions_canceled,
            trials_ended=report.trials_ended,
            invoices_drafted=report.invoices_drafted,
            limit_counters_pruned=report.limit_counters_pruned,
            remaining=report.remaining,
            subscription_ids=[str(i) for i in dict.fromkeys(report.subscription_ids)],
            failed_subscription_ids=[str(i) for i in report.failed_subscription_ids],
        )

    async def advance_periods(self, now: datetime, limit: int | None = None) -> AdvanceReport:
        """Close up to ``limit`` ended periods and trials as of ``now``, then prune old plan-limit
        counters; the entry point of AdvanceSubscriptionPeriods and of a background loop."""
        budget = limit or self._settings.billing_advance_batch_size
        report = AdvanceReport()
        steps = 0
        while steps < budget:
            statement = (
                select(SubscriptionRecord.id)
                .where(self._due(now))
                .order_by(SubscriptionRecord.current_period_end, SubscriptionRecord.id)
                .limit(budget - steps)
            )
            if report.failed_subscription_ids:
                statement = statement.where(
                    SubscriptionRecord.id.not_in(report.failed_subscription_ids)
                )
            progressed = False
            for sub_id in await self._read_ids(statement):
                try:
                    advanced = await self._advance_one(sub_id, now, report)
                except DomainError as exc:
                    # One subscription that cannot close (e.g. an invoice too large) must not
                    # block every other: it is skipped, logged, and retried on the next call.
                    log.warning("subscription %s could not advance: %s", sub_id, exc)
                    report.failed_subscription_ids.append(sub_id)
                    progressed = True
                    continue
                if advanced:
                    steps += 1
                    progressed = True
            if not progressed:
                break  # nothing due, or every one due was just advanced by a concurrent caller
        report.limit_counters_pruned = await self._prune_plan_counters(now, budget)
        async with self._db.reading() as session:
            remaining = await session.scalar(
                select(func.count()).select_from(SubscriptionRecord).where(self._due(now))
            )
        report.remaining = int(remaining or 0)
        return report

    async def _read_ids(self, statement: Any) -> list[uuid.UUID]:
        async with self._db.reading() as session:
            return list((await session.scalars(statement)).all())

    async def _advance_one(self, sub_id: uuid.UUID, now: datetime, report: AdvanceReport) -> bool:
        """Apply the next step of one subscription (its trial's end, else its period's close)
        in one transaction; False when there was none or a concurrent caller took it."""
        table = SubscriptionRecord
        async with self._db.transaction() as session:
            sub = await session.get(table, sub_id, populate_existing=True)
            if sub is None or sub.status is SubscriptionStatus.CANCELED:
                return False
            start, end = sub.current_period_start, sub.current_period_end
            trial_end = sub.trial_ends_at
            if (
                sub.status is SubscriptionStatus.TRIALING
                and trial_end is not None
                and trial_end <= now
                and (end is None or trial_end <= end)
            ):
                # No payment method is known here; a failed payment arrives later from Stripe
                # and moves the subscription to past_due.
                moved = await session.execute(
                    update(table)
                    .where(table.id == sub_id, table.status == SubscriptionStatus.TRIALING)
                    .values(
                        status=SubscriptionStatus.ACTIVE,
                        version=table.version + 1,
                        updated_at=utcnow(),
                    )
                    .execution_options(synchronize_session=False)
                )
                if rows_matched(moved) != 1:
                    return False
                report.trials_ended += 1
                report.subscription_ids.append(sub_id)
                return True
            if start is None or end is None or end > now:
                return False
            plan = await self._plan(session, sub.plan_id)
            ending = sub.cancel_at_period_end or not sub.auto_renew
            changes: dict[str, Any] = (
                {"status": SubscriptionStatus.CANCELED, "cancel_at": end}
                if ending
                else {
                    "current_period_start": end,
                    "current_period_end": next_period_end(
                        sub.starts_at, end, interval_months(plan.interval, plan.interval_count)
                    ),
                }
            )
            # The claim: only the caller whose UPDATE still sees this period end closes it; a
            # concurrent one waits for the row (PostgreSQL) or the database (SQLite), then
            # matches nothing.
            claimed = await session.execute(
                update(table)
                .where(
                    table.id == sub_id,
                    table.current_period_end == end,
                    table.status != SubscriptionStatus.CANCELED,
                )
                .values(**changes, version=table.version + 1, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if rows_matched(claimed) != 1:
                return False
            usage = {
                row.feature_key: row.quantity
                for row in await self._roll_up_period(session, sub, start, end)
            }
            invoice_id = await self._live_invoice_id(session, sub_id, start)
            # A period spent wholly in the trial is not billed.
            in_trial = trial_end is not None and trial_end >= end
            if invoice_id is None and not in_trial:
                invoice, _ = await self._draft_invoice(session, sub, plan, start, end, usage)
                invoice_id = invoice.id
                report.invoices_drafted += 1
            session.add(
                SubscriptionPeriodRecord(
                    subscription_id=sub_id,
                    tenant_id=sub.tenant_id,
                    period_start=start,
                    period_end=end,
                    window_start=epoch_seconds(start),
                    outcome="canceled" if ending else "renewed",
                    invoice_id=invoice_id,
                    closed_at=now,
                )
            )
            await session.flush()
            if ending:
                report.subscriptions_canceled += 1
            else:
                report.periods_renewed += 1
            report.subscription_ids.append(sub_id)
            return True

    async def _prune_plan_counters(self, now: datetime, limit: int) -> int:
        """Delete the plan-limit counters of closed periods that ended more than the retention
        ago, at most ``limit`` periods' worth; each period is pruned once."""
        cutoff = now - timedelta(days=self._settings.billing_plan_counter_retention_days)
        period = SubscriptionPeriodRecord
        counters = LimitCounterRecord
        pruned = 0
        async with self._db.transaction() as session:
            rows = (
                await session.scalars(
                    select(period)
                    .where(period.counters_pruned_at.is_(None), period.period_end < cutoff)
                    .order_by(period.period_end, period.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                deleted = await session.execute(
                    delete(counters)
                    .where(
                        counters.tenant_id == row.tenant_id,
                        counters.window_start == row.window_start,
                        counters.kind.startswith(PLAN_COUNTER_PREFIX, autoescape=True),
                    )
                    .execution_options(synchronize_session=False)
                )
                pruned += rows_matched(deleted) or 0
                row.counters_pruned_at = now
            await session.flush()
        return pruned
