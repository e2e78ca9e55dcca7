"""A usage row as the protobuf message reads it: stored columns to ``UsageRecord``."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from services.telemetry.batch_rows import struct_of
from services.telemetry.usage.models import CostStatus, UsageRecord
from services.telemetry.usage.rows import _TEXT_FIELDS
from shared.money import format_pico
from shared.pricing_math import (
    format_micros,
)
from shared.timestamps import to_timestamp

STATUS_TO_PROTO = {
    CostStatus.PRICED: pb.COST_STATUS_PRICED,
    CostStatus.CLIENT: pb.COST_STATUS_CLIENT,
    CostStatus.NO_MODEL: pb.COST_STATUS_NO_MODEL,
    CostStatus.UNKNOWN_MODEL: pb.COST_STATUS_UNKNOWN_MODEL,
    CostStatus.NO_PRICE: pb.COST_STATUS_NO_PRICE,
    CostStatus.PRICING_UNAVAILABLE: pb.COST_STATUS_PRICING_UNAVAILABLE,
}


def _timestamp(unix_nano: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(unix_nano)
    return stamp


def _money(picos: int | None) -> str:
    return "" if picos is None else format_pico(picos)


def _rate(micros: int | None) -> str:
    return "" if micros is None else format_micros(micros)


def record_to_proto(row: UsageRecord | Any) -> pb.UsageRecord:
    """A stored row: a :class:`UsageRecord`, or a row of a prepared read of its table's columns
    (named alike)."""
    return pb.UsageRecord(
        id=str(row.id),
        tenant_id=row.tenant_id,
        event_id=row.event_id,
        time=_timestamp(row.timestamp_unix_nano),
        metric_type=row.metric_type,
        metric_name=row.metric_name,
        metric_value=row.metric_value,
        metadata=struct_of(row.metadata_json),
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cache_creation_input_tokens=row.cache_creation_input_tokens,
        cache_read_input_tokens=row.cache_read_input_tokens,
        cost_estimate_usd=_money(row.cost_estimate_picos),
        is_batch=row.is_batch,
        is_us_only=row.is_us_only,
        is_fast_mode=row.is_fast_mode,
        is_long_context=row.is_long_context,
        tool_system_prompt_tokens=row.tool_system_prompt_tokens,
        tool_overhead_input_tokens=row.tool_overhead_input_tokens,
        web_search_requests=row.web_search_requests,
        code_exec_seconds=row.code_exec_seconds,
        computed_cost_usd=_money(row.computed_cost_picos),
        cost_breakdown=struct_of(row.cost_breakdown_json),
        total_input_tokens=row.total_input_tokens,
        cache_hit_rate=row.cache_hit_rate,
        cache_efficiency_score=row.cache_efficiency_score,
        cache_cost_savings_usd=format_pico(row.cache_cost_savings_picos),
        cache_breakpoints_used=row.cache_breakpoints_used,
        cache_ttl_seconds=row.cache_ttl_seconds,
        pricing_source=row.pricing_source,
        cost_status=STATUS_TO_PROTO[row.cost_status],
        output_rate_per_mtok=_rate(row.output_rate_per_mtok_micros),
        input_rate_per_mtok=_rate(row.input_rate_per_mtok_micros),
        cache_read_rate_per_mtok=_rate(row.cache_read_rate_per_mtok_micros),
        cache_write_rate_per_mtok=_rate(row.cache_write_rate_per_mtok_micros),
        subscription_monthly_usd=_money(row.subscription_monthly_picos),
        neuron_cost_usd=format_pico(row.neuron_cost_picos),
        neurons_used=row.neurons_used,
        neuron_rate_per_1k=format_micros(row.neuron_rate_per_1k_micros),
        trace_id=row.trace_id or "",
        span_id=row.span_id or "",
        create_time=to_timestamp(row.created_at),
        **{name: getattr(row, name) or "" for name, _ in _TEXT_FIELDS},
    )
