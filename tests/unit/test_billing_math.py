"""Exact billing arithmetic and input rules, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.tenancy.billing.math import (
    Line,
    add_months,
    block_cost_picos,
    count_violations,
    interval_months,
    month_start,
    next_period_end,
    overage_units,
    total_picos,
)
from services.tenancy.billing.rules import feature_values, parse_date, plan_values
from shared.errors import InvalidArgument
from shared.pricing_math import format_pico


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 31, 5, tzinfo=UTC), 1, datetime(2026, 2, 28, 5, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 11, 15, tzinfo=UTC), 2, datetime(2027, 1, 15, tzinfo=UTC)),
        (datetime(2026, 12, 1, tzinfo=UTC), 12, datetime(2027, 12, 1, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), 36, datetime(2029, 3, 31, tzinfo=UTC)),
    ],
)
def test_add_months_clamps_to_the_month_end(
    start: datetime, months: int, expected: datetime
) -> None:
    assert add_months(start, months) == expected


def test_periods() -> None:
    assert month_start(date(2026, 7, 19)) == date(2026, 7, 1)
    assert interval_months("monthly", 3) == 3 and interval_months("yearly", 2) == 24


def test_block_costs_are_exact() -> None:
    # 2001 units at 0.0025 USD per 1000 units = 0.0050025 USD exactly.
    assert format_pico(block_cost_picos(2001, 2500, 1000)) == "0.005002500000"
    # One unit at one micro-USD per million units: one pico-USD, not rounded to zero.
    assert block_cost_picos(1, 1, 10**6) == 1
    assert block_cost_picos(3, 1, 1) == 3 * 10**6
    # Large quantities stay exact: Python integers never round.
    assert block_cost_picos(10**12 + 1, 999_999, 10) == (10**12 + 1) * 999_999 * 10**5
    for block in (0, 2, 3, 10**7):
        with pytest.raises(ValueError, match="is not a power of ten"):
            block_cost_picos(1, 1, block)
    with pytest.raises(ValueError, match="must not be negative"):
        block_cost_picos(-1, 1, 1)


def test_overage_and_totals() -> None:
    assert overage_units(3001, 1000) == 2001
    assert overage_units(999, 1000) == 0
    lines = [Line("plan", 1, 49_990_000, 1), Line("tokens", 2001, 2500, 1000)]
    assert format_pico(total_picos(lines)) == "49.995002500000"
    assert total_picos([]) == 0


def test_negative_counts_are_named() -> None:
    violations = count_violations({"input_tokens": -1, "output_tokens": 0, "requests": -5})
    assert [v.field for v in violations] == ["input_tokens", "requests"]


def test_dates() -> None:
    assert parse_date("2026-02-28", "d") == date(2026, 2, 28)
    for bad in ("", "2026-02-30", "2026-2-1", "20260201", "2026-02-01T00:00"):
        with pytest.raises(InvalidArgument) as caught:
            parse_date(bad, "start_date")
        assert caught.value.violations[0].field == "start_date"


def test_feature_defaults_and_refusals() -> None:
    values = feature_values(
        pb.PlanFeature(feature_key="tokens", metric=pb.USAGE_METRIC_TOTAL_TOKENS), "feature"
    )
    assert values["unit"] == "total_tokens" and values["overage_unit_block"] == 1
    assert values["overage_unit_price_micros"] == 0 and values["hard_limit"] is None
    with pytest.raises(InvalidArgument) as caught:
        feature_values(
            pb.PlanFeature(
                feature_key="x",
                metric=pb.USAGE_METRIC_REQUESTS,
                hard_limit=-1,
                overage_unit_price="1e-3",
            ),
            "feature",
        )
    assert {v.field for v in caught.value.violations} == {
        "feature.hard_limit",
        "feature.overage_unit_price",
    }


def test_plan_prices_are_exact_micros() -> None:
    values = plan_values(pb.Plan(code="team", name="Team", price="0.000001"))
    assert values["price_micros"] == 1 and values["interval"] == "monthly"
    with pytest.raises(InvalidArgument) as caught:
        plan_values(pb.Plan(code="team", name="Team"))
    assert [v.field for v in caught.value.violations] == ["plan.price"]
    with pytest.raises(InvalidArgument) as caught:
        plan_values(pb.Plan(code="team", name="Team", price="1.0000001"))
    assert [v.field for v in caught.value.violations] == ["plan.price"]


def test_periods_renewed_from_the_31st_end_on_each_months_last_day() -> None:
    anchor = datetime(2026, 1, 31, 9, tzinfo=UTC)
    ends = [add_months(anchor, 1)]
    for _ in range(4):
        ends.append(next_period_end(anchor, ends[-1], 1))
    assert [(e.month, e.day) for e in ends] == [(2, 28), (3, 31), (4, 30), (5, 31), (6, 30)]
    assert all(e.hour == 9 for e in ends)


@pytest.mark.parametrize(
    ("anchor", "current_end", "months", "expected"),
    [
        # Yearly: from Feb 29 to the next Feb 28, then back to Feb 29 in a leap year.
        (
            datetime(2028, 2, 29, tzinfo=UTC),
            datetime(2029, 2, 28, tzinfo=UTC),
            12,
            datetime(2030, 2, 28, tzinfo=UTC),
        ),
        # Quarterly.
        (
            datetime(2026, 1, 15, tzinfo=UTC),
            datetime(2026, 4, 15, tzinfo=UTC),
            3,
            datetime(2026, 7, 15, tzinfo=UTC),
        ),
        # A period end off the anchor's schedule (set from Stripe): the next one on it, later.
        (
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 3, 20, tzinfo=UTC),
            1,
            datetime(2026, 4, 1, tzinfo=UTC),
        ),
    ],
)
def test_next_period_end_is_on_the_anchors_schedule_and_later(
    anchor: datetime, current_end: datetime, months: int, expected: datetime
) -> None:
    assert next_period_end(anchor, current_end, months) == expected
    assert next_period_end(anchor, current_end, months) > current_end


def test_next_period_end_refuses_an_empty_interval() -> None:
    with pytest.raises(ValueError, match="at least one month"):
        next_period_end(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), 0)
