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

class MemoryScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_SCOPE_UNSPECIFIED: _ClassVar[MemoryScope]
    MEMORY_SCOPE_GLOBAL: _ClassVar[MemoryScope]
    MEMORY_SCOPE_PROJECT: _ClassVar[MemoryScope]
    MEMORY_SCOPE_SESSION: _ClassVar[MemoryScope]
    MEMORY_SCOPE_USER: _ClassVar[MemoryScope]

class MemorySource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_SOURCE_UNSPECIFIED: _ClassVar[MemorySource]
    MEMORY_SOURCE_USER: _ClassVar[MemorySource]
    MEMORY_SOURCE_ASSISTANT: _ClassVar[MemorySource]
    MEMORY_SOURCE_SYSTEM: _ClassVar[MemorySource]
MEMORY_SCOPE_UNSPECIFIED: MemoryScope
MEMORY_SCOPE_GLOBAL: MemoryScope
MEMORY_SCOPE_PROJECT: MemoryScope
MEMORY_SCOPE_SESSION: MemoryScope
MEMORY_SCOPE_USER: MemoryScope
MEMORY_SOURCE_UNSPECIFIED: MemorySource
MEMORY_SOURCE_USER: MemorySource
MEMORY_SOURCE_ASSISTANT: MemorySource
MEMORY_SOURCE_SYSTEM: MemorySource

class MemoryEntry(_message.Message):
    __slots__ = ("id", "tenant_id", "scope", "scope_key", "key", "value", "confidence", "source", "conversation_id", "session_key", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    scope: MemoryScope
    scope_key: str
    key: str
    value: _struct_pb2.Value
    confidence: int
    source: MemorySource
    conversation_id: str
    session_key: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., scope: _Optional[_Union[MemoryScope, str]] = ..., scope_key: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., confidence: _Optional[int] = ..., source: _Optional[_Union[MemorySource, str]] = ..., conversation_id: _Optional[str] = ..., session_key: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpsertMemoryRequest(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: MemoryEntry
    def __init__(self, entry: _Optional[_Union[MemoryEntry, _Mapping]] = ...) -> None: ...

class UpsertMemoryResponse(_message.Message):
    __slots__ = ("entry", "created")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    entry: MemoryEntry
    created: bool
    def __init__(self, entry: _Optional[_Union[MemoryEntry, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetMemoryRequest(_message.Message):
    __slots__ = ("tenant_id", "scope", "scope_key", "key")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    scope: MemoryScope
    scope_key: str
    key: str
    def __init__(self, tenant_id: _Optional[str] = ..., scope: _Optional[_Union[MemoryScope, str]] = ..., scope_key: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class GetMemoryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: MemoryEntry
    def __init__(self, entry: _Optional[_Union[MemoryEntry, _Mapping]] = ...) -> None: ...

class ListMemoriesRequest(_message.Message):
    __slots__ = ("tenant_id", "scope", "scope_key", "session_key", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_KEY_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    scope: MemoryScope
    scope_key: str
    session_key: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., scope: _Optional[_Union[MemoryScope, str]] = ..., scope_key: _Optional[str] = ..., session_key: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMemoriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[MemoryEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[MemoryEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteMemoryRequest(_message.Message):
    __slots__ = ("tenant_id", "scope", "scope_key", "key")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    scope: MemoryScope
    scope_key: str
    key: str
    def __init__(self, tenant_id: _Optional[str] = ..., scope: _Optional[_Union[MemoryScope, str]] = ..., scope_key: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class DeleteMemoryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SearchMemoriesRequest(_message.Message):
    __slots__ = ("tenant_id", "query", "scope", "scope_key", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_KEY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    query: str
    scope: MemoryScope
    scope_key: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., query: _Optional[str] = ..., scope: _Optional[_Union[MemoryScope, str]] = ..., scope_key: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchMemoriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[MemoryEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[MemoryEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
