"""The model catalogue every installation starts with, and its idempotent loader.

Models and prices come from the sample rows of seed 004 ``llm_models`` (gpt-4o-mini, gpt-4o,
gemini-1.5-pro, claude-3-5-sonnet-20241022, with their per-1k prices turned into per-million
ones) and a few current models of the same providers, plus a Workers AI model billed in
neurons (seed 000's ``neurons_usd_per_1k`` default of 0.011). Rates are decimal strings of USD,
turned into micro-USD integers exactly; batch tiers are half the standard rates, as the
providers list them.

:func:`seed` is what migration 0003 runs; it writes with plain table constructs (not the ORM
models, which may change after the migration was written), adds only models missing by
(provider, model_name) and prices missing by (model, tier), so running it twice changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.db_types import JSONType, UTCDateTime
from shared.pricing_math import parse_usd_micros

SEED_NAMESPACE = uuid.UUID("6f1e4b8e-9a43-4c59-9a5e-0c6a3f1d2b70")
SEED_EFFECTIVE_FROM = datetime(2024, 1, 1, tzinfo=UTC)
SEED_SOURCE = "seed_catalogue"

#: provider, model_name, display_name, context_window, size_class, flags, capabilities, billing
#: unit, and rates per tier: (input, output, cache_write, cache_read) per million tokens, then
#: web search per 1k and neurons per 1k.
MODELS: list[dict[str, Any]] = [
    {
        "provider": "openai",
        "model_name": "gpt-4o-mini",
        "display_name": "GPT-4o mini",
        "context_window": 128000,
        "size_class": "small",
        "flags": {"supports_cache": True, "supports_vision": True},
        "capabilities": ["chat", "tools", "json_mode", "vision"],
        "prices": {
            "standard": ("0.15", "0.6", "0", "0.075"),
            "batch": ("0.075", "0.3", "0", "0.0375"),
        },
    },
    {
        "provider": "openai",
        "model_name": "gpt-4o",
        "display_name": "GPT-4o",
        "context_window": 128000,
        "size_class": "large",
        "flags": {"supports_cache": True, "supports_vision": True},
        "capabilities": ["chat", "tools", "json_mode", "vision"],
        "prices": {
            "standard": ("2.5", "10", "0", "1.25"),
            "batch": ("1.25", "5", "0", "0.625"),
        },
    },
    {
        "provider": "openai",
        "model_name": "gpt-4.1",
        "display_name": "GPT-4.1",
        "context_window": 1047576,
        "size_class": "large",
        "flags": {"supports_cache": True, "supports_vision": True},
        "capabilities": ["chat", "tools", "json_mode", "vision"],
        "prices": {
            "standard": ("2", "8", "0", "0.5"),
            "batch": ("1", "4", "0", "0.25"),
        },
    },
    {
        "provider": "openai",
        "model_name": "gpt-4.1-mini",
        "display_name": "GPT-4.1 mini",
        "context_window": 1047576,
        "size_class": "small",
        "flags": {"supports_cache": True, "supports_vision": True},
        "capabilities": ["chat", "tools", "json_mode", "vision"],
        "prices": {
            "standard": ("0.4", "1.6", "0", "0.1"),
            "batch": ("0.2", "0.8", "0", "0.05"),
        },
    },
    {
        "provider": "gemini",
        "model_name": "gemini-1.5-pro",
        "display_name": "Gemini 1.5 Pro",
        "context_window": 1048576,
        "size_class": "large",
        "flags": {"supports_cache": True, "supports_vision": True},
        "capabilities": ["chat", "tools", "vision"],
        "prices": {
            "standard": ("1.25", "3.75", "0", "0.3125"),
            "long_context": ("2.5", "7.5", "0", "0.625"),
        },
    },
    {
        "provider": "anthropic",
        "model_name": "claude-3-5-sonnet-20241022",
        "display_name": "Claude 3.5 Sonnet",
        "context_window": 200000,
        "size_class": "large",
        "flags": {"supports_cache": True, "supports_vision": True, "supports_web_search": True},
        "capabilities": ["chat", "tools", "vision"],
        "web_search_per_1k": "10",
        "prices": {
            "standard": ("3", "15", "3.75", "0.3"),
            "batch": ("1.5", "7.5", "1.875", "0.15"),
        },
    },
    {
        "provider": "anthropic",
        "model_name": "claude-3-5-haiku-20241022",
        "display_name": "Claude 3.5 Haiku",
        "context_window": 200000,
        "size_class": "small",
        "flags": {"supports_cache": True, "supports_web_search": True},
        "capabilities": ["chat", "tools"],
        "web_search_per_1k": "10",
        "prices": {
            "standard": ("0.8", "4", "1", "0.08"),
            "batch": ("0.4", "2", "0.5", "0.04"),
        },
    },
    {
        "provider": "anthropic",
        "model_name": "claude-sonnet-4-20250514",
        "display_name": "Claude Sonnet 4",
        "context_window": 1000000,
        "size_class": "large",
        "flags": {
            "supports_cache": True,
            "supports_vision": True,
            "supports_web_search": True,
        },
        "capabilities": ["chat", "tools", "vision", "extended_thinking"],
        "web_search_per_1k": "10",
        "prices": {
            "standard": ("3", "15", "3.75", "0.3"),
            "batch": ("1.5", "7.5", "1.875", "0.15"),
            "long_context": ("6", "22.5", "7.5", "0.6"),
            "batch_long_context": ("3", "11.25", "3.75", "0.3"),
        },
    },
    {
        "provider": "workers-ai",
        "model_name": "@cf/meta/llama-3.1-8b-instruct",
        "display_name": "Llama 3.1 8B Instruct (Workers AI)",
        "context_window": 128000,
        "size_class": "small",
        "billing_unit": "neurons",
        "flags": {},
        "capabilities": ["chat"],
        "neurons_per_1k": "0.011",
        "prices": {"standard": ("0", "0", "0", "0")},
    },
]

_models = sa.table(
    "models",
    sa.column("id", sa.Uuid()),
    sa.column("provider", sa.String()),
    sa.column("model_name", sa.String()),
    sa.column("display_name", sa.String()),
    sa.column("billing_unit", sa.String()),
    sa.column("context_window", sa.BigInteger()),
    sa.column("context_default_tokens", sa.BigInteger()),
    sa.column("supports_cache", sa.Boolean()),
    sa.column("supports_tools", sa.Boolean()),
    sa.column("supports_vision", sa.Boolean()),
    sa.column("supports_web_search", sa.Boolean()),
    sa.column("supports_fast_mode", sa.Boolean()),
    sa.column("capabilities", JSONType),
    sa.column("size_class", sa.String()),
    sa.column("is_active", sa.Boolean()),
    sa.column("metadata_json", JSONType),
    sa.column("version", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
_prices = sa.table(
    "model_prices",
    sa.column("id", sa.Uuid()),
    sa.column("model_id", sa.Uuid()),
    sa.column("tier", sa.String()),
    sa.column("input_per_mtok_micros", sa.BigInteger()),
    sa.column("output_per_mtok_micros", sa.BigInteger()),
    sa.column("cache_write_per_mtok_micros", sa.BigInteger()),
    sa.column("cache_read_per_mtok_micros", sa.BigInteger()),
    sa.column("web_search_per_1k_micros", sa.BigInteger()),
    sa.column("neurons_per_1k_micros", sa.BigInteger()),
    sa.column("code_exec_per_second_micros", sa.BigInteger()),
    sa.column("source", sa.String()),
    sa.column("effective_from", UTCDateTime()),
    sa.column("effective_to", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)


def model_id(provider: str, model_name: str) -> uuid.UUID:
    """The seeded model's id, the same in every installation."""
    return uuid.uuid5(SEED_NAMESPACE, f"{provider}/{model_name}")


def seed(connection: Connection) -> None:
    now = datetime.now(UTC)
    for entry in MODELS:
        provider, name = entry["provider"], entry["model_name"]
        existing = connection.execute(
            sa.select(_models.c.id).where(
                _models.c.provider == provider, _models.c.model_name == name
            )
        ).scalar_one_or_none()
        if existing is None:
            existing = model_id(provider, name)
            flags = entry["flags"]
            connection.execute(
                _models.insert().values(
                    id=existing,
                    provider=provider,
                    model_name=name,
                    display_name=entry["display_name"],
                    billing_unit=entry.get("billing_unit", "tokens"),
                    context_window=entry["context_window"],
                    context_default_tokens=0,
                    supports_cache=flags.get("supports_cache", False),
                    supports_tools=flags.get("supports_tools", True),
                    supports_vision=flags.get("supports_vision", False),
                    supports_web_search=flags.get("supports_web_search", False),
                    supports_fast_mode=flags.get("supports_fast_mode", False),
                    capabilities=entry["capabilities"],
                    size_class=entry["size_class"],
                    is_active=True,
                    metadata_json={},
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        for tier, (inp, out, write, read) in entry["prices"].items():
            priced = connection.execute(
                sa.select(sa.func.count())
                .select_from(_prices)
                .where(_prices.c.model_id == existing, _prices.c.tier == tier)
            ).scalar_one()
            if priced:
                continue
            connection.execute(
                _prices.insert().values(
                    id=uuid.uuid5(SEED_NAMESPACE, f"{provider}/{name}/{tier}"),
                    model_id=existing,
                    tier=tier,
                    input_per_mtok_micros=parse_usd_micros(inp, "input"),
                    output_per_mtok_micros=parse_usd_micros(out, "output"),
                    cache_write_per_mtok_micros=parse_usd_micros(write, "cache_write"),
                    cache_read_per_mtok_micros=parse_usd_micros(read, "cache_read"),
                    web_search_per_1k_micros=parse_usd_micros(
                        entry.get("web_search_per_1k", ""), "web_search"
                    ),
                    neurons_per_1k_micros=parse_usd_micros(
                        entry.get("neurons_per_1k", ""), "neurons"
                    ),
                    code_exec_per_second_micros=0,
                    source=SEED_SOURCE,
                    effective_from=SEED_EFFECTIVE_FROM,
                    effective_to=None,
                    created_at=now,
                )
            )
