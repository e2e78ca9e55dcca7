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

class ToolCallState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_CALL_STATE_UNSPECIFIED: _ClassVar[ToolCallState]
    TOOL_CALL_STATE_STARTED: _ClassVar[ToolCallState]
    TOOL_CALL_STATE_OK: _ClassVar[ToolCallState]
    TOOL_CALL_STATE_ERROR: _ClassVar[ToolCallState]
    TOOL_CALL_STATE_TIMEOUT: _ClassVar[ToolCallState]
    TOOL_CALL_STATE_PENDING_APPROVAL: _ClassVar[ToolCallState]
    TOOL_CALL_STATE_DENIED: _ClassVar[ToolCallState]
TOOL_CALL_STATE_UNSPECIFIED: ToolCallState
TOOL_CALL_STATE_STARTED: ToolCallState
TOOL_CALL_STATE_OK: ToolCallState
TOOL_CALL_STATE_ERROR: ToolCallState
TOOL_CALL_STATE_TIMEOUT: ToolCallState
TOOL_CALL_STATE_PENDING_APPROVAL: ToolCallState
TOOL_CALL_STATE_DENIED: ToolCallState

class ToolCall(_message.Message):
    __slots__ = ("id", "tenant_id", "agent_id", "agent_config_version", "tool_id", "tool_name", "run_id", "conversation_id", "state", "arguments", "result", "error", "error_reason", "latency_ms", "trace_id", "span_id", "decided_by", "decide_time", "deny_reason", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    DENY_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    agent_id: str
    agent_config_version: int
    tool_id: str
    tool_name: str
    run_id: str
    conversation_id: str
    state: ToolCallState
    arguments: _struct_pb2.Struct
    result: _struct_pb2.Value
    error: str
    error_reason: str
    latency_ms: int
    trace_id: str
    span_id: str
    decided_by: str
    decide_time: _timestamp_pb2.Timestamp
    deny_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., agent_config_version: _Optional[int] = ..., tool_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., run_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., state: _Optional[_Union[ToolCallState, str]] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., error: _Optional[str] = ..., error_reason: _Optional[str] = ..., latency_ms: _Optional[int] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., decided_by: _Optional[str] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deny_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExecuteToolRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "tool_id", "tool_name", "arguments", "run_id", "conversation_id", "request_id", "cost_tier")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    COST_TIER_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    tool_id: str
    tool_name: str
    arguments: _struct_pb2.Struct
    run_id: str
    conversation_id: str
    request_id: str
    cost_tier: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., tool_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., run_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., request_id: _Optional[str] = ..., cost_tier: _Optional[str] = ...) -> None: ...

class ExecuteToolResponse(_message.Message):
    __slots__ = ("tool_call",)
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    tool_call: ToolCall
    def __init__(self, tool_call: _Optional[_Union[ToolCall, _Mapping]] = ...) -> None: ...

class GetToolCallRequest(_message.Message):
    __slots__ = ("tenant_id", "tool_call_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    tool_call_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., tool_call_id: _Optional[str] = ...) -> None: ...

class GetToolCallResponse(_message.Message):
    __slots__ = ("tool_call",)
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    tool_call: ToolCall
    def __init__(self, tool_call: _Optional[_Union[ToolCall, _Mapping]] = ...) -> None: ...

class ListToolCallsRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "run_id", "state", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    run_id: str
    state: ToolCallState
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., run_id: _Optional[str] = ..., state: _Optional[_Union[ToolCallState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListToolCallsResponse(_message.Message):
    __slots__ = ("tool_calls", "next_page_token")
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    next_page_token: str
    def __init__(self, tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApproveToolCallRequest(_message.Message):
    __slots__ = ("tenant_id", "tool_call_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    tool_call_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., tool_call_id: _Optional[str] = ...) -> None: ...

class ApproveToolCallResponse(_message.Message):
    __slots__ = ("tool_call",)
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    tool_call: ToolCall
    def __init__(self, tool_call: _Optional[_Union[ToolCall, _Mapping]] = ...) -> None: ...

class DenyToolCallRequest(_message.Message):
    __slots__ = ("tenant_id", "tool_call_id", "reason")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    tool_call_id: str
    reason: str
    def __init__(self, tenant_id: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DenyToolCallResponse(_message.Message):
    __slots__ = ("tool_call",)
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    tool_call: ToolCall
    def __init__(self, tool_call: _Optional[_Union[ToolCall, _Mapping]] = ...) -> None: ...
