"""Exact money: the pure pricing function against an independent Fraction computation."""

from __future__ import annotations

import random
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest

from shared.errors import InvalidArgument
from shared.pricing_math import (
    Rates,
    Usage,
    format_micros,
    format_pico,
    parse_usd_micros,
    price_usage,
)

#: Rates as operators write them (USD), in the order of the Rates fields.
PRICE_ROWS = [
    ("3", "15", "3.75", "0.3", "10", "0", "0.00005"),
    ("0.15", "0.6", "0", "0.075", "0", "0", "0"),
    ("0.000001", "999999.999999", "1.000001", "0.333333", "0.1", "0.011", "0.000003"),
    ("1.25", "3.75", "0", "0.3125", "25", "0", "0.03"),
    ("0", "0", "0", "0", "0", "0.011", "0"),
]
#: Units per priced quantity, per Rates field: tokens per million, requests/neurons per
#: thousand, seconds per second.
PER = (10**6, 10**6, 10**6, 10**6, 10**3, 10**3, 1)


def rates_from(row: tuple[str, ...]) -> Rates:
    return Rates(*(parse_usd_micros(text, "rate") for text in row))


def test_a_million_random_usages_sum_exactly() -> None:
    rng = random.Random(20261123)
    rates = [rates_from(row) for row in PRICE_ROWS]
    count = 1_000_000
    total_picos = 0
    # Per price row: the summed quantities (uncached input, output, cache write, cache read,
    # web search, neurons, code exec), computed here without the pricing function.
    sums = [[0] * 7 for _ in PRICE_ROWS]
    randint, choice = rng.randrange, rng.randrange
    decimal_total = Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 60
        for i in range(count):
            which = choice(len(rates))
            write, read = randint(5000), randint(200_000)
            uncached = randint(300_000)
            includes = bool(i & 1)
            usage = Usage(
                input_tokens=uncached + (write + read if includes else 0),
                output_tokens=randint(100_000),
                cache_creation_tokens=write,
                cache_read_tokens=read,
                web_search_requests=randint(20),
                code_exec_seconds=randint(600),
                neurons=randint(50_000),
                includes_cached=includes,
            )
            cost = price_usage(usage, rates[which])
            total_picos += cost.total
            if i % 10 == 0:  # the decimal strings add up too (a tenth keeps the test fast)
                decimal_total += Decimal(format_pico(cost.total))
            s = sums[which]
            s[0] += uncached
            s[1] += usage.output_tokens
            s[2] += write
            s[3] += read
            s[4] += usage.web_search_requests
            s[5] += usage.neurons
            s[6] += usage.code_exec_seconds
    expected = Fraction(0)
    for row, quantities in zip(PRICE_ROWS, sums, strict=True):
        # Fields of Rates: input, output, cache_write, cache_read, web_search, neurons, code.
        for usd, quantity, per in zip(row, quantities, PER, strict=True):
            expected += Fraction(usd) * quantity / per
    assert Fraction(total_picos, 10**12) == expected
    assert Fraction(Decimal(format_pico(total_picos))) == expected
    assert decimal_total > 0 and decimal_total.as_tuple().exponent >= -12


def test_naive_pricing_would_double_count_cached_tokens() -> None:
    """OpenAI-style prompt_tokens=10_000 of which 8_000 were read from the cache: only 2_000
    are paid at the input rate. Pricing input_tokens as given would charge the 8_000 twice."""
    rates = rates_from(("2.5", "10", "0", "1.25", "0", "0", "0"))
    usage = Usage(
        input_tokens=10_000, output_tokens=500, cache_read_tokens=8_000, includes_cached=True
    )
    cost = price_usage(usage, rates)
    assert cost.uncached_input_tokens == 2_000
    assert format_pico(cost.input) == "0.005000000000"
    assert format_pico(cost.cache_read) == "0.010000000000"
    assert format_pico(cost.output) == "0.005000000000"
    assert format_pico(cost.total) == "0.020000000000"
    naive = 10_000 * rates.input_per_mtok + 8_000 * rates.cache_read_per_mtok + cost.output
    assert naive - cost.total == 8_000 * rates.input_per_mtok  # the double count
    # The same usage reported Anthropic-style (exclusive counts) costs the same.
    exclusive = Usage(input_tokens=2_000, output_tokens=500, cache_read_tokens=8_000)
    assert price_usage(exclusive, rates) == cost


def test_every_component_has_its_own_unit() -> None:
    rates = rates_from(("3", "15", "3.75", "0.3", "10", "0.011", "0.00005"))
    cost = price_usage(
        Usage(
            input_tokens=1,
            output_tokens=1,
            cache_creation_tokens=1,
            cache_read_tokens=1,
            web_search_requests=1,
            neurons=1,
            code_exec_seconds=1,
        ),
        rates,
    )
    assert format_pico(cost.input) == "0.000003000000"
    assert format_pico(cost.output) == "0.000015000000"
    assert format_pico(cost.cache_write) == "0.000003750000"
    assert format_pico(cost.cache_read) == "0.000000300000"
    assert format_pico(cost.web_search) == "0.010000000000"
    assert format_pico(cost.neurons) == "0.000011000000"
    assert format_pico(cost.code_exec) == "0.000050000000"


@pytest.mark.parametrize(
    ("text", "micros"),
    [("", 0), ("0", 0), ("3", 3_000_000), ("0.075", 75_000), ("12.000001", 12_000_001)],
)
def test_rates_parse_exactly(text: str, micros: int) -> None:
    assert parse_usd_micros(text, "f") == micros


@pytest.mark.parametrize("text", ["-1", "1e-3", "0.0000001", "abc", "NaN", "1,5", ".5", "1."])
def test_bad_rates_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_usd_micros(text, "price.input_per_mtok")
    assert [v.field for v in caught.value.violations] == ["price.input_per_mtok"]


def test_formats_are_fixed_scale() -> None:
    assert format_micros(75_000) == "0.075000"
    assert format_pico(0) == "0.000000000000"
    assert format_pico(1) == "0.000000000001"
    assert format_pico(12 * 10**12 + 5) == "12.000000000005"


def test_negative_counts_name_each_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        price_usage(Usage(output_tokens=-1, neurons=-2), Rates())
    assert {v.field for v in caught.value.violations} == {"output_tokens", "neurons"}


def test_inclusive_input_smaller_than_cached_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        price_usage(Usage(input_tokens=5, cache_read_tokens=6, includes_cached=True), Rates())
    assert [v.field for v in caught.value.violations] == ["input_tokens"]
