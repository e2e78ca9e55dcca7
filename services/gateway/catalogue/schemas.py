"""The model catalogue, prices and usage pricing: the resources, mapped from their messages, and
the bodies.

As elsewhere in the gateway: snake_case protobuf field names, RFC 3339 times in UTC, lowercase
enum names, and request bodies that refuse unknown fields. Money never travels as a JSON number:
rates and amounts are decimal strings (a number where a rate belongs is refused), and an amount
is ``{"currency_code": "USD", "amount": "0.001234500000"}``. A tenant's provider key is
write-only: bodies take it, no response ever carries it, only its hint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import AwareDatetime, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from services.gateway.proto_json import INT32_MAX, INT64_MAX, JsonObject, Text, Version, refuse_null
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct
from shared.timestamps import to_timestamp

SizeClassName = Literal["small", "medium", "large"]

PriceTierName = Literal["standard", "batch", "long_context", "batch_long_context"]

TokenConventionName = Literal["input_excludes_cached", "input_includes_cached"]


def size_class_value(name: SizeClassName | None) -> pb.ModelSizeClass:
    return enum_number(pb.ModelSizeClass, name)


def price_tier_value(name: PriceTierName | None) -> pb.PriceTier:
    return enum_number(pb.PriceTier, name)


Count = Annotated[int, Field(ge=0, le=INT64_MAX)]

Tokens = Annotated[int, Field(ge=0, le=INT64_MAX, description="In tokens.")]

RateLimit = Annotated[int, Field(ge=0, le=INT32_MAX)]

#: A rate in USD: a decimal string such as "3" or "0.000050", at most six fractional digits.
Rate = Annotated[
    Text,
    Field(
        max_length=32,
        description="USD as a decimal string with at most six fractional digits; never a number.",
        examples=["3.000000"],
    ),
]


class Money(ProtoModel, message=pb.Money):
    """An exact amount: a decimal string with 12 fractional digits, never a float."""

    currency_code: str = Field(description="ISO 4217; always USD.", examples=["USD"])
    amount: str = Field(examples=["0.001234500000"])


class Model(ProtoModel, message=pb.Model, nullable=("size_class",)):
    provider: str = Field(description="Lowercase, such as anthropic or openai.")
    model_name: str = Field(description="The provider's name for the model.")
    billing_unit: str = Field(description="tokens or neurons.")
    context_default_tokens: int = Field(description="0 when unknown.")
    version: int = Field(description="The optimistic-concurrency version; send it on PATCH.")


class ModelList(ProtoModel, message=pb.ListModelsResponse):
    models: list[Model] = Field(description="Ordered by provider, then model name.")
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class CreateModelBody(RequestBody):
    provider: Text = Field(description="Lowercase letters, digits, '.', '_' or '-'.")
    model_name: Text = Field(description="Unique within the provider.")
    display_name: Text
    billing_unit: Literal["tokens", "neurons"] = "tokens"
    context_window: Tokens = 0
    context_default_tokens: Tokens = 0
    supports_cache: bool = False
    supports_tools: bool = False
    supports_vision: bool = False
    supports_web_search: bool = False
    supports_fast_mode: bool = False
    capabilities: list[Text] = Field(default_factory=list, description="Such as json_mode.")
    size_class: SizeClassName | None = Field(default=None, description="Defaults to medium.")
    is_active: bool = True
    metadata: JsonObject = Field(default_factory=dict)

    def to_proto(self) -> pb.Model:
        return pb.Model(
            provider=self.provider,
            model_name=self.model_name,
            display_name=self.display_name,
            billing_unit=self.billing_unit,
            context_window=self.context_window,
            context_default_tokens=self.context_default_tokens,
            supports_cache=self.supports_cache,
            supports_tools=self.supports_tools,
            supports_vision=self.supports_vision,
            supports_web_search=self.supports_web_search,
            supports_fast_mode=self.supports_fast_mode,
            capabilities=self.capabilities,
            size_class=size_class_value(self.size_class),
            is_active=self.is_active,
            metadata=dict_to_struct(self.metadata),
        )


#: Fields of an update that have no "clear" meaning: null is refused rather than read as a reset.
_NOT_NULLABLE_MODEL_FIELDS = (
    "display_name",
    "billing_unit",
    "context_window",
    "context_default_tokens",
    "supports_cache",
    "supports_tools",
    "supports_vision",
    "supports_web_search",
    "supports_fast_mode",
    "size_class",
    "is_active",
)


class UpdateModelBody(RequestBody):
    """The fields to change; those left out stay as they are. provider and model_name are fixed."""

    version: Version
    display_name: Text | None = None
    billing_unit: Literal["tokens", "neurons"] | None = None
    context_window: Tokens | None = None
    context_default_tokens: Tokens | None = None
    supports_cache: bool | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_web_search: bool | None = None
    supports_fast_mode: bool | None = None
    capabilities: list[Text] | None = Field(default=None, description="null removes them all.")
    size_class: SizeClassName | None = None
    is_active: bool | None = None
    metadata: JsonObject | None = Field(default=None, description="null clears it.")

    @field_validator(*_NOT_NULLABLE_MODEL_FIELDS, mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return refuse_null(value)

    def to_proto(self, model_id: str) -> pb.Model:
        return pb.Model(
            id=model_id,
            version=self.version,
            display_name=self.display_name or "",
            billing_unit=self.billing_unit or "",
            context_window=self.context_window or 0,
            context_default_tokens=self.context_default_tokens or 0,
            supports_cache=bool(self.supports_cache),
            supports_tools=bool(self.supports_tools),
            supports_vision=bool(self.supports_vision),
            supports_web_search=bool(self.supports_web_search),
            supports_fast_mode=bool(self.supports_fast_mode),
            capabilities=self.capabilities or [],
            size_class=size_class_value(self.size_class),
            is_active=bool(self.is_active),
            metadata=dict_to_struct(self.metadata),
        )

    def update_mask(self) -> FieldMask:
        return FieldMask(paths=self.mask_paths())


class ModelPrice(ProtoModel, message=pb.ModelPrice, zero={"tier": "standard"}):
    """One price of a model and tier over [effective_from, effective_to); rates in USD."""

    input_per_mtok: str = Field(description="Per million uncached input tokens.")
    output_per_mtok: str = Field(description="Per million output tokens.")
    cache_write_per_mtok: str = Field(description="Per million tokens written to the cache.")
    cache_read_per_mtok: str = Field(description="Per million tokens read from the cache.")
    web_search_per_1k: str = Field(description="Per thousand web searches.")
    neurons_per_1k: str = Field(description="Per thousand neurons.")
    code_exec_per_second: str = Field(description="Per second of code execution.")
    effective_to: datetime | None = Field(description="null while it is the current price.")


class ModelPriceList(ProtoModel, message=pb.ListModelPricesResponse):
    prices: list[ModelPrice] = Field(description="Newest first.")


class SetModelPriceBody(RequestBody):
    """A new price for the model and tier; rates left out are zero."""

    tier: PriceTierName = "standard"
    input_per_mtok: Rate = "0"
    output_per_mtok: Rate = "0"
    cache_write_per_mtok: Rate = "0"
    cache_read_per_mtok: Rate = "0"
    web_search_per_1k: Rate = "0"
    neurons_per_1k: Rate = "0"
    code_exec_per_second: Rate = "0"
    source: Text | None = Field(default=None, description="Defaults to operator.")
    effective_from: AwareDatetime | None = Field(
        default=None,
        description="Defaults to now; may not lie in the past, and must be later than the start "
        "of the current price of the same tier.",
    )

    def to_proto(self, model_id: str) -> pb.ModelPrice:
        return pb.ModelPrice(
            model_id=model_id,
            tier=price_tier_value(self.tier),
            input_per_mtok=self.input_per_mtok,
            output_per_mtok=self.output_per_mtok,
            cache_write_per_mtok=self.cache_write_per_mtok,
            cache_read_per_mtok=self.cache_read_per_mtok,
            web_search_per_1k=self.web_search_per_1k,
            neurons_per_1k=self.neurons_per_1k,
            code_exec_per_second=self.code_exec_per_second,
            source=self.source or "",
            effective_from=to_timestamp(self.effective_from),
        )


class PriceChange(ProtoModel, message=pb.SetModelPriceResponse):
    price: ModelPrice = Field(description="The new, current price.")
    previous: ModelPrice | None = Field(
        description="The price it replaced, now ending where the new one starts; null if none."
    )


class ModelRef(RequestBody):
    provider: Text
    model_name: Text


class PriceUsageBody(RequestBody):
    """One usage to price: the model by id or by provider and name, and non-negative counts."""

    model_id: Text | None = Field(default=None, description="The model's id, or send model_ref.")
    model_ref: ModelRef | None = Field(default=None, description="The model by provider and name.")
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When the usage occurred; defaults to now."
    )
    token_convention: TokenConventionName | None = Field(
        default=None,
        description="Whether input_tokens includes the cache tokens (input_includes_cached, as "
        "OpenAI counts) or not (input_excludes_cached, as Anthropic counts); required when cache "
        "tokens are given.",
    )
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_creation_tokens: Count = 0
    cache_read_tokens: Count = 0
    web_search_requests: Count = 0
    code_exec_seconds: Count = 0
    neurons: Count = 0
    batch: bool = False
    long_context: bool = False

    @model_validator(mode="after")
    def _one_model(self) -> PriceUsageBody:
        if self.model_id is not None and self.model_ref is not None:
            raise PydanticCustomError("one_model", "send model_id or model_ref, not both")
        return self

    def to_proto(self) -> pb.PriceUsageRequest:
        request = pb.PriceUsageRequest(
            occurred_at=to_timestamp(self.occurred_at),
            token_convention=enum_number(pb.TokenConvention, self.token_convention),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_creation_tokens=self.cache_creation_tokens,
            cache_read_tokens=self.cache_read_tokens,
            web_search_requests=self.web_search_requests,
            code_exec_seconds=self.code_exec_seconds,
            neurons=self.neurons,
            batch=self.batch,
            long_context=self.long_context,
        )
        if self.model_ref is not None:
            request.model_ref.CopyFrom(
                pb.ModelRef(provider=self.model_ref.provider, model_name=self.model_ref.model_name)
            )
        elif self.model_id is not None:
            request.model_id = self.model_id
        return request


class CostBreakdown(ProtoModel, message=pb.CostBreakdown):
    input: Money = Field(description="Uncached input tokens.")
    total: Money = Field(description="The exact sum of the components.")


class UsagePrice(ProtoModel, message=pb.PriceUsageResponse, zero={"tier": "standard"}):
    tier: PriceTierName = Field(description="The tier batch and long_context selected.")
    price: ModelPrice = Field(description="The price in effect when the usage occurred.")
    uncached_input_tokens: int = Field(description="The input tokens priced at the input rate.")
