"""The window arithmetic of LimitsService's Redis backend: the sliding window's weight, weighted
count and retry_after, checked against a brute-force search over time."""

from __future__ import annotations

import math
import uuid

import pytest

from services.tenancy.limits.backends import fixed_retry_after_ms, window_of
from services.tenancy.limits.redis import (
    counter_key,
    previous_weight_ms,
    reservation_key,
    sliding_retry_after_ms,
    weighted_used,
)

START = 1_800_000_000 - 1_800_000_000 % 60  # a minute's start


def fits(at: float, amount: int, limit: int, current: int, previous: int) -> bool:
    """Whether ``amount`` fits at ``at`` (in ``START``'s minute or the next, with this
    minute's ``current`` and the one before's ``previous``), by the take script's rule."""
    weight = previous_weight_ms(at)
    if at < START + 60:
        return previous * weight + (current + amount) * 60_000 <= limit * 60_000
    return current * weight + amount * 60_000 <= limit * 60_000  # this minute is the previous


def test_the_previous_minute_weighs_what_the_last_60_seconds_still_cover() -> None:
    assert previous_weight_ms(START) == 60_000
    assert previous_weight_ms(START + 15) == 45_000
    assert previous_weight_ms(START + 59.999) == 1
    assert window_of(START + 59.999) == START


def test_the_weighted_count_rounds_up() -> None:
    assert weighted_used(current=3, previous=10, weight_ms=30_000) == 8
    assert weighted_used(current=3, previous=1, weight_ms=1) == 4
    assert weighted_used(current=3, previous=0, weight_ms=60_000) == 3
    assert weighted_used(current=3, previous=7, weight_ms=0) == 3


@pytest.mark.parametrize(
    ("elapsed", "amount", "limit", "current", "previous"),
    [
        (5, 1, 10, 10, 0),  # full now, and the next minute must wait for this one to fade
        (30, 1, 10, 5, 10),  # room in this minute once the previous has faded enough
        (12.345, 7, 100, 40, 90),
        (59.5, 3, 50, 50, 50),
        (0.25, 1000, 5000, 4500, 4000),
    ],
)
def test_retry_after_is_the_first_moment_the_amount_fits(
    elapsed: float, amount: int, limit: int, current: int, previous: int
) -> None:
    now = START + elapsed
    assert not fits(now, amount, limit, current, previous)
    retry_ms = sliding_retry_after_ms(now, amount, limit, current, previous)
    at = now + retry_ms / 1000
    assert fits(at, amount, limit, current, previous)
    assert not fits(at - 0.002, amount, limit, current, previous)


def test_the_fixed_retry_after_is_the_end_of_the_minute() -> None:
    assert fixed_retry_after_ms(START + 5) == 55_000
    assert fixed_retry_after_ms(START + 59.9995) == 1
    assert fixed_retry_after_ms(START + 12.3456) == math.ceil(47.6544 * 1000)


def test_one_tenants_keys_share_a_hash_tag() -> None:
    tenant = "7f8e0a1c-0000-4000-8000-000000000001"
    keys = [
        counter_key("qd:limits:", uuid.UUID(tenant), "rpm", START),
        reservation_key("qd:limits:", uuid.UUID(tenant), uuid.UUID(int=1)),
    ]
    assert keys[0] == f"qd:limits:{{{tenant}}}:rpm:{START}"
    assert all(f"{{{tenant}}}" in key for key in keys)
