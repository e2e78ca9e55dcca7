import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StreamTicket(_message.Message):
    __slots__ = ("id", "tenant_id", "conversation_id", "created_by", "session_key", "use_count", "expire_time", "create_time", "last_use_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    USE_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_USE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    conversation_id: str
    created_by: str
    session_key: str
    use_count: int
    expire_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    last_use_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., created_by: _Optional[str] = ..., session_key: _Optional[str] = ..., use_count: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_use_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateStreamTicketRequest(_message.Message):
    __slots__ = ("conversation_id", "ttl_seconds", "session_key")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    ttl_seconds: int
    session_key: str
    def __init__(self, conversation_id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ..., session_key: _Optional[str] = ...) -> None: ...

class CreateStreamTicketResponse(_message.Message):
    __slots__ = ("ticket", "stream_ticket")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    STREAM_TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    stream_ticket: StreamTicket
    def __init__(self, ticket: _Optional[str] = ..., stream_ticket: _Optional[_Union[StreamTicket, _Mapping]] = ...) -> None: ...

class RedeemStreamTicketRequest(_message.Message):
    __slots__ = ("ticket", "conversation_id")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    conversation_id: str
    def __init__(self, ticket: _Optional[str] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class RedeemStreamTicketResponse(_message.Message):
    __slots__ = ("stream_ticket",)
    STREAM_TICKET_FIELD_NUMBER: _ClassVar[int]
    stream_ticket: StreamTicket
    def __init__(self, stream_ticket: _Optional[_Union[StreamTicket, _Mapping]] = ...) -> None: ...
