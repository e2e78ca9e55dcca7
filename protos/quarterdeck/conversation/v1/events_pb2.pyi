import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LedgerEvent(_message.Message):
    __slots__ = ("sequence_number", "conversation_id", "segment_id", "kind", "schema_version", "run_id", "response_id", "agent", "item_id", "output_index", "content_index", "tool_call_id", "payload", "server_time")
    SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_INDEX_FIELD_NUMBER: _ClassVar[int]
    CONTENT_INDEX_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    sequence_number: int
    conversation_id: str
    segment_id: str
    kind: str
    schema_version: str
    run_id: str
    response_id: str
    agent: str
    item_id: str
    output_index: int
    content_index: int
    tool_call_id: str
    payload: _struct_pb2.Struct
    server_time: _timestamp_pb2.Timestamp
    def __init__(self, sequence_number: _Optional[int] = ..., conversation_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., kind: _Optional[str] = ..., schema_version: _Optional[str] = ..., run_id: _Optional[str] = ..., response_id: _Optional[str] = ..., agent: _Optional[str] = ..., item_id: _Optional[str] = ..., output_index: _Optional[int] = ..., content_index: _Optional[int] = ..., tool_call_id: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("conversation_id", "after_sequence_number", "page_size", "include_hidden")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HIDDEN_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    after_sequence_number: int
    page_size: int
    include_hidden: bool
    def __init__(self, conversation_id: _Optional[str] = ..., after_sequence_number: _Optional[int] = ..., page_size: _Optional[int] = ..., include_hidden: _Optional[bool] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_after_sequence_number")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[LedgerEvent]
    next_after_sequence_number: int
    def __init__(self, events: _Optional[_Iterable[_Union[LedgerEvent, _Mapping]]] = ..., next_after_sequence_number: _Optional[int] = ...) -> None: ...

class FollowEventsRequest(_message.Message):
    __slots__ = ("conversation_id", "after_sequence_number", "stream_ticket")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STREAM_TICKET_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    after_sequence_number: int
    stream_ticket: str
    def __init__(self, conversation_id: _Optional[str] = ..., after_sequence_number: _Optional[int] = ..., stream_ticket: _Optional[str] = ...) -> None: ...

class FollowEventsResponse(_message.Message):
    __slots__ = ("event", "end")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    event: LedgerEvent
    end: StreamEnd
    def __init__(self, event: _Optional[_Union[LedgerEvent, _Mapping]] = ..., end: _Optional[_Union[StreamEnd, _Mapping]] = ...) -> None: ...

class StreamEnd(_message.Message):
    __slots__ = ("reason", "message", "resume_after_sequence_number")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    resume_after_sequence_number: int
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ..., resume_after_sequence_number: _Optional[int] = ...) -> None: ...
