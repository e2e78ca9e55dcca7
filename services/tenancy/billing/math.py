"""Exact billing arithmetic: integers only, no float anywhere.

Plan prices and overage prices are micro-USD integers (parsed from decimal strings by
:func:`shared.pricing_math.parse_usd_micros`); invoice amounts are pico-USD integers.
An overage price applies to a *block* of units that is a power of ten up to one million, so
``units * price_micros * (10**6 // block)`` pico-USD is always exact and nothing is rounded.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from shared.errors import FieldViolation

PICOS_PER_MICRO = 10**6
#: Blocks an overage price may apply to.
UNIT_BLOCKS = frozenset(10**k for k in range(7))
#: The largest amount a BIGINT column holds.
MAX_PICOS = 2**63 - 1
COUNT_FIELDS = ("input_tokens", "output_tokens", "requests", "storage_bytes")


def count_violations(counts: dict[str, int]) -> list[FieldViolation]:
    return [FieldViolation(name, "must not be negative") for name, v in counts.items() if v < 0]


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus ``months`` calendar months, the day clamped to the target month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(moment.day, last))


def next_period_end(anchor: datetime, current_end: datetime, months: int) -> datetime:
    """The end of the period after the one ending at ``current_end``: the first of ``anchor``
    plus a whole number of ``months``-long intervals that is later than ``current_end``.

    Counting from the anchor (the subscription's start) rather than from the last end keeps a
    subscription started on the 31st ending on each month's last day: Jan 31, Feb 28, Mar 31,
    where chaining month by month would drift to the 28th for good.
    """
    if months < 1:
        raise ValueError("a period is at least one month")
    elapsed = (current_end.year - anchor.year) * 12 + current_end.month - anchor.month
    count = max(1, elapsed // months)
    while add_months(anchor, count * months) <= current_end:
        count += 1
    return add_months(anchor, count * months)


def interval_months(interval: str, interval_count: int) -> int:
    return interval_count * (12 if interval == "yearly" else 1)


def block_cost_picos(units: int, price_micros: int, block: int) -> int:
    """The exact cost of ``units`` at ``price_micros`` per ``block`` units."""
    if block not in UNIT_BLOCKS:
        raise ValueError(f"unit block {block} is not a power of ten up to 1000000")
    if units < 0 or price_micros < 0:
        raise ValueError("units and prices must not be negative")
    return units * price_micros * (PICOS_PER_MICRO // block)


def overage_units(quantity: int, included: int) -> int:
    return max(0, quantity - included)


@dataclass(frozen=True, slots=True)
class Line:
    description: str
    quantity: int
    unit_price_micros: int
    unit_block: int

    @property
    def amount_picos(self) -> int:
        return block_cost_picos(self.quantity, self.unit_price_micros, self.unit_block)


def total_picos(lines: list[Line]) -> int:
    return sum(line.amount_picos for line in lines)
