"""Tenancy's billing-periods job: periods advance without an operator calling
AdvanceSubscriptionPeriods (``billing_advance_interval_seconds``). It calls
:meth:`BillingHandlers.advance_periods` in batches until nothing is left to advance as of the pass's
start, and logs what it did.

The job is a :class:`shared.background.PeriodicJob` declared on the service's spec (see
``services/tenancy/service.py``): one asyncio task per process, started once the service serves
(unless its interval setting is 0) and stopped when it stops. A pass begins one interval after the
previous one ended, never two at once in a process, and a failed pass is logged and retried an
interval later. Several replicas are safe: every step claims its row with a conditional UPDATE.
The job also takes a PostgreSQL advisory lock for its pass, without waiting for it, because
replicas walking the same due subscriptions in the same order would only queue behind each
other's row locks.

On stop, a running pass is told to end after its current batch and given the service's grace
period to do so; only past it is the task cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select

from services.tenancy.billing.handlers import AdvanceReport, BillingHandlers
from services.tenancy.context import TenancyContext
from shared.background import PeriodicJob
from shared.db import Database
from shared.db_types import utcnow

#: The logger of both of tenancy's background jobs.
log = logging.getLogger("quarterdeck.tenancy.background")

BILLING_PERIODS_JOB = "tenancy-billing-periods"
#: The PostgreSQL advisory lock a billing-periods pass holds, whichever replica runs it.
BILLING_ADVISORY_LOCK_KEY = int.from_bytes(b"qdperiod", "big") & (2**63 - 1)


class BillingPeriodsPass:
    """Renews ended periods, ends trials and cancellations, drafts invoices in arrears and prunes
    old plan counters, as AdvanceSubscriptionPeriods does."""

    name = BILLING_PERIODS_JOB

    def __init__(self, context: TenancyContext) -> None:
        self._db: Database = context.database
        self._billing = BillingHandlers(context)
        self._batch_size = context.settings.billing_advance_batch_size

    async def __call__(self, job: PeriodicJob) -> None:
        async with self._exclusive_across_replicas() as ours:
            if not ours:
                log.debug("%s: another replica is advancing periods; skipped", self.name)
                return
            await self._advance(job)

    async def _advance(self, job: PeriodicJob) -> None:
        # One moment for the whole pass: a period renewed to an end after it is not due again.
        now = utcnow()
        total = AdvanceReport()
        while not job.stopping:
            report = await self._billing.advance_periods(now, self._batch_size)
            total.periods_renewed += report.periods_renewed
            total.subscriptions_canceled += report.subscriptions_canceled
            total.trials_ended += report.trials_ended
            total.invoices_drafted += report.invoices_drafted
            total.limit_counters_pruned += report.limit_counters_pruned
            total.failed_subscription_ids = report.failed_subscription_ids
            total.remaining = report.remaining
            moved = report.periods_renewed + report.subscriptions_canceled + report.trials_ended
            # What remains after a batch that moved nothing are subscriptions that failed to
            # close (logged by advance_periods): the next pass retries them.
            if report.remaining == 0 or moved == 0:
                break
        acted = (
            total.periods_renewed
            + total.subscriptions_canceled
            + total.trials_ended
            + total.limit_counters_pruned
        )
        if acted or total.failed_subscription_ids:
            log.info(
                "%s: %d periods renewed, %d subscriptions canceled, %d trials ended, "
                "%d invoices drafted, %d plan counters pruned; %d still due (%d failing)",
                self.name,
                total.periods_renewed,
                total.subscriptions_canceled,
                total.trials_ended,
                total.invoices_drafted,
                total.limit_counters_pruned,
                total.remaining,
                len(total.failed_subscription_ids),
            )

    @asynccontextmanager
    async def _exclusive_across_replicas(self) -> AsyncIterator[bool]:
        """On PostgreSQL, whether this pass got the session advisory lock (held for the pass on a
        connection outside any transaction, so it pins no snapshot); SQLite: always."""
        if self._db.dialect != "postgresql":
            yield True
            return
        async with self._db.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            locked = bool(
                await connection.scalar(
                    select(func.pg_try_advisory_lock(BILLING_ADVISORY_LOCK_KEY))
                )
            )
            try:
                yield locked
            finally:
                if locked:
                    try:
                        await connection.execute(
                            select(func.pg_advisory_unlock(BILLING_ADVISORY_LOCK_KEY))
                        )
                    except BaseException:
                        # A pooled connection must not keep the lock: closing it releases it.
                        await connection.invalidate()
                        raise


def billing_periods_job(context: TenancyContext) -> PeriodicJob:
    return PeriodicJob(
        BILLING_PERIODS_JOB,
        context.settings.billing_advance_interval_seconds,
        BillingPeriodsPass(context),
    )
