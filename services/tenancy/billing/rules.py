"""Billing's input rules (dates, plans, features; each failure names its field) and which
status changes subscriptions and invoices may make."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.tenancy.billing.convert import CURRENCY, METRIC_FROM_PROTO
from services.tenancy.billing.math import (
    UNIT_BLOCKS,
)
from services.tenancy.billing.models import (
    InvoiceStatus,
    SubscriptionStatus,
)
from services.tenancy.tenants.validation import raise_if_any
from shared.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
)
from shared.pricing_math import parse_usd_micros

CODE_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
FEATURE_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTERVALS = frozenset({"monthly", "yearly"})
MAX_INTERVAL_COUNT = 36
MAX_TRIAL_DAYS = 365
MAX_SEATS = 1_000_000
MAX_FEATURES = 50


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


INVOICE_TRANSITIONS = {
    InvoiceStatus.DRAFT: {InvoiceStatus.OPEN, InvoiceStatus.VOID},
    InvoiceStatus.OPEN: {InvoiceStatus.PAID, InvoiceStatus.VOID},
    InvoiceStatus.PAID: set(),
    InvoiceStatus.VOID: set(),
}


_Status = TypeVar("_Status", SubscriptionStatus, InvoiceStatus)


def requested_status(status: int, from_proto: Mapping[int, _Status], values: str) -> _Status:
    """The status a Set*Status request asks for, which must be one of the ``values`` named."""
    if status not in from_proto:
        raise InvalidArgument.field("status", f"must be one of the {values} values")
    return from_proto[status]


def check_transition(
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


def parse_date(value: str, field: str) -> date:
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        if not DATE_PATTERN.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument.field(field, "must be a date as YYYY-MM-DD") from None


def feature_values(feature: pb.PlanFeature, prefix: str) -> dict[str, Any]:
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


def plan_values(plan: pb.Plan) -> dict[str, Any]:
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


UPDATABLE_PLAN_FIELDS = frozenset({"name", "price", "trial_days", "seat_included", "is_active"})


def plan_update_values(plan: pb.Plan, paths: list[str]) -> dict[str, Any]:
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
