"""Metering, plans, subscriptions, rolled-up usage and invoices (seed 001, "Billing").

``usage_counters`` is seed 001's: one row per tenant, user (NULL for none), period start and
granularity (day or month), with its unique constraint and, because NULLs never collide in a
unique constraint, the conditional unique index over the NULL-user rows. ``user_id`` is an
opaque id of the identity service, so it has no foreign key here.

Money is never a float: plan and overage prices are ``BigInteger`` micro-USD, invoice amounts
``BigInteger`` pico-USD (see :mod:`services.tenancy.billing.math`). The seed's ``price_cents``
and ``amount_cents`` become ``price_micros`` and ``total_picos``; ``plan_features`` gains the
metric, unit, included quantity and overage price invoicing needs, and uses a UUID id like
every other table of this service.

``subscription_periods`` records each period AdvanceSubscriptionPeriods closed (one row per
subscription and period start, which makes closing a period happen once), the invoice drafted
for it, and when the plan-limit counters of that period (``limit_counters`` rows of kind
``plan:...`` whose window is the period start in epoch seconds) were pruned.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.tenancy.models import Base
from services.tenancy.tenants.models import TenantRecord
from shared.db_types import UTCDateTime, utcnow


class Granularity(enum.StrEnum):
    DAY = "day"
    MONTH = "month"


class Metric(enum.StrEnum):
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    TOTAL_TOKENS = "total_tokens"
    REQUESTS = "requests"
    STORAGE_BYTES = "storage_bytes"


class SubscriptionStatus(enum.StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


def _enum(kind: type[enum.Enum], name: str, length: int = 16) -> Enum:
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


COUNTER_COLUMNS = ("input_tokens", "output_tokens", "requests", "storage_bytes")
NULL_USER = text("user_id IS NULL")
LIVE_SUBSCRIPTION = text("status <> 'canceled'")
LIVE_INVOICE = text("status <> 'void'")


class UsageCounterRecord(Base):
    __tablename__ = "usage_counters"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "period_start", "granularity"),
        Index(
            "uq_usage_counters_tenant_period_null_user",
            "tenant_id",
            "period_start",
            "granularity",
            unique=True,
            sqlite_where=NULL_USER,
            postgresql_where=NULL_USER,
        ),
        Index("ix_usage_counters_tenant_period", "tenant_id", "period_start"),
        Index("ix_usage_counters_user_period", "user_id", "period_start"),
        *(CheckConstraint(f"{c} >= 0", name=f"{c}_not_negative") for c in COUNTER_COLUMNS),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(TenantRecord.id, ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    period_start: Mapped[date] = mapped_column(Date)
    granularity: Mapped[Granularity] = mapped_column(_enum(Granularity, "usage_granularity"))
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class BillingPlanRecord(Base):
    __tablename__ = "billing_plans"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint("price_micros >= 0", name="price_not_negative"),
        CheckConstraint("interval_count >= 1", name="interval_count_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    interval: Mapped[str] = mapped_column(String(16), default="monthly")
    interval_count: Mapped[int] = mapped_column(Integer, default=1)
    price_micros: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    trial_days: Mapped[int | None] = mapped_column(Integer)
    seat_included: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PlanFeatureRecord(Base):
    __tablename__ = "plan_features"
    __table_args__ = (
        UniqueConstraint("plan_id", "feature_key"),
        CheckConstraint("included_quantity >= 0", name="included_not_negative"),
        CheckConstraint("overage_unit_price_micros >= 0", name="overage_price_not_negative"),
        CheckConstraint("overage_unit_block >= 1", name="overage_block_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_plans.id", ondelete="CASCADE"))
    feature_key: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    metric: Mapped[Metric] = mapped_column(_enum(Metric, "usage_metric", 24))
    unit: Mapped[str] = mapped_column(String(32))
    hard_limit: Mapped[int | None] = mapped_column(BigInteger)
    soft_limit: Mapped[int | None] = mapped_column(BigInteger)
    is_metered: Mapped[bool] = mapped_column(Boolean, default=False)
    included_quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    overage_unit_price_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    overage_unit_block: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SubscriptionRecord(Base):
    __tablename__ = "tenant_subscriptions"
    __table_args__ = (
        Index("ix_tenant_subscriptions_tenant_status", "tenant_id", "status"),
        # At most one subscription per tenant that is not canceled.
        Index(
            "uq_tenant_subscriptions_tenant_live",
            "tenant_id",
            unique=True,
            sqlite_where=LIVE_SUBSCRIPTION,
            postgresql_where=LIVE_SUBSCRIPTION,
        ),
        CheckConstraint("seat_count IS NULL OR seat_count >= 1", name="seat_count_positive"),
        # AdvanceSubscriptionPeriods looks up the periods and trials that have ended.
        Index("ix_tenant_subscriptions_period_end", "current_period_end"),
        Index("ix_tenant_subscriptions_trial_end", "trial_ends_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(TenantRecord.id, ondelete="CASCADE"))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_plans.id", ondelete="RESTRICT"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus, "subscription_status", 24), default=SubscriptionStatus.ACTIVE
    )
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    billing_email: Mapped[str | None] = mapped_column(String(256))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trial_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    seat_count: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class SubscriptionUsageRecord(Base):
    __tablename__ = "subscription_usage"
    __table_args__ = (
        UniqueConstraint("subscription_id", "feature_key", "period_start"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant_subscriptions.id", ondelete="CASCADE")
    )
    feature_key: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    quantity: Mapped[int] = mapped_column(BigInteger)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    external_event_id: Mapped[str | None] = mapped_column(String(128))


class InvoiceRecord(Base):
    __tablename__ = "subscription_invoices"
    __table_args__ = (
        Index("ix_subscription_invoices_subscription_period", "subscription_id", "period_start"),
        # At most one invoice per subscription period that is not void.
        Index(
            "uq_subscription_invoices_live_period",
            "subscription_id",
            "period_start",
            unique=True,
            sqlite_where=LIVE_INVOICE,
            postgresql_where=LIVE_INVOICE,
        ),
        CheckConstraint("total_picos >= 0", name="total_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant_subscriptions.id", ondelete="CASCADE")
    )
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    total_picos: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    status: Mapped[InvoiceStatus] = mapped_column(
        _enum(InvoiceStatus, "invoice_status"), default=InvoiceStatus.DRAFT
    )
    external_invoice_id: Mapped[str | None] = mapped_column(String(128))
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoiceLineRecord(Base):
    __tablename__ = "subscription_invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscription_invoices.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price_micros: Mapped[int] = mapped_column(BigInteger)
    unit_block: Mapped[int] = mapped_column(BigInteger)
    amount_picos: Mapped[int] = mapped_column(BigInteger)


PERIOD_OUTCOMES = ("renewed", "canceled")


class SubscriptionPeriodRecord(Base):
    """A closed period of a subscription, written by AdvanceSubscriptionPeriods."""

    __tablename__ = "subscription_periods"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start"),
        CheckConstraint("outcome IN ('renewed', 'canceled')", name="outcome_known"),
        Index("ix_subscription_periods_prunable", "counters_pruned_at", "period_end"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant_subscriptions.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(TenantRecord.id, ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The period start in UTC epoch seconds: the window of its plan-limit counters.
    window_start: Mapped[int] = mapped_column(BigInteger)
    #: "renewed" into a next period, or "canceled" at its end.
    outcome: Mapped[str] = mapped_column(String(16))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subscription_invoices.id", ondelete="SET NULL")
    )
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the period's plan-limit counters were deleted; NULL while they are kept.
    counters_pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
