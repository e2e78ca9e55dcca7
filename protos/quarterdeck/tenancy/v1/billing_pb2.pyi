import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from quarterdeck.tenancy.v1 import pricing_pb2 as _pricing_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageGranularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_GRANULARITY_UNSPECIFIED: _ClassVar[UsageGranularity]
    USAGE_GRANULARITY_DAY: _ClassVar[UsageGranularity]
    USAGE_GRANULARITY_MONTH: _ClassVar[UsageGranularity]

class UsageMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_METRIC_UNSPECIFIED: _ClassVar[UsageMetric]
    USAGE_METRIC_INPUT_TOKENS: _ClassVar[UsageMetric]
    USAGE_METRIC_OUTPUT_TOKENS: _ClassVar[UsageMetric]
    USAGE_METRIC_TOTAL_TOKENS: _ClassVar[UsageMetric]
    USAGE_METRIC_REQUESTS: _ClassVar[UsageMetric]
    USAGE_METRIC_STORAGE_BYTES: _ClassVar[UsageMetric]

class SubscriptionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_STATUS_UNSPECIFIED: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_TRIALING: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_ACTIVE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_PAST_DUE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_CANCELED: _ClassVar[SubscriptionStatus]

class InvoiceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_STATUS_UNSPECIFIED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_DRAFT: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_OPEN: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_PAID: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_VOID: _ClassVar[InvoiceStatus]
USAGE_GRANULARITY_UNSPECIFIED: UsageGranularity
USAGE_GRANULARITY_DAY: UsageGranularity
USAGE_GRANULARITY_MONTH: UsageGranularity
USAGE_METRIC_UNSPECIFIED: UsageMetric
USAGE_METRIC_INPUT_TOKENS: UsageMetric
USAGE_METRIC_OUTPUT_TOKENS: UsageMetric
USAGE_METRIC_TOTAL_TOKENS: UsageMetric
USAGE_METRIC_REQUESTS: UsageMetric
USAGE_METRIC_STORAGE_BYTES: UsageMetric
SUBSCRIPTION_STATUS_UNSPECIFIED: SubscriptionStatus
SUBSCRIPTION_STATUS_TRIALING: SubscriptionStatus
SUBSCRIPTION_STATUS_ACTIVE: SubscriptionStatus
SUBSCRIPTION_STATUS_PAST_DUE: SubscriptionStatus
SUBSCRIPTION_STATUS_CANCELED: SubscriptionStatus
INVOICE_STATUS_UNSPECIFIED: InvoiceStatus
INVOICE_STATUS_DRAFT: InvoiceStatus
INVOICE_STATUS_OPEN: InvoiceStatus
INVOICE_STATUS_PAID: InvoiceStatus
INVOICE_STATUS_VOID: InvoiceStatus

class UsageCounter(_message.Message):
    __slots__ = ("tenant_id", "user_id", "period_start", "granularity", "input_tokens", "output_tokens", "requests", "storage_bytes")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    user_id: str
    period_start: str
    granularity: UsageGranularity
    input_tokens: int
    output_tokens: int
    requests: int
    storage_bytes: int
    def __init__(self, tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., period_start: _Optional[str] = ..., granularity: _Optional[_Union[UsageGranularity, str]] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., requests: _Optional[int] = ..., storage_bytes: _Optional[int] = ...) -> None: ...

class RecordUsageRequest(_message.Message):
    __slots__ = ("tenant_id", "user_id", "occurred_at", "input_tokens", "output_tokens", "requests", "storage_bytes", "request_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    user_id: str
    occurred_at: _timestamp_pb2.Timestamp
    input_tokens: int
    output_tokens: int
    requests: int
    storage_bytes: int
    request_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., requests: _Optional[int] = ..., storage_bytes: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("day", "month")
    DAY_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    day: UsageCounter
    month: UsageCounter
    def __init__(self, day: _Optional[_Union[UsageCounter, _Mapping]] = ..., month: _Optional[_Union[UsageCounter, _Mapping]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("tenant_id", "start_date", "end_date")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    start_date: str
    end_date: str
    def __init__(self, tenant_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class TenantUsage(_message.Message):
    __slots__ = ("tenant_id", "tenant_name", "input_tokens", "output_tokens", "total_tokens", "requests")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    tenant_name: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    requests: int
    def __init__(self, tenant_id: _Optional[str] = ..., tenant_name: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., requests: _Optional[int] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("tenants", "start_date", "end_date")
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    tenants: _containers.RepeatedCompositeFieldContainer[TenantUsage]
    start_date: str
    end_date: str
    def __init__(self, tenants: _Optional[_Iterable[_Union[TenantUsage, _Mapping]]] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class PlanFeature(_message.Message):
    __slots__ = ("feature_key", "display_name", "description", "metric", "unit", "hard_limit", "soft_limit", "is_metered", "included_quantity", "overage_unit_price", "overage_unit_block")
    FEATURE_KEY_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    HARD_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SOFT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    IS_METERED_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_UNIT_BLOCK_FIELD_NUMBER: _ClassVar[int]
    feature_key: str
    display_name: str
    description: str
    metric: UsageMetric
    unit: str
    hard_limit: int
    soft_limit: int
    is_metered: bool
    included_quantity: int
    overage_unit_price: str
    overage_unit_block: int
    def __init__(self, feature_key: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., metric: _Optional[_Union[UsageMetric, str]] = ..., unit: _Optional[str] = ..., hard_limit: _Optional[int] = ..., soft_limit: _Optional[int] = ..., is_metered: _Optional[bool] = ..., included_quantity: _Optional[int] = ..., overage_unit_price: _Optional[str] = ..., overage_unit_block: _Optional[int] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("id", "code", "name", "interval", "interval_count", "price", "currency", "trial_days", "seat_included", "is_active", "features", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TRIAL_DAYS_FIELD_NUMBER: _ClassVar[int]
    SEAT_INCLUDED_FIELD_NUMBER: _ClassVar[int]
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    code: str
    name: str
    interval: str
    interval_count: int
    price: str
    currency: str
    trial_days: int
    seat_included: int
    is_active: bool
    features: _containers.RepeatedCompositeFieldContainer[PlanFeature]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., code: _Optional[str] = ..., name: _Optional[str] = ..., interval: _Optional[str] = ..., interval_count: _Optional[int] = ..., price: _Optional[str] = ..., currency: _Optional[str] = ..., trial_days: _Optional[int] = ..., seat_included: _Optional[int] = ..., is_active: _Optional[bool] = ..., features: _Optional[_Iterable[_Union[PlanFeature, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePlanRequest(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class CreatePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ("include_inactive", "page_size", "page_token")
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    include_inactive: bool
    page_size: int
    page_token: str
    def __init__(self, include_inactive: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans", "next_page_token")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    next_page_token: str
    def __init__(self, plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePlanRequest(_message.Message):
    __slots__ = ("plan", "update_mask")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class SetPlanFeatureRequest(_message.Message):
    __slots__ = ("plan_id", "feature")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    feature: PlanFeature
    def __init__(self, plan_id: _Optional[str] = ..., feature: _Optional[_Union[PlanFeature, _Mapping]] = ...) -> None: ...

class SetPlanFeatureResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("id", "tenant_id", "plan_id", "status", "seat_count", "cancel_at_period_end", "trial_end_time", "current_period_start", "current_period_end", "billing_email", "version", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEAT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_AT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    TRIAL_END_TIME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    BILLING_EMAIL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    plan_id: str
    status: SubscriptionStatus
    seat_count: int
    cancel_at_period_end: bool
    trial_end_time: _timestamp_pb2.Timestamp
    current_period_start: _timestamp_pb2.Timestamp
    current_period_end: _timestamp_pb2.Timestamp
    billing_email: str
    version: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., seat_count: _Optional[int] = ..., cancel_at_period_end: _Optional[bool] = ..., trial_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., billing_email: _Optional[str] = ..., version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSubscriptionRequest(_message.Message):
    __slots__ = ("tenant_id", "plan_id", "seat_count", "billing_email", "start_time")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    SEAT_COUNT_FIELD_NUMBER: _ClassVar[int]
    BILLING_EMAIL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    plan_id: str
    seat_count: int
    billing_email: str
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., seat_count: _Optional[int] = ..., billing_email: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class GetSubscriptionRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class GetSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class ChangeSubscriptionRequest(_message.Message):
    __slots__ = ("tenant_id", "plan_id", "seat_count", "cancel_at_period_end")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    SEAT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_AT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    plan_id: str
    seat_count: int
    cancel_at_period_end: bool
    def __init__(self, tenant_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., seat_count: _Optional[int] = ..., cancel_at_period_end: _Optional[bool] = ...) -> None: ...

class ChangeSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class SetSubscriptionStatusRequest(_message.Message):
    __slots__ = ("subscription_id", "status")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    status: SubscriptionStatus
    def __init__(self, subscription_id: _Optional[str] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ...) -> None: ...

class SetSubscriptionStatusResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class SubscriptionUsage(_message.Message):
    __slots__ = ("subscription_id", "feature_key", "unit", "period_start", "period_end", "quantity")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_KEY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    feature_key: str
    unit: str
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    quantity: int
    def __init__(self, subscription_id: _Optional[str] = ..., feature_key: _Optional[str] = ..., unit: _Optional[str] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quantity: _Optional[int] = ...) -> None: ...

class RollUpUsageRequest(_message.Message):
    __slots__ = ("subscription_id",)
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    def __init__(self, subscription_id: _Optional[str] = ...) -> None: ...

class RollUpUsageResponse(_message.Message):
    __slots__ = ("usage",)
    USAGE_FIELD_NUMBER: _ClassVar[int]
    usage: _containers.RepeatedCompositeFieldContainer[SubscriptionUsage]
    def __init__(self, usage: _Optional[_Iterable[_Union[SubscriptionUsage, _Mapping]]] = ...) -> None: ...

class InvoiceLineItem(_message.Message):
    __slots__ = ("description", "quantity", "unit_price", "unit_block", "amount")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    UNIT_BLOCK_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    description: str
    quantity: int
    unit_price: str
    unit_block: int
    amount: _pricing_pb2.Money
    def __init__(self, description: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[str] = ..., unit_block: _Optional[int] = ..., amount: _Optional[_Union[_pricing_pb2.Money, _Mapping]] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("id", "subscription_id", "period_start", "period_end", "status", "total", "line_items", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    subscription_id: str
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    status: InvoiceStatus
    total: _pricing_pb2.Money
    line_items: _containers.RepeatedCompositeFieldContainer[InvoiceLineItem]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., subscription_id: _Optional[str] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[InvoiceStatus, str]] = ..., total: _Optional[_Union[_pricing_pb2.Money, _Mapping]] = ..., line_items: _Optional[_Iterable[_Union[InvoiceLineItem, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GenerateInvoiceRequest(_message.Message):
    __slots__ = ("subscription_id",)
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    def __init__(self, subscription_id: _Optional[str] = ...) -> None: ...

class GenerateInvoiceResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: Invoice
    def __init__(self, invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class GetInvoiceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetInvoiceResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: Invoice
    def __init__(self, invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class SetInvoiceStatusRequest(_message.Message):
    __slots__ = ("id", "status")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: InvoiceStatus
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[InvoiceStatus, str]] = ...) -> None: ...

class SetInvoiceStatusResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: Invoice
    def __init__(self, invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class AdvanceSubscriptionPeriodsRequest(_message.Message):
    __slots__ = ("now", "limit")
    NOW_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    now: _timestamp_pb2.Timestamp
    limit: int
    def __init__(self, now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class AdvanceSubscriptionPeriodsResponse(_message.Message):
    __slots__ = ("periods_renewed", "subscriptions_canceled", "trials_ended", "invoices_drafted", "limit_counters_pruned", "remaining", "subscription_ids", "failed_subscription_ids")
    PERIODS_RENEWED_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTIONS_CANCELED_FIELD_NUMBER: _ClassVar[int]
    TRIALS_ENDED_FIELD_NUMBER: _ClassVar[int]
    INVOICES_DRAFTED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_COUNTERS_PRUNED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    FAILED_SUBSCRIPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    periods_renewed: int
    subscriptions_canceled: int
    trials_ended: int
    invoices_drafted: int
    limit_counters_pruned: int
    remaining: int
    subscription_ids: _containers.RepeatedScalarFieldContainer[str]
    failed_subscription_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, periods_renewed: _Optional[int] = ..., subscriptions_canceled: _Optional[int] = ..., trials_ended: _Optional[int] = ..., invoices_drafted: _Optional[int] = ..., limit_counters_pruned: _Optional[int] = ..., remaining: _Optional[int] = ..., subscription_ids: _Optional[_Iterable[str]] = ..., failed_subscription_ids: _Optional[_Iterable[str]] = ...) -> None: ...
