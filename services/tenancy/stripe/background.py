"""Tenancy's Stripe-dispatch job: due Stripe events are applied without an operator calling
DispatchStripeEvents (``stripe_dispatch_interval_seconds``). It runs :meth:`StripeInbox.dispatch`,
the code DispatchStripeEvents runs, in batches until a batch finds fewer due rows than it could
take.

The job is a :class:`shared.background.PeriodicJob` declared on the service's spec (see
``services/tenancy/service.py``), run as the billing-periods job is (one pass at a time, a failed
pass retried an interval later, a graceful stop). Stripe dispatchers of several replicas share
their due rows usefully (a claim that loses moves on to the next row), so they run unlocked.
"""

from __future__ import annotations

import logging

from services.tenancy.context import TenancyContext
from services.tenancy.stripe.handlers import DispatchCounts, StripeInbox
from shared.background import PeriodicJob

#: The logger of both of tenancy's background jobs.
log = logging.getLogger("quarterdeck.tenancy.background")

STRIPE_DISPATCH_JOB = "tenancy-stripe-dispatch"


class StripeDispatchPass:
    """Applies due Stripe events: new ones not applied at ingest, retries whose backoff is over,
    and dispatches whose lease expired, as DispatchStripeEvents does."""

    name = STRIPE_DISPATCH_JOB

    def __init__(self, context: TenancyContext) -> None:
        self._inbox = StripeInbox(context)
        self._batch_size = context.settings.stripe_dispatch_batch_size

    async def __call__(self, job: PeriodicJob) -> None:
        total = DispatchCounts()
        while not job.stopping:
            counts = await self._inbox.dispatch()
            total.claimed += counts.claimed
            total.done += counts.done
            total.failed += counts.failed
            total.dead += counts.dead
            if counts.claimed < self._batch_size:
                break
        if total.claimed:
            log.info(
                "%s: %d events claimed, %d applied, %d failed, %d dead-lettered",
                self.name,
                total.claimed,
                total.done,
                total.failed,
                total.dead,
            )


def stripe_dispatch_job(context: TenancyContext) -> PeriodicJob:
    return PeriodicJob(
        STRIPE_DISPATCH_JOB,
        context.settings.stripe_dispatch_interval_seconds,
        StripeDispatchPass(context),
    )
