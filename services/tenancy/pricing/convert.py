"""Catalogue models and prices as their protobuf messages, and the enum maps between the two."""

from __future__ import annotations

from google.protobuf.struct_pb2 import Struct

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from services.tenancy.pricing.models import ModelPriceRecord, ModelRecord, PriceTier, SizeClass
from shared.pricing_math import (
    format_micros,
    format_pico,
)
from shared.proto_enums import to_proto_map
from shared.timestamps import to_timestamp

CURRENCY = "USD"

#: Proto rate field → column.
RATE_FIELDS = {
    "input_per_mtok": "input_per_mtok_micros",
    "output_per_mtok": "output_per_mtok_micros",
    "cache_write_per_mtok": "cache_write_per_mtok_micros",
    "cache_read_per_mtok": "cache_read_per_mtok_micros",
    "web_search_per_1k": "web_search_per_1k_micros",
    "neurons_per_1k": "neurons_per_1k_micros",
    "code_exec_per_second": "code_exec_per_second_micros",
}

SIZE_TO_PROTO = to_proto_map(pb.ModelSizeClass, SizeClass)
SIZE_FROM_PROTO = {v: k for k, v in SIZE_TO_PROTO.items()}
TIER_TO_PROTO = to_proto_map(pb.PriceTier, PriceTier)
TIER_FROM_PROTO = {v: k for k, v in TIER_TO_PROTO.items()}


def _struct(value: dict) -> Struct:
    struct = Struct()
    struct.update(value)
    return struct


def model_to_proto(row: ModelRecord) -> pb.Model:
    return pb.Model(
        id=str(row.id),
        provider=row.provider,
        model_name=row.model_name,
        display_name=row.display_name,
        billing_unit=row.billing_unit,
        context_window=row.context_window,
        context_default_tokens=row.context_default_tokens,
        supports_cache=row.supports_cache,
        supports_tools=row.supports_tools,
        supports_vision=row.supports_vision,
        supports_web_search=row.supports_web_search,
        supports_fast_mode=row.supports_fast_mode,
        capabilities=list(row.capabilities),
        size_class=SIZE_TO_PROTO[row.size_class],
        is_active=row.is_active,
        metadata=_struct(row.metadata_json),
        version=row.version,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


def price_to_proto(row: ModelPriceRecord) -> pb.ModelPrice:
    return pb.ModelPrice(
        id=str(row.id),
        model_id=str(row.model_id),
        tier=TIER_TO_PROTO[row.tier],
        source=row.source,
        effective_from=to_timestamp(row.effective_from),
        effective_to=to_timestamp(row.effective_to),
        create_time=to_timestamp(row.created_at),
        **{name: format_micros(getattr(row, column)) for name, column in RATE_FIELDS.items()},
    )


def money(picos: int) -> pb.Money:
    return pb.Money(currency_code=CURRENCY, amount=format_pico(picos))
