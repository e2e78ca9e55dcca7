"""How telemetry turns one UsageRecord into a row: every problem named by field, derived token
counts, and a cost from the same pricing math tenancy runs."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from quarterdeck.tenancy.v1 import pricing_pb2 as tpb
from services.telemetry.usage.models import CostStatus
from services.telemetry.usage.rows import (
    COPY_COLUMNS,
    _apply_price,
    _check,
    _check_many,
    _Checked,
    random_uuids,
)
from services.tenancy.pricing import handlers as tenancy_pricing
from shared import pricing_math
from shared.errors import FieldViolation
from shared.model_prices import ModelPrices, PriceRange
from shared.money import format_pico

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NOW_NS = int(NOW.timestamp()) * 10**9
TRACE = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
RATES = pricing_math.Rates(
    input_per_mtok=3_000_000,
    output_per_mtok=15_000_000,
    cache_write_per_mtok=3_750_000,
    cache_read_per_mtok=300_000,
    web_search_per_1k=10_000_000,
    neurons_per_1k=11_000,
    code_exec_per_second=50,
)
PRICES = ModelPrices("id", (PriceRange(tpb.PRICE_TIER_STANDARD, 0, None, RATES, "seed"),))


def by_name(row: list[Any]) -> dict[str, Any]:
    """A row (column values in COPY_COLUMNS order, JSON as text) by column name, JSON decoded."""
    named = dict(zip(COPY_COLUMNS, row, strict=True))
    for name in ("metadata_json", "cost_breakdown_json"):
        named[name] = json.loads(named[name])
    return named


def check(**fields: object) -> dict | list[FieldViolation]:
    fields.setdefault("event_id", "e-1")
    outcome = _check(pb.UsageRecord(**fields), "records[0]", "t1", NOW_NS, TRACE, NOW)
    return outcome if isinstance(outcome, list) else by_name(outcome[0])


def test_tenancy_prices_with_the_shared_math() -> None:
    assert tenancy_pricing.price_usage is pricing_math.price_usage
    assert tenancy_pricing.Rates is pricing_math.Rates


def test_every_problem_is_named_by_field() -> None:
    problems = check(
        event_id="",
        input_tokens=-1,
        cache_read_input_tokens=5,
        computed_cost_usd="1e3",
        trace_id="ABC",
        metric_value=float("nan"),
    )
    assert isinstance(problems, list)
    assert {p.field for p in problems} == {
        "records[0].event_id",
        "records[0].input_tokens",
        "records[0].token_convention",
        "records[0].computed_cost_usd",
        "records[0].trace_id",
        "records[0].metric_value",
    }
    included = check(
        token_convention=pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED,
        input_tokens=10,
        cache_read_input_tokens=11,
    )
    assert [p.field for p in included] == ["records[0].input_tokens"]  # type: ignore[union-attr]
    assert [p.field for p in check(span_id="00f067aa0ba902b7")] == ["records[0].span_id"]  # type: ignore[union-attr]


def test_defaults_trace_context_and_derived_counts() -> None:
    row = check(
        input_tokens=100,
        cache_creation_input_tokens=20,
        cache_read_input_tokens=80,
        token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
    )
    assert isinstance(row, dict)
    assert (row["trace_id"], row["span_id"]) == TRACE
    assert row["timestamp_unix_nano"] == NOW_NS and row["tenant_id"] == "t1"
    assert (row["metric_type"], row["metric_name"]) == ("usage", "model_call")
    assert row["total_input_tokens"] == 200 and row["cache_hit_rate"] == 0.4
    assert row["cost_status"] is CostStatus.NO_MODEL and row["computed_cost_picos"] is None
    assert check(computed_cost_usd="0.5")["cost_status"] is CostStatus.CLIENT  # type: ignore[index]


def test_priced_rows_cost_exactly_what_price_usage_says() -> None:
    generator = random.Random(7)
    for _ in range(500):
        includes = generator.random() < 0.5
        cache_creation, cache_read = generator.randrange(10**6), generator.randrange(10**6)
        input_tokens = generator.randrange(10**7) + (cache_creation + cache_read if includes else 0)
        record = pb.UsageRecord(
            event_id="e",
            input_tokens=input_tokens,
            output_tokens=generator.randrange(10**6),
            cache_creation_input_tokens=cache_creation,
            cache_read_input_tokens=cache_read,
            web_search_requests=generator.randrange(100),
            code_exec_seconds=generator.randrange(1000),
            neurons_used=generator.randrange(10**6),
            token_convention=(
                pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED
                if includes
                else pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED
            ),
        )
        outcome = _check(record, "r", "t", NOW_NS, ("", ""), NOW)
        assert not isinstance(outcome, list)
        checked = _Checked(0, *outcome)
        _apply_price(checked, PRICES, unavailable=False)
        row = by_name(checked.row)
        expected = tenancy_pricing.price_usage(checked.usage(), RATES)
        assert checked.usage() == pricing_math.Usage(
            input_tokens=input_tokens,
            output_tokens=record.output_tokens,
            cache_creation_tokens=cache_creation,
            cache_read_tokens=cache_read,
            web_search_requests=record.web_search_requests,
            code_exec_seconds=record.code_exec_seconds,
            neurons=record.neurons_used,
            includes_cached=includes,
        )
        assert row["computed_cost_picos"] == expected.total
        assert row["cost_breakdown_json"]["total"] == format_pico(expected.total)
        assert row["neuron_cost_picos"] == expected.neurons
        assert row["cache_cost_savings_picos"] == cache_read * (
            RATES.input_per_mtok - RATES.cache_read_per_mtok
        )
        assert (
            row["total_input_tokens"]
            == expected.uncached_input_tokens + cache_creation + cache_read
        )


def test_unpriceable_rows_say_why() -> None:
    for prices, unavailable, status in [
        (None, True, CostStatus.PRICING_UNAVAILABLE),
        (None, False, CostStatus.UNKNOWN_MODEL),
        (ModelPrices("id", ()), False, CostStatus.NO_PRICE),
    ]:
        outcome = _check(pb.UsageRecord(event_id="e"), "r", "t", NOW_NS, ("", ""), NOW)
        assert not isinstance(outcome, list)
        checked = _Checked(0, *outcome)
        _apply_price(checked, prices, unavailable)
        row = by_name(checked.row)
        assert row["cost_status"] is status and row["computed_cost_picos"] is None


def random_record(generator: random.Random) -> pb.UsageRecord:  # noqa: C901 - a random value per usage field
    """A record setting a random few fields, each valid or (sometimes) not."""

    def maybe(valid: object, invalid: object, odds: float = 0.08) -> object:
        return invalid if generator.random() < odds else valid

    fields: dict[str, object] = {
        "event_id": maybe(
            f"e-{generator.randrange(10**6)}", generator.choice(["", "a b", "x" * 129])
        )
    }
    if generator.random() < 0.7:
        fields["provider"] = "anthropic"
        fields["model_used"] = maybe("m", generator.choice(["m" * 300, "m\x00"]))
    if generator.random() < 0.2:
        fields["agent_id"] = maybe("agent", "nul\x00inside")
    for name in ("input_tokens", "output_tokens", "web_search_requests", "neurons_used"):
        if generator.random() < 0.6:
            fields[name] = maybe(generator.randrange(10**6), -generator.randrange(1, 10))
    if generator.random() < 0.4:
        fields["cache_read_input_tokens"] = generator.randrange(10**4)
        fields["cache_creation_input_tokens"] = generator.randrange(10**3)
    if generator.random() < 0.7:
        fields["token_convention"] = generator.choice([0, 1, 1, 2, 2, 9])
    if generator.random() < 0.4:
        fields["trace_id"] = maybe(
            generator.randbytes(16).hex(), generator.choice(["0" * 32, "ABC", "g" * 32])
        )
    if generator.random() < 0.4:
        fields["span_id"] = maybe(generator.randbytes(8).hex(), "0" * 16)
    if generator.random() < 0.2:
        fields["computed_cost_usd"] = maybe("0.25", "-1")
    if generator.random() < 0.2:
        fields["tenant_id"] = maybe("t1", "t2", 0.5)
    if generator.random() < 0.2:
        fields["metric_value"] = maybe(1.5, float("inf"))
    if generator.random() < 0.2:
        fields["is_batch"], fields["is_long_context"] = generator.random() < 0.5, True
    if generator.random() < 0.2:
        fields["pricing_source"] = maybe("mine", "s" * 65)
    if generator.random() < 0.2:
        fields["cache_ttl_seconds"] = maybe(generator.choice([0, 60]), -1)
    record = pb.UsageRecord(**fields)  # type: ignore[arg-type]
    if generator.random() < 0.5:
        record.time.FromNanoseconds(
            maybe(NOW_NS - generator.randrange(10**12), generator.choice([-5, 0, 2**63]))  # type: ignore[arg-type]
        )
    if generator.random() < 0.1:
        record.metadata.update({"k": maybe(1, generator.choice([float("nan"), "a\x00"]))})
    return record


def test_the_batch_path_gives_exactly_what_the_row_by_row_check_gives() -> None:
    generator = random.Random(11)
    records = [random_record(generator) for _ in range(3000)]
    ids = random_uuids(len(records))
    fast = _check_many(records, "records", "t1", NOW_NS, TRACE, NOW, ids)
    slow = [
        _check(record, f"records[{n}]", "t1", NOW_NS, TRACE, NOW, ids[n])
        for n, record in enumerate(records)
    ]
    assert fast == slow
    assert 500 < sum(isinstance(outcome, list) for outcome in fast) < 2500  # both kinds seen
