"""Billing's use cases, transport-free, one module per seam: metering, plans, subscriptions,
roll-up, invoices and periods that advance. Each seam's handlers build on those it uses (a
subscription needs its plan, an invoice the roll-up, an advance the invoice), and
:class:`BillingHandlers` is all of them, as the servicer and the background job take it."""

from __future__ import annotations

from services.tenancy.billing.handlers.metering import MeteringHandlers
from services.tenancy.billing.handlers.periods import AdvanceReport, PeriodHandlers

__all__ = ["AdvanceReport", "BillingHandlers"]


class BillingHandlers(MeteringHandlers, PeriodHandlers):
    """Every billing RPC: metering beside plans, subscriptions, roll-up, invoices and periods."""
