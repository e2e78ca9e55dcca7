import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelSizeClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_SIZE_CLASS_UNSPECIFIED: _ClassVar[ModelSizeClass]
    MODEL_SIZE_CLASS_SMALL: _ClassVar[ModelSizeClass]
    MODEL_SIZE_CLASS_MEDIUM: _ClassVar[ModelSizeClass]
    MODEL_SIZE_CLASS_LARGE: _ClassVar[ModelSizeClass]

class PriceTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_TIER_UNSPECIFIED: _ClassVar[PriceTier]
    PRICE_TIER_STANDARD: _ClassVar[PriceTier]
    PRICE_TIER_BATCH: _ClassVar[PriceTier]
    PRICE_TIER_LONG_CONTEXT: _ClassVar[PriceTier]
    PRICE_TIER_BATCH_LONG_CONTEXT: _ClassVar[PriceTier]

class TokenConvention(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOKEN_CONVENTION_UNSPECIFIED: _ClassVar[TokenConvention]
    TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED: _ClassVar[TokenConvention]
    TOKEN_CONVENTION_INPUT_INCLUDES_CACHED: _ClassVar[TokenConvention]
MODEL_SIZE_CLASS_UNSPECIFIED: ModelSizeClass
MODEL_SIZE_CLASS_SMALL: ModelSizeClass
MODEL_SIZE_CLASS_MEDIUM: ModelSizeClass
MODEL_SIZE_CLASS_LARGE: ModelSizeClass
PRICE_TIER_UNSPECIFIED: PriceTier
PRICE_TIER_STANDARD: PriceTier
PRICE_TIER_BATCH: PriceTier
PRICE_TIER_LONG_CONTEXT: PriceTier
PRICE_TIER_BATCH_LONG_CONTEXT: PriceTier
TOKEN_CONVENTION_UNSPECIFIED: TokenConvention
TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED: TokenConvention
TOKEN_CONVENTION_INPUT_INCLUDES_CACHED: TokenConvention

class Money(_message.Message):
    __slots__ = ("currency_code", "amount")
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    currency_code: str
    amount: str
    def __init__(self, currency_code: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("id", "provider", "model_name", "display_name", "billing_unit", "context_window", "context_default_tokens", "supports_cache", "supports_tools", "supports_vision", "supports_web_search", "supports_fast_mode", "capabilities", "size_class", "is_active", "metadata", "version", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BILLING_UNIT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_DEFAULT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_CACHE_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_TOOLS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_VISION_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_WEB_SEARCH_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_FAST_MODE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SIZE_CLASS_FIELD_NUMBER: _ClassVar[int]
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    model_name: str
    display_name: str
    billing_unit: str
    context_window: int
    context_default_tokens: int
    supports_cache: bool
    supports_tools: bool
    supports_vision: bool
    supports_web_search: bool
    supports_fast_mode: bool
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    size_class: ModelSizeClass
    is_active: bool
    metadata: _struct_pb2.Struct
    version: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., model_name: _Optional[str] = ..., display_name: _Optional[str] = ..., billing_unit: _Optional[str] = ..., context_window: _Optional[int] = ..., context_default_tokens: _Optional[int] = ..., supports_cache: _Optional[bool] = ..., supports_tools: _Optional[bool] = ..., supports_vision: _Optional[bool] = ..., supports_web_search: _Optional[bool] = ..., supports_fast_mode: _Optional[bool] = ..., capabilities: _Optional[_Iterable[str]] = ..., size_class: _Optional[_Union[ModelSizeClass, str]] = ..., is_active: _Optional[bool] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelPrice(_message.Message):
    __slots__ = ("id", "model_id", "tier", "input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_read_per_mtok", "web_search_per_1k", "neurons_per_1k", "code_exec_per_second", "source", "effective_from", "effective_to", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    INPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    WEB_SEARCH_PER_1K_FIELD_NUMBER: _ClassVar[int]
    NEURONS_PER_1K_FIELD_NUMBER: _ClassVar[int]
    CODE_EXEC_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TO_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    model_id: str
    tier: PriceTier
    input_per_mtok: str
    output_per_mtok: str
    cache_write_per_mtok: str
    cache_read_per_mtok: str
    web_search_per_1k: str
    neurons_per_1k: str
    code_exec_per_second: str
    source: str
    effective_from: _timestamp_pb2.Timestamp
    effective_to: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., model_id: _Optional[str] = ..., tier: _Optional[_Union[PriceTier, str]] = ..., input_per_mtok: _Optional[str] = ..., output_per_mtok: _Optional[str] = ..., cache_write_per_mtok: _Optional[str] = ..., cache_read_per_mtok: _Optional[str] = ..., web_search_per_1k: _Optional[str] = ..., neurons_per_1k: _Optional[str] = ..., code_exec_per_second: _Optional[str] = ..., source: _Optional[str] = ..., effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., effective_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "provider", "is_active")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    provider: str
    is_active: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., provider: _Optional[str] = ..., is_active: _Optional[bool] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class CreateModelRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class CreateModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class UpdateModelRequest(_message.Message):
    __slots__ = ("model", "update_mask")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    model: Model
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class SetModelPriceRequest(_message.Message):
    __slots__ = ("price",)
    PRICE_FIELD_NUMBER: _ClassVar[int]
    price: ModelPrice
    def __init__(self, price: _Optional[_Union[ModelPrice, _Mapping]] = ...) -> None: ...

class SetModelPriceResponse(_message.Message):
    __slots__ = ("price", "previous")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    price: ModelPrice
    previous: ModelPrice
    def __init__(self, price: _Optional[_Union[ModelPrice, _Mapping]] = ..., previous: _Optional[_Union[ModelPrice, _Mapping]] = ...) -> None: ...

class ListModelPricesRequest(_message.Message):
    __slots__ = ("model_id", "tier", "page_size", "page_token")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    tier: PriceTier
    page_size: int
    page_token: str
    def __init__(self, model_id: _Optional[str] = ..., tier: _Optional[_Union[PriceTier, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelPricesResponse(_message.Message):
    __slots__ = ("prices", "next_page_token")
    PRICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[ModelPrice]
    next_page_token: str
    def __init__(self, prices: _Optional[_Iterable[_Union[ModelPrice, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PriceUsageRequest(_message.Message):
    __slots__ = ("model_id", "model_ref", "occurred_at", "token_convention", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "web_search_requests", "code_exec_seconds", "neurons", "batch", "long_context")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_REF_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_CONVENTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WEB_SEARCH_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CODE_EXEC_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NEURONS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    LONG_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_ref: ModelRef
    occurred_at: _timestamp_pb2.Timestamp
    token_convention: TokenConvention
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    web_search_requests: int
    code_exec_seconds: int
    neurons: int
    batch: bool
    long_context: bool
    def __init__(self, model_id: _Optional[str] = ..., model_ref: _Optional[_Union[ModelRef, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token_convention: _Optional[_Union[TokenConvention, str]] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_creation_tokens: _Optional[int] = ..., cache_read_tokens: _Optional[int] = ..., web_search_requests: _Optional[int] = ..., code_exec_seconds: _Optional[int] = ..., neurons: _Optional[int] = ..., batch: _Optional[bool] = ..., long_context: _Optional[bool] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("provider", "model_name")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model_name: str
    def __init__(self, provider: _Optional[str] = ..., model_name: _Optional[str] = ...) -> None: ...

class CostBreakdown(_message.Message):
    __slots__ = ("input", "output", "cache_write", "cache_read", "web_search", "code_exec", "neurons", "total")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_FIELD_NUMBER: _ClassVar[int]
    WEB_SEARCH_FIELD_NUMBER: _ClassVar[int]
    CODE_EXEC_FIELD_NUMBER: _ClassVar[int]
    NEURONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    input: Money
    output: Money
    cache_write: Money
    cache_read: Money
    web_search: Money
    code_exec: Money
    neurons: Money
    total: Money
    def __init__(self, input: _Optional[_Union[Money, _Mapping]] = ..., output: _Optional[_Union[Money, _Mapping]] = ..., cache_write: _Optional[_Union[Money, _Mapping]] = ..., cache_read: _Optional[_Union[Money, _Mapping]] = ..., web_search: _Optional[_Union[Money, _Mapping]] = ..., code_exec: _Optional[_Union[Money, _Mapping]] = ..., neurons: _Optional[_Union[Money, _Mapping]] = ..., total: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class PriceUsageResponse(_message.Message):
    __slots__ = ("model_id", "tier", "price", "uncached_input_tokens", "cost")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    UNCACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    tier: PriceTier
    price: ModelPrice
    uncached_input_tokens: int
    cost: CostBreakdown
    def __init__(self, model_id: _Optional[str] = ..., tier: _Optional[_Union[PriceTier, str]] = ..., price: _Optional[_Union[ModelPrice, _Mapping]] = ..., uncached_input_tokens: _Optional[int] = ..., cost: _Optional[_Union[CostBreakdown, _Mapping]] = ...) -> None: ...
