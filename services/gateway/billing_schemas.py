"""The JSON resources of billing (usage totals, plans, subscriptions, usage roll-ups, invoices) and
their conversions to and from protobuf.

As elsewhere in the gateway: snake_case protobuf field names, RFC 3339 times in UTC, lowercase
enum names, and request bodies that refuse unknown fields. Prices are decimal strings of USD
(never JSON numbers); amounts are ``{"currency_code": "USD", "amount": "12.000000000000"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.gateway.catalogue_schemas import Money
from services.gateway.identity_schemas import time_or_none, timestamp_or_none
from services.gateway.proto_json import INT32_MAX, INT64_MAX, Text
from services.gateway.schemas import RequestBody
from shared.timestamps import from_timestamp

UsageMetricName = Literal[
    "input_tokens", "output_tokens", "total_tokens", "requests", "storage_bytes"
]
SubscriptionStatusName = Literal["trialing", "active", "past_due", "canceled"]
InvoiceStatusName = Literal["draft", "open", "paid", "void"]

USAGE_METRIC_NAMES: Mapping[int, UsageMetricName] = {
    pb.USAGE_METRIC_INPUT_TOKENS: "input_tokens",
    pb.USAGE_METRIC_OUTPUT_TOKENS: "output_tokens",
    pb.USAGE_METRIC_TOTAL_TOKENS: "total_tokens",
    pb.USAGE_METRIC_REQUESTS: "requests",
    pb.USAGE_METRIC_STORAGE_BYTES: "storage_bytes",
}
USAGE_METRIC_VALUES: Mapping[str, int] = {name: v for v, name in USAGE_METRIC_NAMES.items()}
SUBSCRIPTION_STATUS_NAMES: Mapping[int, SubscriptionStatusName] = {
    pb.SUBSCRIPTION_STATUS_TRIALING: "trialing",
    pb.SUBSCRIPTION_STATUS_ACTIVE: "active",
    pb.SUBSCRIPTION_STATUS_PAST_DUE: "past_due",
    pb.SUBSCRIPTION_STATUS_CANCELED: "canceled",
}
SUBSCRIPTION_STATUS_VALUES: Mapping[str, int] = {
    name: v for v, name in SUBSCRIPTION_STATUS_NAMES.items()
}
INVOICE_STATUS_NAMES: Mapping[int, InvoiceStatusName] = {
    pb.INVOICE_STATUS_DRAFT: "draft",
    pb.INVOICE_STATUS_OPEN: "open",
    pb.INVOICE_STATUS_PAID: "paid",
    pb.INVOICE_STATUS_VOID: "void",
}
INVOICE_STATUS_VALUES: Mapping[str, int] = {name: v for v, name in INVOICE_STATUS_NAMES.items()}

Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Positive = Annotated[int, Field(ge=1, le=INT64_MAX)]
Seats = Annotated[int, Field(ge=0, le=INT32_MAX)]
#: A price in USD: a decimal string such as "20" or "0.000050", at most six fractional digits.
Price = Annotated[
    Text,
    Field(
        max_length=32,
        description="USD as a decimal string with at most six fractional digits; never a number.",
        examples=["20.000000"],
    ),
]


def _refuse_null(value: object) -> object:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


# -- Usage -------------------------------------------------------------------------------------


class TenantUsage(BaseModel):
    tenant_id: str
    tenant_name: str
    input_tokens: int
    output_tokens: int
    total_tokens: int = Field(description="Input plus output tokens.")
    requests: int

    @classmethod
    def from_proto(cls, usage: pb.TenantUsage) -> TenantUsage:
        return cls(
            tenant_id=usage.tenant_id,
            tenant_name=usage.tenant_name,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            requests=usage.requests,
        )


class UsageTotals(BaseModel):
    tenants: list[TenantUsage] = Field(
        description="One entry per tenant with usage in the period, ordered by tenant name."
    )


# -- Plans -------------------------------------------------------------------------------------


class PlanFeature(BaseModel):
    feature_key: str
    display_name: str
    description: str
    metric: UsageMetricName | None
    unit: str
    hard_limit: int | None = Field(description="null for no hard limit.")
    soft_limit: int | None = Field(description="null for no warning.")
    is_metered: bool
    included_quantity: int
    overage_unit_price: str = Field(description="USD per block of overage, a decimal string.")
    overage_unit_block: int

    @classmethod
    def from_proto(cls, feature: pb.PlanFeature) -> PlanFeature:
        return cls(
            feature_key=feature.feature_key,
            display_name=feature.display_name,
            description=feature.description,
            metric=USAGE_METRIC_NAMES.get(feature.metric),
            unit=feature.unit,
            hard_limit=feature.hard_limit if feature.HasField("hard_limit") else None,
            soft_limit=feature.soft_limit if feature.HasField("soft_limit") else None,
            is_metered=feature.is_metered,
            included_quantity=feature.included_quantity,
            overage_unit_price=feature.overage_unit_price,
            overage_unit_block=feature.overage_unit_block,
        )


class PlanFeatureBody(RequestBody):
    """A feature of a plan: added, or replacing the feature of the same key."""

    feature_key: Text = Field(description="Unique within the plan, such as tokens.")
    display_name: Text = ""
    description: Text = ""
    metric: UsageMetricName = Field(description="What usage counts towards the feature.")
    unit: Text = Field(default="", description="Shown on invoices, such as tokens.")
    hard_limit: Count | None = Field(default=None, description="Usage allowed per period.")
    soft_limit: Count | None = Field(default=None, description="Usage that warns the tenant.")
    is_metered: bool = False
    included_quantity: Count = 0
    overage_unit_price: Price = "0"
    overage_unit_block: Positive = Field(
        default=1, description="1, 10, 100, 1000, 10000, 100000 or 1000000."
    )

    def to_proto(self) -> pb.PlanFeature:
        feature = pb.PlanFeature(
            feature_key=self.feature_key,
            display_name=self.display_name,
            description=self.description,
            metric=USAGE_METRIC_VALUES[self.metric],
            unit=self.unit,
            is_metered=self.is_metered,
            included_quantity=self.included_quantity,
            overage_unit_price=self.overage_unit_price,
            overage_unit_block=self.overage_unit_block,
        )
        if self.hard_limit is not None:
            feature.hard_limit = self.hard_limit
        if self.soft_limit is not None:
            feature.soft_limit = self.soft_limit
        return feature


class Plan(BaseModel):
    id: str
    code: str
    name: str
    interval: str = Field(description="monthly or yearly.")
    interval_count: int = Field(description="How many intervals one period is.")
    price: str = Field(description="USD per period, a decimal string.")
    currency: str
    trial_days: int
    seat_included: int | None = Field(description="The most seats allowed; null for no limit.")
    is_active: bool
    features: list[PlanFeature]
    create_time: datetime

    @classmethod
    def from_proto(cls, plan: pb.Plan) -> Plan:
        return cls(
            id=plan.id,
            code=plan.code,
            name=plan.name,
            interval=plan.interval,
            interval_count=plan.interval_count,
            price=plan.price,
            currency=plan.currency,
            trial_days=plan.trial_days,
            seat_included=plan.seat_included if plan.HasField("seat_included") else None,
            is_active=plan.is_active,
            features=[PlanFeature.from_proto(f) for f in plan.features],
            create_time=from_timestamp(plan.create_time),
        )


class PlanList(BaseModel):
    plans: list[Plan] = Field(description="Ordered by code.")
    next_page_token: str = Field(
        default="",
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page.",
    )


class UpdatePlanBody(RequestBody):
    """The fields to change; those left out stay as they are. A new price applies to invoices
    drafted from now on; existing invoices never change."""

    name: Text | None = None
    price: Price | None = None
    trial_days: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    seat_included: Seats | None = Field(default=None, description="null removes the seat limit.")
    is_active: bool | None = Field(
        default=None, description="false: no new subscriptions; existing ones continue."
    )

    @field_validator("name", "price", "trial_days", "is_active", mode="before")
    @classmethod
    def _no_nulls(cls, value: object) -> object:
        return _refuse_null(value)

    def to_proto(self, plan_id: str) -> pb.UpdatePlanRequest:
        plan = pb.Plan(
            id=plan_id,
            name=self.name or "",
            price=self.price or "",
            trial_days=self.trial_days or 0,
            is_active=bool(self.is_active),
        )
        if self.seat_included is not None:
            plan.seat_included = self.seat_included
        return pb.UpdatePlanRequest(plan=plan, update_mask=FieldMask(paths=self.mask_paths()))


class CreatePlanBody(RequestBody):
    code: Text = Field(description="Unique, lowercase.")
    name: Text
    interval: Literal["monthly", "yearly"] = "monthly"
    interval_count: Annotated[int, Field(ge=1, le=INT32_MAX)] = 1
    price: Price
    currency: Literal["USD"] = "USD"
    trial_days: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    seat_included: Seats | None = Field(default=None, description="Omit for no seat limit.")
    is_active: bool = True
    features: list[PlanFeatureBody] = Field(default_factory=list)

    def to_proto(self) -> pb.Plan:
        plan = pb.Plan(
            code=self.code,
            name=self.name,
            interval=self.interval,
            interval_count=self.interval_count,
            price=self.price,
            currency=self.currency,
            trial_days=self.trial_days,
            is_active=self.is_active,
            features=[feature.to_proto() for feature in self.features],
        )
        if self.seat_included is not None:
            plan.seat_included = self.seat_included
        return plan


# -- Subscriptions -----------------------------------------------------------------------------


class Subscription(BaseModel):
    id: str
    tenant_id: str
    plan_id: str
    status: SubscriptionStatusName | None
    seat_count: int
    cancel_at_period_end: bool
    trial_end_time: datetime | None = Field(description="null without a trial.")
    current_period_start: datetime | None
    current_period_end: datetime | None
    billing_email: str | None
    version: int
    create_time: datetime

    @classmethod
    def from_proto(cls, sub: pb.Subscription) -> Subscription:
        return cls(
            id=sub.id,
            tenant_id=sub.tenant_id,
            plan_id=sub.plan_id,
            status=SUBSCRIPTION_STATUS_NAMES.get(sub.status),
            seat_count=sub.seat_count,
            cancel_at_period_end=sub.cancel_at_period_end,
            trial_end_time=time_or_none(sub, "trial_end_time"),
            current_period_start=time_or_none(sub, "current_period_start"),
            current_period_end=time_or_none(sub, "current_period_end"),
            billing_email=sub.billing_email or None,
            version=sub.version,
            create_time=from_timestamp(sub.create_time),
        )


class CreateSubscriptionBody(RequestBody):
    plan_id: Text
    seat_count: Seats = Field(default=0, description="0 (the default): the seats in use.")
    billing_email: Text | None = Field(default=None, description="Where invoices go.")
    start_time: AwareDatetime | None = Field(
        default=None, description="When the first period starts; defaults to now."
    )

    def to_proto(self, tenant_id: str) -> pb.CreateSubscriptionRequest:
        return pb.CreateSubscriptionRequest(
            tenant_id=tenant_id,
            plan_id=self.plan_id,
            seat_count=self.seat_count,
            billing_email=self.billing_email or "",
            start_time=timestamp_or_none(self.start_time),
        )


class ChangeSubscriptionBody(RequestBody):
    """The fields to change; those left out stay as they are."""

    plan_id: Text | None = None
    seat_count: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None
    cancel_at_period_end: bool | None = None

    @field_validator("plan_id", "seat_count", "cancel_at_period_end", mode="before")
    @classmethod
    def _no_nulls(cls, value: object) -> object:
        return _refuse_null(value)

    def to_proto(self, tenant_id: str) -> pb.ChangeSubscriptionRequest:
        request = pb.ChangeSubscriptionRequest(tenant_id=tenant_id, plan_id=self.plan_id or "")
        if self.seat_count is not None:
            request.seat_count = self.seat_count
        if self.cancel_at_period_end is not None:
            request.cancel_at_period_end = self.cancel_at_period_end
        return request


class SubscriptionStatusBody(RequestBody):
    status: SubscriptionStatusName


class SubscriptionUsage(BaseModel):
    subscription_id: str
    feature_key: str
    unit: str
    period_start: datetime
    period_end: datetime
    quantity: int

    @classmethod
    def from_proto(cls, usage: pb.SubscriptionUsage) -> SubscriptionUsage:
        return cls(
            subscription_id=usage.subscription_id,
            feature_key=usage.feature_key,
            unit=usage.unit,
            period_start=from_timestamp(usage.period_start),
            period_end=from_timestamp(usage.period_end),
            quantity=usage.quantity,
        )


class UsageRollup(BaseModel):
    usage: list[SubscriptionUsage] = Field(description="One row per metered feature.")


# -- Invoices ----------------------------------------------------------------------------------


class InvoiceLineItem(BaseModel):
    description: str = Field(description="plan, or the feature key of an overage.")
    quantity: int
    unit_price: str = Field(description="USD per block, a decimal string.")
    unit_block: int
    amount: Money

    @classmethod
    def from_proto(cls, line: pb.InvoiceLineItem) -> InvoiceLineItem:
        return cls(
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            unit_block=line.unit_block,
            amount=Money.from_proto(line.amount),
        )


class Invoice(BaseModel):
    id: str
    subscription_id: str
    period_start: datetime
    period_end: datetime
    status: InvoiceStatusName | None
    total: Money = Field(description="The exact sum of the line items.")
    line_items: list[InvoiceLineItem]
    create_time: datetime

    @classmethod
    def from_proto(cls, invoice: pb.Invoice) -> Invoice:
        return cls(
            id=invoice.id,
            subscription_id=invoice.subscription_id,
            period_start=from_timestamp(invoice.period_start),
            period_end=from_timestamp(invoice.period_end),
            status=INVOICE_STATUS_NAMES.get(invoice.status),
            total=Money.from_proto(invoice.total),
            line_items=[InvoiceLineItem.from_proto(line) for line in invoice.line_items],
            create_time=from_timestamp(invoice.create_time),
        )


class InvoiceStatusBody(RequestBody):
    status: InvoiceStatusName = Field(
        description="draft may become open or void; open may become paid or void."
    )


# -- Billing periods ---------------------------------------------------------------------------


class AdvancePeriodsBody(RequestBody):
    now: AwareDatetime | None = Field(
        default=None,
        description="Advance as if it were this moment (platform operators, for tests); "
        "omit for the present.",
    )
    limit: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=0, description="At most this many period closings and trial ends; 0: default."
    )

    def to_proto(self) -> pb.AdvanceSubscriptionPeriodsRequest:
        return pb.AdvanceSubscriptionPeriodsRequest(
            now=timestamp_or_none(self.now), limit=self.limit
        )


class AdvancePeriodsReport(BaseModel):
    periods_renewed: int
    subscriptions_canceled: int = Field(description="Canceled at the end of their period.")
    trials_ended: int
    invoices_drafted: int
    limit_counters_pruned: int
    remaining: int = Field(description="Subscriptions still due: call again when above 0.")
    subscription_ids: list[str] = Field(description="The subscriptions this call changed.")
    failed_subscription_ids: list[str] = Field(
        description="Subscriptions whose period could not close; unchanged, tried again next call."
    )

    @classmethod
    def from_proto(cls, reply: pb.AdvanceSubscriptionPeriodsResponse) -> AdvancePeriodsReport:
        return cls(
            periods_renewed=reply.periods_renewed,
            subscriptions_canceled=reply.subscriptions_canceled,
            trials_ended=reply.trials_ended,
            invoices_drafted=reply.invoices_drafted,
            limit_counters_pruned=reply.limit_counters_pruned,
            remaining=reply.remaining,
            subscription_ids=list(reply.subscription_ids),
            failed_subscription_ids=list(reply.failed_subscription_ids),
        )
