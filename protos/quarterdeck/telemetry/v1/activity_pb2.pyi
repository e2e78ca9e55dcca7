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

class ActivityActorType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVITY_ACTOR_TYPE_UNSPECIFIED: _ClassVar[ActivityActorType]
    ACTIVITY_ACTOR_TYPE_USER: _ClassVar[ActivityActorType]
    ACTIVITY_ACTOR_TYPE_SERVICE_ACCOUNT: _ClassVar[ActivityActorType]
    ACTIVITY_ACTOR_TYPE_SERVICE: _ClassVar[ActivityActorType]
    ACTIVITY_ACTOR_TYPE_SYSTEM: _ClassVar[ActivityActorType]

class ActivityStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVITY_STATUS_UNSPECIFIED: _ClassVar[ActivityStatus]
    ACTIVITY_STATUS_SUCCESS: _ClassVar[ActivityStatus]
    ACTIVITY_STATUS_FAILURE: _ClassVar[ActivityStatus]
ACTIVITY_ACTOR_TYPE_UNSPECIFIED: ActivityActorType
ACTIVITY_ACTOR_TYPE_USER: ActivityActorType
ACTIVITY_ACTOR_TYPE_SERVICE_ACCOUNT: ActivityActorType
ACTIVITY_ACTOR_TYPE_SERVICE: ActivityActorType
ACTIVITY_ACTOR_TYPE_SYSTEM: ActivityActorType
ACTIVITY_STATUS_UNSPECIFIED: ActivityStatus
ACTIVITY_STATUS_SUCCESS: ActivityStatus
ACTIVITY_STATUS_FAILURE: ActivityStatus

class ActivityEvent(_message.Message):
    __slots__ = ("id", "tenant_id", "action", "create_time", "actor_id", "actor_type", "actor_role", "object_type", "object_id", "object_name", "status", "source", "request_id", "ip_hash", "user_agent", "metadata", "summary", "trace_id", "span_id", "read")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    IP_HASH_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    action: str
    create_time: _timestamp_pb2.Timestamp
    actor_id: str
    actor_type: ActivityActorType
    actor_role: str
    object_type: str
    object_id: str
    object_name: str
    status: ActivityStatus
    source: str
    request_id: str
    ip_hash: str
    user_agent: str
    metadata: _struct_pb2.Struct
    summary: str
    trace_id: str
    span_id: str
    read: bool
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., action: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_id: _Optional[str] = ..., actor_type: _Optional[_Union[ActivityActorType, str]] = ..., actor_role: _Optional[str] = ..., object_type: _Optional[str] = ..., object_id: _Optional[str] = ..., object_name: _Optional[str] = ..., status: _Optional[_Union[ActivityStatus, str]] = ..., source: _Optional[str] = ..., request_id: _Optional[str] = ..., ip_hash: _Optional[str] = ..., user_agent: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., summary: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., read: _Optional[bool] = ...) -> None: ...

class AppendActivityRequest(_message.Message):
    __slots__ = ("event", "request_id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    event: ActivityEvent
    request_id: str
    def __init__(self, event: _Optional[_Union[ActivityEvent, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AppendActivityResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: ActivityEvent
    def __init__(self, event: _Optional[_Union[ActivityEvent, _Mapping]] = ...) -> None: ...

class ListActivityRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "page_token", "action", "object_type", "object_id", "since")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OBJECT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    page_token: str
    action: str
    object_type: str
    object_id: str
    since: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., action: _Optional[str] = ..., object_type: _Optional[str] = ..., object_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListActivityResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ActivityEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[ActivityEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MarkActivityReadRequest(_message.Message):
    __slots__ = ("tenant_id", "event_ids")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    event_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant_id: _Optional[str] = ..., event_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class MarkActivityReadResponse(_message.Message):
    __slots__ = ("newly_read_count", "unread_count")
    NEWLY_READ_COUNT_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    newly_read_count: int
    unread_count: int
    def __init__(self, newly_read_count: _Optional[int] = ..., unread_count: _Optional[int] = ...) -> None: ...

class MarkAllActivitySeenRequest(_message.Message):
    __slots__ = ("tenant_id", "through_event_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    THROUGH_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    through_event_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., through_event_id: _Optional[str] = ...) -> None: ...

class MarkAllActivitySeenResponse(_message.Message):
    __slots__ = ("last_seen_time", "last_seen_event_id", "unread_count")
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    last_seen_time: _timestamp_pb2.Timestamp
    last_seen_event_id: str
    unread_count: int
    def __init__(self, last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_event_id: _Optional[str] = ..., unread_count: _Optional[int] = ...) -> None: ...

class GetUnreadCountRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class GetUnreadCountResponse(_message.Message):
    __slots__ = ("unread_count", "capped")
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    CAPPED_FIELD_NUMBER: _ClassVar[int]
    unread_count: int
    capped: bool
    def __init__(self, unread_count: _Optional[int] = ..., capped: _Optional[bool] = ...) -> None: ...
