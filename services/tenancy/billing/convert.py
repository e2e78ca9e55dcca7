"""Billing rows as their protobuf messages, and the enum maps between the two."""

from __future__ import annotations

from typing import Any

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from quarterdeck.tenancy.v1 import pricing_pb2
from services.tenancy.billing.models import (
    COUNTER_COLUMNS,
    BillingPlanRecord,
    Granularity,
    InvoiceLineRecord,
    InvoiceRecord,
    InvoiceStatus,
    Metric,
    PlanFeatureRecord,
    SubscriptionRecord,
    SubscriptionStatus,
    SubscriptionUsageRecord,
)
from shared.pricing_math import format_micros, format_pico
from shared.timestamps import to_timestamp

CURRENCY = "USD"

GRANULARITY_TO_PROTO = {
    Granularity.DAY: pb.USAGE_GRANULARITY_DAY,
    Granularity.MONTH: pb.USAGE_GRANULARITY_MONTH,
}
METRIC_TO_PROTO = {
    Metric.INPUT_TOKENS: pb.USAGE_METRIC_INPUT_TOKENS,
    Metric.OUTPUT_TOKENS: pb.USAGE_METRIC_OUTPUT_TOKENS,
    Metric.TOTAL_TOKENS: pb.USAGE_METRIC_TOTAL_TOKENS,
    Metric.REQUESTS: pb.USAGE_METRIC_REQUESTS,
    Metric.STORAGE_BYTES: pb.USAGE_METRIC_STORAGE_BYTES,
}
METRIC_FROM_PROTO = {v: k for k, v in METRIC_TO_PROTO.items()}
SUB_STATUS_TO_PROTO = {
    SubscriptionStatus.TRIALING: pb.SUBSCRIPTION_STATUS_TRIALING,
    SubscriptionStatus.ACTIVE: pb.SUBSCRIPTION_STATUS_ACTIVE,
    SubscriptionStatus.PAST_DUE: pb.SUBSCRIPTION_STATUS_PAST_DUE,
    SubscriptionStatus.CANCELED: pb.SUBSCRIPTION_STATUS_CANCELED,
}
#: Keyed by the number as it comes off the wire (a plain int), as are the others below.
SUB_STATUS_FROM_PROTO: dict[int, SubscriptionStatus] = {
    v: k for k, v in SUB_STATUS_TO_PROTO.items()
}


INVOICE_STATUS_TO_PROTO = {
    InvoiceStatus.DRAFT: pb.INVOICE_STATUS_DRAFT,
    InvoiceStatus.OPEN: pb.INVOICE_STATUS_OPEN,
    InvoiceStatus.PAID: pb.INVOICE_STATUS_PAID,
    InvoiceStatus.VOID: pb.INVOICE_STATUS_VOID,
}
INVOICE_STATUS_FROM_PROTO: dict[int, InvoiceStatus] = {
    v: k for k, v in INVOICE_STATUS_TO_PROTO.items()
}


def money(picos: int) -> pricing_pb2.Money:
    return pricing_pb2.Money(currency_code=CURRENCY, amount=format_pico(picos))


def counter_to_proto(row: Any) -> pb.UsageCounter:
    return pb.UsageCounter(
        tenant_id=str(row.tenant_id),
        user_id=str(row.user_id) if row.user_id else "",
        period_start=row.period_start.isoformat(),
        granularity=GRANULARITY_TO_PROTO[Granularity(row.granularity)],
        **{c: int(getattr(row, c)) for c in COUNTER_COLUMNS},
    )


def feature_to_proto(row: PlanFeatureRecord) -> pb.PlanFeature:
    feature = pb.PlanFeature(
        feature_key=row.feature_key,
        display_name=row.display_name or "",
        description=row.description or "",
        metric=METRIC_TO_PROTO[row.metric],
        unit=row.unit,
        is_metered=row.is_metered,
        included_quantity=row.included_quantity,
        overage_unit_price=format_micros(row.overage_unit_price_micros),
        overage_unit_block=row.overage_unit_block,
    )
    if row.hard_limit is not None:
        feature.hard_limit = row.hard_limit
    if row.soft_limit is not None:
        feature.soft_limit = row.soft_limit
    return feature


def plan_to_proto(row: BillingPlanRecord, features: list[PlanFeatureRecord]) -> pb.Plan:
    plan = pb.Plan(
        id=str(row.id),
        code=row.code,
        name=row.name,
        interval=row.interval,
        interval_count=row.interval_count,
        price=format_micros(row.price_micros),
        currency=row.currency,
        trial_days=row.trial_days or 0,
        is_active=row.is_active,
        features=[feature_to_proto(f) for f in sorted(features, key=lambda f: f.feature_key)],
        create_time=to_timestamp(row.created_at),
    )
    if row.seat_included is not None:
        plan.seat_included = row.seat_included
    return plan


def subscription_to_proto(row: SubscriptionRecord) -> pb.Subscription:
    return pb.Subscription(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        plan_id=str(row.plan_id),
        status=SUB_STATUS_TO_PROTO[row.status],
        seat_count=row.seat_count or 0,
        cancel_at_period_end=row.cancel_at_period_end,
        trial_end_time=to_timestamp(row.trial_ends_at),
        current_period_start=to_timestamp(row.current_period_start),
        current_period_end=to_timestamp(row.current_period_end),
        billing_email=row.billing_email or "",
        version=row.version,
        create_time=to_timestamp(row.created_at),
    )


def usage_to_proto(row: SubscriptionUsageRecord) -> pb.SubscriptionUsage:
    return pb.SubscriptionUsage(
        subscription_id=str(row.subscription_id),
        feature_key=row.feature_key,
        unit=row.unit,
        period_start=to_timestamp(row.period_start),
        period_end=to_timestamp(row.period_end),
        quantity=row.quantity,
    )


def invoice_to_proto(row: InvoiceRecord, lines: list[InvoiceLineRecord]) -> pb.Invoice:
    return pb.Invoice(
        id=str(row.id),
        subscription_id=str(row.subscription_id),
        period_start=to_timestamp(row.period_start),
        period_end=to_timestamp(row.period_end),
        status=INVOICE_STATUS_TO_PROTO[row.status],
        total=money(row.total_picos),
        line_items=[
            pb.InvoiceLineItem(
                description=line.description,
                quantity=line.quantity,
                unit_price=format_micros(line.unit_price_micros),
                unit_block=line.unit_block,
                amount=money(line.amount_picos),
            )
            for line in sorted(lines, key=lambda line: line.position)
        ],
        create_time=to_timestamp(row.created_at),
    )
