"""The JSON resources of billing (usage totals, plans, subscriptions, usage roll-ups, invoices) and
the request bodies; the resources are mapped from their messages.

As elsewhere in the gateway: snake_case protobuf field names, RFC 3339 times in UTC, lowercase
enum names, and request bodies that refuse unknown fields. Prices are decimal strings of USD
(never JSON numbers); amounts are ``{"currency_code": "USD", "amount": "12.000000000000"}``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import AwareDatetime, Field, field_validator

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.gateway.catalogue.schemas import Money
from services.gateway.proto_json import INT32_MAX, INT64_MAX, Text
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.schemas import RequestBody
from shared.timestamps import to_timestamp

UsageMetricName = Literal[
    "input_tokens", "output_tokens", "total_tokens", "requests", "storage_bytes"
]

SubscriptionStatusName = Literal["trialing", "active", "past_due", "canceled"]

InvoiceStatusName = Literal["draft", "open", "paid", "void"]

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


class TenantUsage(ProtoModel, message=pb.TenantUsage):
    total_tokens: int = Field(description="Input plus output tokens.")


class UsageTotals(ProtoModel, message=pb.GetUsageResponse):
    tenants: list[TenantUsage] = Field(
        description="One entry per tenant with usage in the period, ordered by tenant name."
    )
    start_date: date = Field(description="The first day counted (as asked, or 30 days back).")
    end_date: date = Field(description="The day after the last counted (tomorrow by default).")


class PlanFeature(ProtoModel, message=pb.PlanFeature, nullable=("metric",)):
    hard_limit: int | None = Field(description="null for no hard limit.")
    soft_limit: int | None = Field(description="null for no warning.")
    overage_unit_price: str = Field(description="USD per block of overage, a decimal string.")


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
            metric=enum_number(pb.UsageMetric, self.metric),
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


class Plan(ProtoModel, message=pb.Plan):
    interval: str = Field(description="monthly or yearly.")
    interval_count: int = Field(description="How many intervals one period is.")
    price: str = Field(description="USD per period, a decimal string.")
    seat_included: int | None = Field(description="The most seats allowed; null for no limit.")


class PlanList(ProtoModel, message=pb.ListPlansResponse):
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


class Subscription(
    ProtoModel,
    message=pb.Subscription,
    nullable=("status", "current_period_start", "current_period_end", "billing_email"),
):
    trial_end_time: datetime | None = Field(description="null without a trial.")


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
            start_time=to_timestamp(self.start_time),
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


class SubscriptionUsage(ProtoModel, message=pb.SubscriptionUsage):
    pass


class UsageRollup(ProtoModel, message=pb.RollUpUsageResponse):
    usage: list[SubscriptionUsage] = Field(description="One row per metered feature.")


class InvoiceLineItem(ProtoModel, message=pb.InvoiceLineItem):
    description: str = Field(description="plan, or the feature key of an overage.")
    unit_price: str = Field(description="USD per block, a decimal string.")
    amount: Money


class Invoice(ProtoModel, message=pb.Invoice, nullable=("status",)):
    total: Money = Field(description="The exact sum of the line items.")


class InvoiceStatusBody(RequestBody):
    status: InvoiceStatusName = Field(
        description="draft may become open or void; open may become paid or void."
    )


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
        return pb.AdvanceSubscriptionPeriodsRequest(now=to_timestamp(self.now), limit=self.limit)


class AdvancePeriodsReport(ProtoModel, message=pb.AdvanceSubscriptionPeriodsResponse):
    subscriptions_canceled: int = Field(description="Canceled at the end of their period.")
    remaining: int = Field(description="Subscriptions still due: call again when above 0.")
    subscription_ids: list[str] = Field(description="The subscriptions this call changed.")
    failed_subscription_ids: list[str] = Field(
        description="Subscriptions whose period could not close; unchanged, tried again next call."
    )
