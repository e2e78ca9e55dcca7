"""Exact money for model prices: integers only, no float anywhere. Shared by tenancy (which owns
the prices and answers PriceUsage) and telemetry (which prices usage rows locally from cached
price rows), so both compute the very same cost.

Units:

* a **rate** is an integer of micro-USD (1e-6 USD): token rates per million tokens, web search
  and neuron rates per thousand, code execution per second. Operators write rates as decimal
  strings of USD with at most six fractional digits ("3", "0.075"); :func:`parse_usd_micros`
  turns them into that integer exactly or refuses them.
* a **cost** is an integer of pico-USD (1e-12 USD), and is always exact, because
  ``tokens * (micro-USD per 1e6 tokens)`` is ``tokens * rate`` pico-USD,
  ``requests * (micro-USD per 1e3)`` is ``requests * rate * 1000`` pico-USD, and
  ``seconds * (micro-USD per second)`` is ``seconds * rate * 1e6`` pico-USD. Nothing is rounded,
  so the total is the exact sum of its components and any sum of costs is exact too.
  :func:`format_pico` writes a cost as a decimal string with exactly 12 fractional digits.

Cached tokens are never paid for twice. Anthropic reports ``input_tokens`` *excluding* the
tokens written to and read from the cache; OpenAI's ``prompt_tokens`` *include* its
``cached_tokens``. The caller says which (``includes_cached``); with the inclusive convention
the cached counts are subtracted from ``input_tokens`` before the input rate applies, and an
``input_tokens`` smaller than the cached counts is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from shared.errors import FieldViolation, InvalidArgument
from shared.money import PICOS_PER_USD as PICOS_PER_USD
from shared.money import format_pico as format_pico

MICROS_PER_USD = 1_000_000
PICOS_PER_MICRO = 10**6
#: The largest rate accepted: one million USD per unit.
MAX_RATE_MICROS = 10**12
_USD = re.compile(r"^(?P<whole>\d{1,7})(?:\.(?P<fraction>\d{1,6}))?$")


def parse_usd_micros(text: str, field: str) -> int:
    """``"0.075"`` → 75000; empty → 0; anything else than a plain non-negative decimal with at
    most six fractional digits is refused naming ``field``."""
    text = text.strip()
    if not text:
        return 0
    match = _USD.match(text)
    if match is None:
        if text.startswith("-"):
            raise InvalidArgument.field(field, "must not be negative")
        raise InvalidArgument.field(
            field, "must be a plain decimal number of USD with at most 6 fractional digits"
        )
    fraction = (match["fraction"] or "").ljust(6, "0")
    micros = int(match["whole"]) * MICROS_PER_USD + int(fraction)
    if micros > MAX_RATE_MICROS:
        raise InvalidArgument.field(field, "must be at most 1000000 USD")
    return micros


def format_micros(micros: int) -> str:
    """A micro-USD integer as a decimal string with six fractional digits."""
    whole, fraction = divmod(micros, MICROS_PER_USD)
    return f"{whole}.{fraction:06d}"


@dataclass(frozen=True, slots=True)
class Rates:
    """One price row's rates, micro-USD integers."""

    input_per_mtok: int = 0
    output_per_mtok: int = 0
    cache_write_per_mtok: int = 0
    cache_read_per_mtok: int = 0
    web_search_per_1k: int = 0
    neurons_per_1k: int = 0
    code_exec_per_second: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    web_search_requests: int = 0
    code_exec_seconds: int = 0
    neurons: int = 0
    #: True when input_tokens includes the cache counts (OpenAI), False when it excludes them.
    includes_cached: bool = False


_COUNT_FIELDS = tuple(f.name for f in fields(Usage) if f.name != "includes_cached")


@dataclass(frozen=True, slots=True)
class Cost:
    """A usage's cost, pico-USD integers per component."""

    uncached_input_tokens: int
    input: int
    output: int
    cache_write: int
    cache_read: int
    web_search: int
    code_exec: int
    neurons: int

    @property
    def total(self) -> int:
        return (
            self.input
            + self.output
            + self.cache_write
            + self.cache_read
            + self.web_search
            + self.code_exec
            + self.neurons
        )


def usage_violations(usage: Usage) -> list[FieldViolation]:
    violations = [
        FieldViolation(name, "must not be negative")
        for name in _COUNT_FIELDS
        if getattr(usage, name) < 0
    ]
    if (
        not violations
        and usage.includes_cached
        and usage.input_tokens < usage.cache_creation_tokens + usage.cache_read_tokens
    ):
        violations.append(
            FieldViolation(
                "input_tokens",
                "must be at least cache_creation_tokens + cache_read_tokens, which it includes "
                "under TOKEN_CONVENTION_INPUT_INCLUDES_CACHED",
            )
        )
    return violations


def price_usage(usage: Usage, rates: Rates) -> Cost:
    """The exact cost of ``usage`` at ``rates``; bad counts raise InvalidArgument naming them."""
    violations = usage_violations(usage)
    if violations:
        raise InvalidArgument(violations)
    uncached = usage.input_tokens
    if usage.includes_cached:
        uncached -= usage.cache_creation_tokens + usage.cache_read_tokens
    return Cost(
        uncached_input_tokens=uncached,
        input=uncached * rates.input_per_mtok,
        output=usage.output_tokens * rates.output_per_mtok,
        cache_write=usage.cache_creation_tokens * rates.cache_write_per_mtok,
        cache_read=usage.cache_read_tokens * rates.cache_read_per_mtok,
        web_search=usage.web_search_requests * rates.web_search_per_1k * 1000,
        code_exec=usage.code_exec_seconds * rates.code_exec_per_second * PICOS_PER_MICRO,
        neurons=usage.neurons * rates.neurons_per_1k * 1000,
    )


def cache_read_savings(usage: Usage, rates: Rates) -> int:
    """Pico-USD the cache reads saved against paying the uncached input rate for those tokens
    (negative if a model ever charged more for cache reads than for input)."""
    return usage.cache_read_tokens * (rates.input_per_mtok - rates.cache_read_per_mtok)
