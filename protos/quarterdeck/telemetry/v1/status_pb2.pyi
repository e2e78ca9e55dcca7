import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscriptionChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_CHANNEL_UNSPECIFIED: _ClassVar[SubscriptionChannel]
    SUBSCRIPTION_CHANNEL_EMAIL: _ClassVar[SubscriptionChannel]
    SUBSCRIPTION_CHANNEL_WEBHOOK: _ClassVar[SubscriptionChannel]

class StatusSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_SEVERITY_UNSPECIFIED: _ClassVar[StatusSeverity]
    STATUS_SEVERITY_INFO: _ClassVar[StatusSeverity]
    STATUS_SEVERITY_MINOR: _ClassVar[StatusSeverity]
    STATUS_SEVERITY_MAJOR: _ClassVar[StatusSeverity]
    STATUS_SEVERITY_CRITICAL: _ClassVar[StatusSeverity]

class SubscriptionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_STATUS_UNSPECIFIED: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_PENDING_VERIFICATION: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_ACTIVE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_REVOKED: _ClassVar[SubscriptionStatus]

class ComponentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPONENT_STATUS_UNSPECIFIED: _ClassVar[ComponentStatus]
    COMPONENT_STATUS_OPERATIONAL: _ClassVar[ComponentStatus]
    COMPONENT_STATUS_DEGRADED_PERFORMANCE: _ClassVar[ComponentStatus]
    COMPONENT_STATUS_PARTIAL_OUTAGE: _ClassVar[ComponentStatus]
    COMPONENT_STATUS_MAJOR_OUTAGE: _ClassVar[ComponentStatus]
    COMPONENT_STATUS_UNDER_MAINTENANCE: _ClassVar[ComponentStatus]
SUBSCRIPTION_CHANNEL_UNSPECIFIED: SubscriptionChannel
SUBSCRIPTION_CHANNEL_EMAIL: SubscriptionChannel
SUBSCRIPTION_CHANNEL_WEBHOOK: SubscriptionChannel
STATUS_SEVERITY_UNSPECIFIED: StatusSeverity
STATUS_SEVERITY_INFO: StatusSeverity
STATUS_SEVERITY_MINOR: StatusSeverity
STATUS_SEVERITY_MAJOR: StatusSeverity
STATUS_SEVERITY_CRITICAL: StatusSeverity
SUBSCRIPTION_STATUS_UNSPECIFIED: SubscriptionStatus
SUBSCRIPTION_STATUS_PENDING_VERIFICATION: SubscriptionStatus
SUBSCRIPTION_STATUS_ACTIVE: SubscriptionStatus
SUBSCRIPTION_STATUS_REVOKED: SubscriptionStatus
COMPONENT_STATUS_UNSPECIFIED: ComponentStatus
COMPONENT_STATUS_OPERATIONAL: ComponentStatus
COMPONENT_STATUS_DEGRADED_PERFORMANCE: ComponentStatus
COMPONENT_STATUS_PARTIAL_OUTAGE: ComponentStatus
COMPONENT_STATUS_MAJOR_OUTAGE: ComponentStatus
COMPONENT_STATUS_UNDER_MAINTENANCE: ComponentStatus

class StatusSubscription(_message.Message):
    __slots__ = ("id", "tenant_id", "channel", "target_masked", "severity_filter", "status", "metadata", "created_by", "verification_expire_time", "revoked_reason", "create_time", "update_time", "revoke_time", "last_challenge_send_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_MASKED_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FILTER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKED_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_CHALLENGE_SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    channel: SubscriptionChannel
    target_masked: str
    severity_filter: StatusSeverity
    status: SubscriptionStatus
    metadata: _struct_pb2.Struct
    created_by: str
    verification_expire_time: _timestamp_pb2.Timestamp
    revoked_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    last_challenge_send_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., channel: _Optional[_Union[SubscriptionChannel, str]] = ..., target_masked: _Optional[str] = ..., severity_filter: _Optional[_Union[StatusSeverity, str]] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_by: _Optional[str] = ..., verification_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_challenge_send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateStatusSubscriptionRequest(_message.Message):
    __slots__ = ("tenant_id", "channel", "target", "severity_filter", "metadata", "request_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FILTER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    channel: SubscriptionChannel
    target: str
    severity_filter: StatusSeverity
    metadata: _struct_pb2.Struct
    request_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., channel: _Optional[_Union[SubscriptionChannel, str]] = ..., target: _Optional[str] = ..., severity_filter: _Optional[_Union[StatusSeverity, str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateStatusSubscriptionResponse(_message.Message):
    __slots__ = ("subscription", "webhook_secret", "verification_delivered", "delivery_error")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ERROR_FIELD_NUMBER: _ClassVar[int]
    subscription: StatusSubscription
    webhook_secret: str
    verification_delivered: bool
    delivery_error: str
    def __init__(self, subscription: _Optional[_Union[StatusSubscription, _Mapping]] = ..., webhook_secret: _Optional[str] = ..., verification_delivered: _Optional[bool] = ..., delivery_error: _Optional[str] = ...) -> None: ...

class ResendStatusVerificationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ResendStatusVerificationResponse(_message.Message):
    __slots__ = ("subscription", "verification_delivered", "delivery_error")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ERROR_FIELD_NUMBER: _ClassVar[int]
    subscription: StatusSubscription
    verification_delivered: bool
    delivery_error: str
    def __init__(self, subscription: _Optional[_Union[StatusSubscription, _Mapping]] = ..., verification_delivered: _Optional[bool] = ..., delivery_error: _Optional[str] = ...) -> None: ...

class VerifyStatusSubscriptionRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class VerifyStatusSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: StatusSubscription
    def __init__(self, subscription: _Optional[_Union[StatusSubscription, _Mapping]] = ...) -> None: ...

class UnsubscribeStatusRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class UnsubscribeStatusResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: StatusSubscription
    def __init__(self, subscription: _Optional[_Union[StatusSubscription, _Mapping]] = ...) -> None: ...

class RevokeStatusSubscriptionRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeStatusSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: StatusSubscription
    def __init__(self, subscription: _Optional[_Union[StatusSubscription, _Mapping]] = ...) -> None: ...

class ListStatusSubscriptionsRequest(_message.Message):
    __slots__ = ("tenant_id", "status", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    status: SubscriptionStatus
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStatusSubscriptionsResponse(_message.Message):
    __slots__ = ("subscriptions", "next_page_token")
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subscriptions: _containers.RepeatedCompositeFieldContainer[StatusSubscription]
    next_page_token: str
    def __init__(self, subscriptions: _Optional[_Iterable[_Union[StatusSubscription, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetStatusSubscriptionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetStatusSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: StatusSubscription
    def __init__(self, subscription: _Optional[_Union[StatusSubscription, _Mapping]] = ...) -> None: ...

class NotifyStatusRequest(_message.Message):
    __slots__ = ("tenant_id", "component", "status", "severity", "message")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    component: str
    status: ComponentStatus
    severity: StatusSeverity
    message: str
    def __init__(self, tenant_id: _Optional[str] = ..., component: _Optional[str] = ..., status: _Optional[_Union[ComponentStatus, str]] = ..., severity: _Optional[_Union[StatusSeverity, str]] = ..., message: _Optional[str] = ...) -> None: ...

class DeliveryFailure(_message.Message):
    __slots__ = ("subscription_id", "target_masked", "reason")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_MASKED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    target_masked: str
    reason: str
    def __init__(self, subscription_id: _Optional[str] = ..., target_masked: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class NotifyStatusResponse(_message.Message):
    __slots__ = ("matched_count", "sent_count", "failed_count", "failures")
    MATCHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    matched_count: int
    sent_count: int
    failed_count: int
    failures: _containers.RepeatedCompositeFieldContainer[DeliveryFailure]
    def __init__(self, matched_count: _Optional[int] = ..., sent_count: _Optional[int] = ..., failed_count: _Optional[int] = ..., failures: _Optional[_Iterable[_Union[DeliveryFailure, _Mapping]]] = ...) -> None: ...
