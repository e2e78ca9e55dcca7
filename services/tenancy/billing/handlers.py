"""Metering, plans, subscriptions, usage roll-up and invoices: protobuf in, protobuf out.

* **Metering.** RecordUsage (Quarterdeck services only) adds to the counters of the UTC day and
  month the usage occurred in with one ``INSERT ... ON CONFLICT DO UPDATE SET c = c + excluded.c``
  per row, on both databases, so concurrent calls never lose an increment. A call with no user
  lands on the NULL-user row, which the conditional unique index keeps unique.
* **Plans** are managed by platform operators; **subscriptions** by tenant owners (and
  operators). A tenant has at most one subscription that is not canceled.
* **Roll-up** sums the day counters of a subscription's current period into one
  ``subscription_usage`` row per plan feature, overwriting, so it is idempotent. Counters are
  per UTC day, so a period counts the days from its start's date up to its end's date
  (exclusive): exact for periods starting at midnight UTC.
* **Invoices** are drafted from the plan price and the overage beyond each metered feature's
  included quantity, exactly (see :mod:`services.tenancy.billing.math`).
* **Periods advance** (AdvanceSubscriptionPeriods, or :meth:`BillingHandlers.advance_periods`
  from a background loop): each step is one transaction for one subscription. An ended trial
  makes the subscription active (no payment method is known here; Stripe's events move it to
  past_due when a payment fails). An ended period is claimed with a conditional UPDATE on its
  end (so of two concurrent callers exactly one closes it), rolled up, invoiced in arrears at
  the plan's price at closing time (not when wholly inside the trial; an invoice already
  drafted for it is kept), recorded in ``subscription_periods``, and then renewed to the next
  end on the subscription's start-date schedule, or canceled when ``cancel_at_period_end``
  (or no ``auto_renew``). Plan-limit counters of periods that ended more than
  ``billing_plan_counter_retention_days`` ago are then deleted, once per closed period.
* **Plans** are updated with a field mask; a price change applies to invoices drafted later
  and never to existing ones (their lines keep their amounts); a deactivated plan takes no new
  subscriptions while existing ones renew on it.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from quarterdeck.tenancy.v1 import pricing_pb2
from services.tenancy.billing.math import (
    COUNT_FIELDS,
    MAX_PICOS,
    UNIT_BLOCKS,
    Line,
    add_months,
    count_violations,
    interval_months,
    month_start,
    next_period_end,
    overage_units,
)
from services.tenancy.billing.models import (
    COUNTER_COLUMNS,
    BillingPlanRecord,
    Granularity,
    InvoiceLineRecord,
    InvoiceRecord,
    InvoiceStatus,
    Metric,
    PlanFeatureRecord,
    SubscriptionPeriodRecord,
    SubscriptionRecord,
    SubscriptionStatus,
    SubscriptionUsageRecord,
    UsageCounterRecord,
)
from services.tenancy.context import TenancyContext
from services.tenancy.limits.models import LimitCounterRecord
from services.tenancy.models import Base
from services.tenancy.tenants.models import MembershipRecord, TenantRecord
from services.tenancy.tenants.validation import EMAIL_PATTERN, raise_if_any
from shared.auth import (
    require_internal,
    require_operator,
    require_principal,
    require_tenant,
)
from shared.db import rows_matched, unique_violation
from shared.db_types import utcnow
from shared.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from shared.field_mask import paths_to_update
from shared.ids import parse_id
from shared.inserts import Insert, dialect_insert
from shared.pagination import fetch_page
from shared.pricing_math import format_micros, format_pico, parse_usd_micros
from shared.tenant_scope import tenant_for_read
from shared.timestamps import REPORT_WINDOW, from_timestamp, to_timestamp

log = logging.getLogger("quarterdeck.tenancy.billing")

CURRENCY = "USD"
CODE_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
FEATURE_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTERVALS = frozenset({"monthly", "yearly"})
MAX_INTERVAL_COUNT = 36
MAX_TRIAL_DAYS = 365
MAX_SEATS = 1_000_000
MAX_FEATURES = 50
#: The most of any counter one RecordUsage call may add (a terabyte, or a trillion tokens), so
#: millions of such calls still fit a BIGINT counter.
MAX_INCREMENT = 10**12

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
SUB_TRANSITIONS = {
    SubscriptionStatus.TRIALING: {
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.CANCELED,
    },
    SubscriptionStatus.ACTIVE: {SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELED},
    SubscriptionStatus.PAST_DUE: {SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED},
    SubscriptionStatus.CANCELED: set(),
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
INVOICE_TRANSITIONS = {
    InvoiceStatus.DRAFT: {InvoiceStatus.OPEN, InvoiceStatus.VOID},
    InvoiceStatus.OPEN: {InvoiceStatus.PAID, InvoiceStatus.VOID},
    InvoiceStatus.PAID: set(),
    InvoiceStatus.VOID: set(),
}

_Status = TypeVar("_Status", SubscriptionStatus, InvoiceStatus)


def _requested_status(status: int, from_proto: Mapping[int, _Status], values: str) -> _Status:
    """The status a Set*Status request asks for, which must be one of the ``values`` named."""
    if status not in from_proto:
        raise InvalidArgument.field("status", f"must be one of the {values} values")
    return from_proto[status]


def _check_transition(
    what: str,
    current: _Status,
    target: _Status,
    transitions: Mapping[_Status, set[_Status]],
    reason: str,
) -> None:
    """Refuses a status change ``transitions`` does not allow."""
    if target not in transitions[current]:
        raise FailedPrecondition(
            f"a {current.value} {what} cannot become {target.value}", reason=reason
        )


def _money(picos: int) -> pricing_pb2.Money:
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
        total=_money(row.total_picos),
        line_items=[
            pb.InvoiceLineItem(
                description=line.description,
                quantity=line.quantity,
                unit_price=format_micros(line.unit_price_micros),
                unit_block=line.unit_block,
                amount=_money(line.amount_picos),
            )
            for line in sorted(lines, key=lambda line: line.position)
        ],
        create_time=to_timestamp(row.created_at),
    )


def _parse_date(value: str, field: str) -> date:
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        if not DATE_PATTERN.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument.field(field, "must be a date as YYYY-MM-DD") from None


def _feature_values(feature: pb.PlanFeature, prefix: str) -> dict[str, Any]:
    """The columns of a valid feature, or InvalidArgument naming every bad field."""
    problems: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        problems.append(FieldViolation(f"{prefix}.{field}", description))

    if not FEATURE_KEY_PATTERN.match(feature.feature_key):
        bad("feature_key", "must be 1 to 64 lowercase letters, digits, '_', '.' or '-'")
    if feature.metric not in METRIC_FROM_PROTO:
        bad("metric", "must be one of the USAGE_METRIC_ values")
    if len(feature.unit) > 32:
        bad("unit", "must be at most 32 characters")
    if len(feature.display_name) > 128:
        bad("display_name", "must be at most 128 characters")
    for name in ("hard_limit", "soft_limit"):
        if feature.HasField(name) and getattr(feature, name) < 0:
            bad(name, "must not be negative")
    if (
        feature.HasField("hard_limit")
        and feature.HasField("soft_limit")
        and 0 <= feature.hard_limit < feature.soft_limit
    ):
        bad("soft_limit", "must not exceed hard_limit")
    if feature.included_quantity < 0:
        bad("included_quantity", "must not be negative")
    block = feature.overage_unit_block or 1
    if block not in UNIT_BLOCKS:
        bad("overage_unit_block", "must be 1, 10, 100, 1000, 10000, 100000 or 1000000")
    price = 0
    try:
        price = parse_usd_micros(feature.overage_unit_price, f"{prefix}.overage_unit_price")
    except InvalidArgument as exc:
        problems += exc.violations
    raise_if_any(problems)
    metric = METRIC_FROM_PROTO[feature.metric]
    return {
        "feature_key": feature.feature_key,
        "display_name": feature.display_name or None,
        "description": feature.description or None,
        "metric": metric,
        "unit": feature.unit or metric.value,
        "hard_limit": feature.hard_limit if feature.HasField("hard_limit") else None,
        "soft_limit": feature.soft_limit if feature.HasField("soft_limit") else None,
        "is_metered": feature.is_metered,
        "included_quantity": feature.included_quantity,
        "overage_unit_price_micros": price,
        "overage_unit_block": block,
    }


def _plan_values(plan: pb.Plan) -> dict[str, Any]:
    problems: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        problems.append(FieldViolation(f"plan.{field}", description))

    if not CODE_PATTERN.match(plan.code):
        bad("code", "must be 1 to 64 lowercase letters, digits, '_' or '-'")
    if not plan.name.strip():
        bad("name", "is required")
    elif len(plan.name) > 128:
        bad("name", "must be at most 128 characters")
    interval = plan.interval or "monthly"
    if interval not in INTERVALS:
        bad("interval", "must be 'monthly' or 'yearly'")
    count = plan.interval_count or 1
    if not 1 <= count <= MAX_INTERVAL_COUNT:
        bad("interval_count", f"must be between 1 and {MAX_INTERVAL_COUNT}")
    if plan.currency not in ("", CURRENCY):
        bad("currency", "must be USD")
    if not 0 <= plan.trial_days <= MAX_TRIAL_DAYS:
        bad("trial_days", f"must be between 0 and {MAX_TRIAL_DAYS}")
    if plan.HasField("seat_included") and not 1 <= plan.seat_included <= MAX_SEATS:
        bad("seat_included", f"must be between 1 and {MAX_SEATS}")
    if len(plan.features) > MAX_FEATURES:
        bad("features", f"must have at most {MAX_FEATURES} entries")
    price = 0
    if not plan.price.strip():
        bad("price", "is required")
    else:
        try:
            price = parse_usd_micros(plan.price, "plan.price")
        except InvalidArgument as exc:
            problems += exc.violations
    keys = [f.feature_key for f in plan.features]
    if len(keys) != len(set(keys)):
        bad("features", "feature keys must be unique")
    raise_if_any(problems)
    return {
        "code": plan.code,
        "name": plan.name.strip(),
        "interval": interval,
        "interval_count": count,
        "price_micros": price,
        "currency": CURRENCY,
        "trial_days": plan.trial_days or None,
        "seat_included": plan.seat_included if plan.HasField("seat_included") else None,
        "is_active": True,
    }


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


UPDATABLE_PLAN_FIELDS = frozenset({"name", "price", "trial_days", "seat_included", "is_active"})


def _plan_update_values(plan: pb.Plan, paths: list[str]) -> dict[str, Any]:
    """The columns an UpdatePlan sets, or InvalidArgument naming every bad field."""
    problems: list[FieldViolation] = []
    values: dict[str, Any] = {}
    if "name" in paths:
        if not plan.name.strip():
            problems.append(FieldViolation("plan.name", "is required"))
        elif len(plan.name) > 128:
            problems.append(FieldViolation("plan.name", "must be at most 128 characters"))
        values["name"] = plan.name.strip()
    if "price" in paths:
        if not plan.price.strip():
            problems.append(FieldViolation("plan.price", "is required"))
        else:
            try:
                values["price_micros"] = parse_usd_micros(plan.price, "plan.price")
            except InvalidArgument as exc:
                problems += exc.violations
    if "trial_days" in paths:
        if not 0 <= plan.trial_days <= MAX_TRIAL_DAYS:
            problems.append(
                FieldViolation("plan.trial_days", f"must be between 0 and {MAX_TRIAL_DAYS}")
            )
        values["trial_days"] = plan.trial_days or None
    if "seat_included" in paths:
        if plan.HasField("seat_included") and not 1 <= plan.seat_included <= MAX_SEATS:
            problems.append(
                FieldViolation("plan.seat_included", f"must be between 1 and {MAX_SEATS}")
            )
        # Masked but unset removes the seat limit.
        values["seat_included"] = plan.seat_included if plan.HasField("seat_included") else None
    if "is_active" in paths:
        values["is_active"] = plan.is_active
    raise_if_any(problems)
    return values


class BillingHandlers:
    def __init__(self, context: TenancyContext) -> None:
        self._db = context.database
        self._pages = context.page_tokens
        self._settings = context.settings

    # ----- metering -----

    def _insert(self, table: Any) -> Insert:
        return dialect_insert(self._db.dialect, table)

    async def _increment(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID | None,
        period_start: date,
        granularity: Granularity,
        counts: dict[str, int],
    ) -> Any:
        table = UsageCounterRecord.__table__
        now = utcnow()
        stmt = self._insert(table).values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            user_id=user_id,
            period_start=period_start,
            granularity=granularity,
            created_at=now,
            updated_at=now,
            **counts,
        )
        target: dict[str, Any] = (
            {
                "index_elements": ["tenant_id", "period_start", "granularity"],
                "index_where": table.c.user_id.is_(None),
            }
            if user_id is None
            else {"index_elements": ["tenant_id", "user_id", "period_start", "granularity"]}
        )
        upsert = stmt.on_conflict_do_update(
            **target,
            set_={
                **{c: table.c[c] + stmt.excluded[c] for c in COUNTER_COLUMNS},
                "updated_at": stmt.excluded.updated_at,
            },
        ).returning(*table.c)
        return (await session.execute(upsert)).one()

    async def record_usage(self, request: pb.RecordUsageRequest) -> pb.RecordUsageResponse:
        require_internal()
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        user_id = parse_id(request.user_id, "user_id") if request.user_id else None
        counts = {name: getattr(request, name) for name in COUNT_FIELDS}
        problems = count_violations(counts)
        problems += [
            FieldViolation(name, f"must be at most {MAX_INCREMENT}")
            for name, value in counts.items()
            if value > MAX_INCREMENT
        ]
        raise_if_any(problems)
        occurred = (
            from_timestamp(request.occurred_at) if request.HasField("occurred_at") else utcnow()
        )
        day = occurred.astimezone(UTC).date()
        async with self._db.transaction() as session:
            if await session.get(TenantRecord, tenant_id) is None:
                raise NotFound("no such tenant", reason="TENANT_NOT_FOUND")
            day_row = await self._increment(
                session, tenant_id, user_id, day, Granularity.DAY, counts
            )
            month_row = await self._increment(
                session, tenant_id, user_id, month_start(day), Granularity.MONTH, counts
            )
            return pb.RecordUsageResponse(
                day=counter_to_proto(day_row), month=counter_to_proto(month_row)
            )

    async def get_usage(self, request: pb.GetUsageRequest) -> pb.GetUsageResponse:
        if request.tenant_id:
            parse_id(request.tenant_id, "tenant_id")
        scope = tenant_for_read(request.tenant_id)
        tenant_id = uuid.UUID(scope) if scope is not None else None
        # By default the last 30 days, today (UTC) included.
        end = (
            _parse_date(request.end_date, "end_date")
            if request.end_date
            else utcnow().date() + timedelta(days=1)
        )
        start = (
            _parse_date(request.start_date, "start_date")
            if request.start_date
            else end - REPORT_WINDOW
        )
        if end <= start:
            raise InvalidArgument.field("end_date", "must be after start_date")
        counter = UsageCounterRecord
        stmt = (
            select(
                counter.tenant_id,
                TenantRecord.name,
                func.sum(counter.input_tokens),
                func.sum(counter.output_tokens),
                func.sum(counter.requests),
            )
            .join(TenantRecord, TenantRecord.id == counter.tenant_id)
            .where(
                counter.granularity == Granularity.DAY,
                counter.period_start >= start,
                counter.period_start < end,
            )
            .group_by(counter.tenant_id, TenantRecord.name)
            .order_by(TenantRecord.name, counter.tenant_id)
        )
        if tenant_id is not None:
            stmt = stmt.where(counter.tenant_id == tenant_id)
        async with self._db.reading() as session:
            rows = (await session.execute(stmt)).all()
        return pb.GetUsageResponse(
            tenants=[
                pb.TenantUsage(
                    tenant_id=str(tid),
                    tenant_name=name,
                    input_tokens=int(inp),
                    output_tokens=int(out),
                    total_tokens=int(inp) + int(out),
                    requests=int(req),
                )
                for tid, name, inp, out, req in rows
            ],
            start_date=start.isoformat(),
            end_date=end.isoformat(),
        )

    # ----- plans -----

    async def _features(self, session: AsyncSession, plan_id: uuid.UUID) -> list[PlanFeatureRecord]:
        stmt = select(PlanFeatureRecord).where(PlanFeatureRecord.plan_id == plan_id)
        return list((await session.scalars(stmt)).all())

    async def _plan(self, session: AsyncSession, plan_id: uuid.UUID) -> BillingPlanRecord:
        row = await session.get(BillingPlanRecord, plan_id)
        if row is None:
            raise NotFound("no such plan", reason="PLAN_NOT_FOUND")
        return row

    async def create_plan(self, request: pb.CreatePlanRequest) -> pb.CreatePlanResponse:
        require_operator()
        values = _plan_values(request.plan)
        features = [
            _feature_values(f, f"plan.features[{i}]") for i, f in enumerate(request.plan.features)
        ]
        async with self._db.transaction() as session:
            plan = BillingPlanRecord(**values)
            session.add(plan)
            try:
                await session.flush()
            except IntegrityError as exc:
                if unique_violation(exc, Base.metadata) == ("code",):
                    raise AlreadyExists(
                        f"a plan with code '{values['code']}' already exists",
                        reason="PLAN_CODE_TAKEN",
                        metadata={"field": "plan.code"},
                    ) from None
                raise
            rows = [PlanFeatureRecord(plan_id=plan.id, **f) for f in features]
            session.add_all(rows)
            await session.flush()
            return pb.CreatePlanResponse(plan=plan_to_proto(plan, rows))

    async def get_plan(self, request: pb.GetPlanRequest) -> pb.GetPlanResponse:
        require_principal()
        plan_id = parse_id(request.id, "id")
        async with self._db.reading() as session:
            plan = await self._plan(session, plan_id)
            return pb.GetPlanResponse(
                plan=plan_to_proto(plan, await self._features(session, plan_id))
            )

    async def list_plans(self, request: pb.ListPlansRequest) -> pb.ListPlansResponse:
        require_principal()
        statement = select(BillingPlanRecord)
        if not request.include_inactive:
            statement = statement.where(BillingPlanRecord.is_active.is_(True))
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(BillingPlanRecord.code,),
                position_of=lambda row: (row.code,),
                codec=self._pages,
                query="BillingService.ListPlans",
                filters={"include_inactive": request.include_inactive},
                page_size=request.page_size,
                page_token=request.page_token,
            )
            ids = [plan.id for plan in page.items]
            features = (
                list(
                    (
                        await session.scalars(
                            select(PlanFeatureRecord).where(PlanFeatureRecord.plan_id.in_(ids))
                        )
                    ).all()
                )
                if ids
                else []
            )
        by_plan: dict[uuid.UUID, list[PlanFeatureRecord]] = {}
        for feature in features:
            by_plan.setdefault(feature.plan_id, []).append(feature)
        return pb.ListPlansResponse(
            plans=[plan_to_proto(p, by_plan.get(p.id, [])) for p in page.items],
            next_page_token=page.next_page_token,
        )

    async def update_plan(self, request: pb.UpdatePlanRequest) -> pb.UpdatePlanResponse:
        require_operator()
        plan = request.plan
        plan_id = parse_id(plan.id, "plan.id")
        if not request.update_mask.paths:
            raise InvalidArgument.field("update_mask", "must name the fields to change")
        paths = paths_to_update(request.update_mask, plan, UPDATABLE_PLAN_FIELDS)
        values = _plan_update_values(plan, paths)
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(BillingPlanRecord).where(BillingPlanRecord.id == plan_id).with_for_update()
            )
            if row is None:
                raise NotFound("no such plan", reason="PLAN_NOT_FOUND")
            seats = values.get("seat_included")
            if seats is not None:
                most = await session.scalar(
                    select(func.max(SubscriptionRecord.seat_count)).where(
                        SubscriptionRecord.plan_id == plan_id,
                        SubscriptionRecord.status != SubscriptionStatus.CANCELED,
                    )
                )
                if most is not None and most > seats:
                    raise FailedPrecondition(
                        f"a subscription to plan '{row.code}' has {most} seats, more than {seats}",
                        reason="PLAN_SEAT_LIMIT",
                        metadata={"field": "plan.seat_included", "most_seats": str(most)},
                    )
            for name, value in values.items():
                setattr(row, name, value)
            await session.flush()
            return pb.UpdatePlanResponse(
                plan=plan_to_proto(row, await self._features(session, plan_id))
            )

    async def set_plan_feature(
        self, request: pb.SetPlanFeatureRequest
    ) -> pb.SetPlanFeatureResponse:
        require_operator()
        plan_id = parse_id(request.plan_id, "plan_id")
        values = _feature_values(request.feature, "feature")
        async with self._db.transaction() as session:
            plan = await self._plan(session, plan_id)
            existing = await session.scalar(
                select(PlanFeatureRecord)
                .where(
                    PlanFeatureRecord.plan_id == plan_id,
                    PlanFeatureRecord.feature_key == values["feature_key"],
                )
                .with_for_update()
            )
            if existing is None:
                session.add(PlanFeatureRecord(plan_id=plan_id, **values))
            else:
                for key, value in values.items():
                    setattr(existing, key, value)
            try:
                await session.flush()
            except IntegrityError:
                raise Aborted("the feature was added meanwhile; retry") from None
            return pb.SetPlanFeatureResponse(
                plan=plan_to_proto(plan, await self._features(session, plan_id))
            )

    # ----- subscriptions -----

    async def _seats_in_use(self, session: AsyncSession, tenant_id: uuid.UUID) -> int:
        count = await session.scalar(
            select(func.count())
            .select_from(MembershipRecord)
            .where(MembershipRecord.tenant_id == tenant_id)
        )
        return int(count or 0)

    async def _live_subscription(
        self, session: AsyncSession, tenant_id: uuid.UUID, *, lock: bool = False
    ) -> SubscriptionRecord:
        stmt = select(SubscriptionRecord).where(
            SubscriptionRecord.tenant_id == tenant_id,
            SubscriptionRecord.status != SubscriptionStatus.CANCELED,
        )
        if lock:
            stmt = stmt.with_for_update()
        row = await session.scalar(stmt)
        if row is None:
            raise NotFound("the tenant has no subscription", reason="SUBSCRIPTION_NOT_FOUND")
        return row

    @staticmethod
    def _check_seats(plan: BillingPlanRecord, seat_count: int, in_use: int) -> None:
        if seat_count < in_use:
            raise FailedPrecondition(
                f"{in_use} seats are in use, more than the {seat_count} asked for",
                reason="SEATS_IN_USE",
                metadata={"seats_in_use": str(in_use)},
            )
        if plan.seat_included is not None and seat_count > plan.seat_included:
            raise FailedPrecondition(
                f"plan '{plan.code}' allows at most {plan.seat_included} seats",
                reason="PLAN_SEAT_LIMIT",
                metadata={"seat_included": str(plan.seat_included), "seats_in_use": str(in_use)},
            )

    @staticmethod
    def _usable_plan(plan: BillingPlanRecord) -> None:
        if not plan.is_active:
            raise FailedPrecondition(f"plan '{plan.code}' is not active", reason="PLAN_INACTIVE")

    async def create_subscription(
        self, request: pb.CreateSubscriptionRequest
    ) -> pb.CreateSubscriptionResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        require_tenant(str(tenant_id), "owner")
        plan_id = parse_id(request.plan_id, "plan_id")
        problems = []
        if request.seat_count < 0:
            problems.append(FieldViolation("seat_count", "must not be negative"))
        if request.billing_email and not EMAIL_PATTERN.match(request.billing_email):
            problems.append(FieldViolation("billing_email", "must be an email address"))
        raise_if_any(problems)
        start = from_timestamp(request.start_time) if request.HasField("start_time") else utcnow()
        async with self._db.transaction() as session:
            if await session.get(TenantRecord, tenant_id) is None:
                raise NotFound("no such tenant", reason="TENANT_NOT_FOUND")
            plan = await self._plan(session, plan_id)
            self._usable_plan(plan)
            in_use = await self._seats_in_use(session, tenant_id)
            seats = request.seat_count or max(1, in_use)
            self._check_seats(plan, seats, in_use)
            row = SubscriptionRecord(
                tenant_id=tenant_id,
                plan_id=plan_id,
                status=SubscriptionStatus.TRIALING
                if plan.trial_days
                else SubscriptionStatus.ACTIVE,
                billing_email=request.billing_email or None,
                starts_at=start,
                current_period_start=start,
                current_period_end=add_months(
                    start, interval_months(plan.interval, plan.interval_count)
                ),
                trial_ends_at=start + timedelta(days=plan.trial_days) if plan.trial_days else None,
                seat_count=seats,
            )
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise AlreadyExists(
                    "the tenant already has a subscription; change it instead",
                    reason="SUBSCRIPTION_EXISTS",
                ) from None
            return pb.CreateSubscriptionResponse(subscription=subscription_to_proto(row))

    async def get_subscription(
        self, request: pb.GetSubscriptionRequest
    ) -> pb.GetSubscriptionResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        require_tenant(str(tenant_id), "viewer")
        async with self._db.reading() as session:
            row = await self._live_subscription(session, tenant_id)
            return pb.GetSubscriptionResponse(subscription=subscription_to_proto(row))

    async def change_subscription(
        self, request: pb.ChangeSubscriptionRequest
    ) -> pb.ChangeSubscriptionResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        require_tenant(str(tenant_id), "owner")
        plan_id = parse_id(request.plan_id, "plan_id") if request.plan_id else None
        if request.HasField("seat_count") and request.seat_count < 1:
            raise InvalidArgument.field("seat_count", "must be at least 1")
        try:
            async with self._db.transaction() as session:
                row = await self._live_subscription(session, tenant_id, lock=True)
                plan = await self._plan(session, plan_id or row.plan_id)
                if plan_id is not None and plan_id != row.plan_id:
                    self._usable_plan(plan)
                seats = request.seat_count if request.HasField("seat_count") else row.seat_count
                in_use = await self._seats_in_use(session, tenant_id)
                self._check_seats(plan, seats or max(1, in_use), in_use)
                row.plan_id = plan.id
                row.seat_count = seats
                if request.HasField("cancel_at_period_end"):
                    row.cancel_at_period_end = request.cancel_at_period_end
                    row.cancel_at = row.current_period_end if row.cancel_at_period_end else None
                await session.flush()
                return pb.ChangeSubscriptionResponse(subscription=subscription_to_proto(row))
        except StaleDataError:
            raise Aborted("the subscription changed meanwhile; retry") from None

    async def set_subscription_status(
        self, request: pb.SetSubscriptionStatusRequest
    ) -> pb.SetSubscriptionStatusResponse:
        require_operator()
        sub_id = parse_id(request.subscription_id, "subscription_id")
        target = _requested_status(request.status, SUB_STATUS_FROM_PROTO, "SUBSCRIPTION_STATUS_")
        async with self._db.transaction() as session:
            row = await self._subscription(session, sub_id, lock=True)
            _check_transition(
                "subscription",
                row.status,
                target,
                SUB_TRANSITIONS,
                "INVALID_SUBSCRIPTION_TRANSITION",
            )
            row.status = target
            if target is SubscriptionStatus.CANCELED:
                row.cancel_at = utcnow()
            await session.flush()
            return pb.SetSubscriptionStatusResponse(subscription=subscription_to_proto(row))

    async def _subscription(
        self, session: AsyncSession, sub_id: uuid.UUID, *, lock: bool = False
    ) -> SubscriptionRecord:
        stmt = select(SubscriptionRecord).where(SubscriptionRecord.id == sub_id)
        if lock:
            stmt = stmt.with_for_update()
        row = await session.scalar(stmt)
        if row is None:
            raise NotFound("no such subscription", reason="SUBSCRIPTION_NOT_FOUND")
        return row

    # ----- roll-up -----

    async def _roll_up(
        self, session: AsyncSession, sub: SubscriptionRecord
    ) -> list[SubscriptionUsageRecord]:
        assert sub.current_period_start is not None and sub.current_period_end is not None
        return await self._roll_up_period(
            session, sub, sub.current_period_start, sub.current_period_end
        )

    async def _roll_up_period(
        self, session: AsyncSession, sub: SubscriptionRecord, start: datetime, end: datetime
    ) -> list[SubscriptionUsageRecord]:
        counter = UsageCounterRecord
        sums = (
            await session.execute(
                select(
                    func.coalesce(func.sum(counter.input_tokens), 0),
                    func.coalesce(func.sum(counter.output_tokens), 0),
                    func.coalesce(func.sum(counter.requests), 0),
                    func.coalesce(func.sum(counter.storage_bytes), 0),
                ).where(
                    counter.tenant_id == sub.tenant_id,
                    counter.granularity == Granularity.DAY,
                    counter.period_start >= start.date(),
                    counter.period_start < end.date(),
                )
            )
        ).one()
        totals = dict(zip(COUNTER_COLUMNS, (int(v) for v in sums), strict=True))
        totals["total_tokens"] = totals["input_tokens"] + totals["output_tokens"]
        table = SubscriptionUsageRecord.__table__
        now = utcnow()
        for feature in await self._features(session, sub.plan_id):
            stmt = self._insert(table).values(
                id=uuid.uuid4(),
                subscription_id=sub.id,
                feature_key=feature.feature_key,
                unit=feature.unit,
                period_start=start,
                period_end=end,
                quantity=totals[feature.metric.value],
                reported_at=now,
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["subscription_id", "feature_key", "period_start"],
                    set_={
                        name: stmt.excluded[name]
                        for name in ("unit", "period_end", "quantity", "reported_at")
                    },
                )
            )
        rows = await session.scalars(
            select(SubscriptionUsageRecord)
            .where(
                SubscriptionUsageRecord.subscription_id == sub.id,
                SubscriptionUsageRecord.period_start == start,
            )
            .order_by(SubscriptionUsageRecord.feature_key)
            .execution_options(populate_existing=True)
        )
        return list(rows.all())

    async def roll_up_usage(self, request: pb.RollUpUsageRequest) -> pb.RollUpUsageResponse:
        require_operator()
        sub_id = parse_id(request.subscription_id, "subscription_id")
        async with self._db.transaction() as session:
            sub = await self._subscription(session, sub_id)
            rows = await self._roll_up(session, sub)
            return pb.RollUpUsageResponse(usage=[usage_to_proto(r) for r in rows])

    # ----- invoices -----

    async def _lines(self, session: AsyncSession, invoice_id: uuid.UUID) -> list[InvoiceLineRecord]:
        stmt = select(InvoiceLineRecord).where(InvoiceLineRecord.invoice_id == invoice_id)
        return list((await session.scalars(stmt)).all())

    async def _draft_invoice(
        self,
        session: AsyncSession,
        sub: SubscriptionRecord,
        plan: BillingPlanRecord,
        start: datetime,
        end: datetime,
        usage: dict[str, int],
    ) -> tuple[InvoiceRecord, list[InvoiceLineRecord]]:
        """Draft the invoice of one period from the plan's price now and the usage given."""
        lines = [Line(f"plan:{plan.code}", 1, plan.price_micros, 1)]
        for feature in sorted(await self._features(session, plan.id), key=lambda f: f.feature_key):
            if feature.is_metered:
                lines.append(
                    Line(
                        f"overage:{feature.feature_key}",
                        overage_units(usage.get(feature.feature_key, 0), feature.included_quantity),
                        feature.overage_unit_price_micros,
                        feature.overage_unit_block,
                    )
                )
        total = sum(line.amount_picos for line in lines)
        if total > MAX_PICOS or any(line.quantity > MAX_PICOS for line in lines):
            raise FailedPrecondition("the invoice is too large", reason="INVOICE_TOO_LARGE")
        invoice = InvoiceRecord(
            subscription_id=sub.id,
            period_start=start,
            period_end=end,
            total_picos=total,
            status=InvoiceStatus.DRAFT,
        )
        session.add(invoice)
        try:
            await session.flush()
        except IntegrityError:
            raise AlreadyExists(
                "this period already has an invoice; void it first", reason="INVOICE_EXISTS"
            ) from None
        records = [
            InvoiceLineRecord(
                invoice_id=invoice.id,
                position=i,
                description=line.description,
                quantity=line.quantity,
                unit_price_micros=line.unit_price_micros,
                unit_block=line.unit_block,
                amount_picos=line.amount_picos,
            )
            for i, line in enumerate(lines)
        ]
        session.add_all(records)
        await session.flush()
        return invoice, records

    async def _live_invoice_id(
        self, session: AsyncSession, sub_id: uuid.UUID, start: datetime
    ) -> uuid.UUID | None:
        return await session.scalar(
            select(InvoiceRecord.id).where(
                InvoiceRecord.subscription_id == sub_id,
                InvoiceRecord.period_start == start,
                InvoiceRecord.status != InvoiceStatus.VOID,
            )
        )

    async def generate_invoice(
        self, request: pb.GenerateInvoiceRequest
    ) -> pb.GenerateInvoiceResponse:
        require_operator()
        sub_id = parse_id(request.subscription_id, "subscription_id")
        async with self._db.transaction() as session:
            sub = await self._subscription(session, sub_id, lock=True)
            plan = await self._plan(session, sub.plan_id)
            assert sub.current_period_start is not None and sub.current_period_end is not None
            existing = await self._live_invoice_id(session, sub.id, sub.current_period_start)
            if existing is not None:
                raise AlreadyExists(
                    "this period already has an invoice; void it first",
                    reason="INVOICE_EXISTS",
                    metadata={"invoice_id": str(existing)},
                )
            usage = {row.feature_key: row.quantity for row in await self._roll_up(session, sub)}
            invoice, records = await self._draft_invoice(
                session, sub, plan, sub.current_period_start, sub.current_period_end, usage
            )
            return pb.GenerateInvoiceResponse(invoice=invoice_to_proto(invoice, records))

    async def _invoice(
        self, session: AsyncSession, invoice_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[InvoiceRecord, SubscriptionRecord]:
        stmt = select(InvoiceRecord).where(InvoiceRecord.id == invoice_id)
        if lock:
            stmt = stmt.with_for_update()
        invoice = await session.scalar(stmt)
        if invoice is None:
            raise NotFound("no such invoice", reason="INVOICE_NOT_FOUND")
        sub = await self._subscription(session, invoice.subscription_id)
        return invoice, sub

    async def get_invoice(self, request: pb.GetInvoiceRequest) -> pb.GetInvoiceResponse:
        require_principal()
        invoice_id = parse_id(request.id, "id")
        async with self._db.reading() as session:
            invoice, sub = await self._invoice(session, invoice_id)
            try:
                require_tenant(str(sub.tenant_id), "viewer")
            except PermissionDenied:
                # Another tenant's invoice looks exactly like a missing one.
                raise NotFound("no such invoice", reason="INVOICE_NOT_FOUND") from None
            lines = await self._lines(session, invoice.id)
            return pb.GetInvoiceResponse(invoice=invoice_to_proto(invoice, lines))

    async def set_invoice_status(
        self, request: pb.SetInvoiceStatusRequest
    ) -> pb.SetInvoiceStatusResponse:
        require_operator()
        invoice_id = parse_id(request.id, "id")
        target = _requested_status(request.status, INVOICE_STATUS_FROM_PROTO, "INVOICE_STATUS_")
        async with self._db.transaction() as session:
            invoice, _ = await self._invoice(session, invoice_id, lock=True)
            _check_transition(
                "invoice", invoice.status, target, INVOICE_TRANSITIONS, "INVALID_INVOICE_TRANSITION"
            )
            invoice.status = target
            await session.flush()
            lines = await self._lines(session, invoice.id)
            return pb.SetInvoiceStatusResponse(invoice=invoice_to_proto(invoice, lines))

    # ----- periods that advance -----

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
