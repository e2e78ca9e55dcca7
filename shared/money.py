"""Exact money on the wire: USD amounts as plain decimal strings with twelve fractional digits
(pico-USD), held as integers in between. Never a float."""

from __future__ import annotations

import re

from shared.errors import InvalidArgument

PICOS_PER_USD = 10**12
_AMOUNT = re.compile(r"^(?P<whole>\d{1,15})(?:\.(?P<fraction>\d{1,12}))?$")


def format_pico(picos: int) -> str:
    """A pico-USD integer as a decimal string with exactly twelve fractional digits."""
    sign = "-" if picos < 0 else ""
    whole, fraction = divmod(abs(picos), PICOS_PER_USD)
    return f"{sign}{whole}.{fraction:012d}"


def parse_pico(text: str, field: str) -> int:
    """``"0.0015"`` → 1_500_000_000; refused naming ``field`` unless a plain non-negative decimal
    with at most twelve fractional digits (no exponent, no sign)."""
    match = _AMOUNT.match(text.strip())
    if match is None:
        if text.strip().startswith("-"):
            raise InvalidArgument.field(field, "must not be negative")
        raise InvalidArgument.field(
            field, "must be a plain decimal number of USD with at most 12 fractional digits"
        )
    return int(match["whole"]) * PICOS_PER_USD + int((match["fraction"] or "").ljust(12, "0"))
