import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_CLASS_UNSPECIFIED: _ClassVar[StatusClass]
    STATUS_CLASS_1XX: _ClassVar[StatusClass]
    STATUS_CLASS_2XX: _ClassVar[StatusClass]
    STATUS_CLASS_3XX: _ClassVar[StatusClass]
    STATUS_CLASS_4XX: _ClassVar[StatusClass]
    STATUS_CLASS_5XX: _ClassVar[StatusClass]
STATUS_CLASS_UNSPECIFIED: StatusClass
STATUS_CLASS_1XX: StatusClass
STATUS_CLASS_2XX: StatusClass
STATUS_CLASS_3XX: StatusClass
STATUS_CLASS_4XX: StatusClass
STATUS_CLASS_5XX: StatusClass

class AgentRequest(_message.Message):
    __slots__ = ("request_id", "tenant_id", "principal_id", "endpoint", "method", "conversation_id", "message_id", "session_key", "ip", "user_agent", "status_code", "latency_ms", "error_code", "error_message", "create_time", "trace_id", "span_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant_id: str
    principal_id: str
    endpoint: str
    method: str
    conversation_id: str
    message_id: str
    session_key: str
    ip: str
    user_agent: str
    status_code: int
    latency_ms: int
    error_code: str
    error_message: str
    create_time: _timestamp_pb2.Timestamp
    trace_id: str
    span_id: str
    def __init__(self, request_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., principal_id: _Optional[str] = ..., endpoint: _Optional[str] = ..., method: _Optional[str] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., session_key: _Optional[str] = ..., ip: _Optional[str] = ..., user_agent: _Optional[str] = ..., status_code: _Optional[int] = ..., latency_ms: _Optional[int] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ...) -> None: ...

class RejectedRequest(_message.Message):
    __slots__ = ("index", "field", "description")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    index: int
    field: str
    description: str
    def __init__(self, index: _Optional[int] = ..., field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RecordRequestsRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[AgentRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[AgentRequest, _Mapping]]] = ...) -> None: ...

class RecordRequestsResponse(_message.Message):
    __slots__ = ("recorded_count", "rejected")
    RECORDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    recorded_count: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedRequest]
    def __init__(self, recorded_count: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedRequest, _Mapping]]] = ...) -> None: ...

class ListRequestsRequest(_message.Message):
    __slots__ = ("tenant_id", "start_time", "end_time", "status_class", "endpoint", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_CLASS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    status_class: StatusClass
    endpoint: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_class: _Optional[_Union[StatusClass, str]] = ..., endpoint: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[AgentRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[AgentRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListRecentErrorsRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRecentErrorsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[AgentRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[AgentRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
