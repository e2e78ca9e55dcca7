"""Tenancy's price arithmetic, which lives in :mod:`shared.pricing_math` so telemetry prices
usage rows with the very same math; re-exported here for tenancy's modules."""

from __future__ import annotations

from shared.pricing_math import (
    MAX_RATE_MICROS,
    MICROS_PER_USD,
    PICOS_PER_MICRO,
    PICOS_PER_USD,
    Cost,
    Rates,
    Usage,
    format_micros,
    format_pico,
    parse_usd_micros,
    price_usage,
    usage_violations,
)

__all__ = [
    "MAX_RATE_MICROS",
    "MICROS_PER_USD",
    "PICOS_PER_MICRO",
    "PICOS_PER_USD",
    "Cost",
    "Rates",
    "Usage",
    "format_micros",
    "format_pico",
    "parse_usd_micros",
    "price_usage",
    "usage_violations",
]
