import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BaseTool(_message.Message):
    __slots__ = ("id", "type", "handler_class", "description", "default_config_schema", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HANDLER_CLASS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CONFIG_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    handler_class: str
    description: str
    default_config_schema: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., handler_class: _Optional[str] = ..., description: _Optional[str] = ..., default_config_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OutputFormat(_message.Message):
    __slots__ = ("id", "name", "schema", "renderer_hint", "description", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RENDERER_HINT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    schema: _struct_pb2.Struct
    renderer_hint: _struct_pb2.Struct
    description: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., renderer_hint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ToolConfig(_message.Message):
    __slots__ = ("id", "tenant_id", "name", "base_tool_id", "base_tool_type", "config", "input_schema", "output_format_id", "description", "is_active", "requires_approval", "version", "create_time", "update_time", "secret_headers", "secret_header_names")
    class SecretHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_TOOL_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SECRET_HEADERS_FIELD_NUMBER: _ClassVar[int]
    SECRET_HEADER_NAMES_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    name: str
    base_tool_id: str
    base_tool_type: str
    config: _struct_pb2.Struct
    input_schema: _struct_pb2.Struct
    output_format_id: str
    description: str
    is_active: bool
    requires_approval: bool
    version: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    secret_headers: _containers.ScalarMap[str, str]
    secret_header_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., base_tool_id: _Optional[str] = ..., base_tool_type: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., input_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., output_format_id: _Optional[str] = ..., description: _Optional[str] = ..., is_active: _Optional[bool] = ..., requires_approval: _Optional[bool] = ..., version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., secret_headers: _Optional[_Mapping[str, str]] = ..., secret_header_names: _Optional[_Iterable[str]] = ...) -> None: ...

class ListBaseToolsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBaseToolsResponse(_message.Message):
    __slots__ = ("base_tools", "next_page_token")
    BASE_TOOLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    base_tools: _containers.RepeatedCompositeFieldContainer[BaseTool]
    next_page_token: str
    def __init__(self, base_tools: _Optional[_Iterable[_Union[BaseTool, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListOutputFormatsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOutputFormatsResponse(_message.Message):
    __slots__ = ("output_formats", "next_page_token")
    OUTPUT_FORMATS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    output_formats: _containers.RepeatedCompositeFieldContainer[OutputFormat]
    next_page_token: str
    def __init__(self, output_formats: _Optional[_Iterable[_Union[OutputFormat, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateToolConfigRequest(_message.Message):
    __slots__ = ("tool", "request_id")
    TOOL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tool: ToolConfig
    request_id: str
    def __init__(self, tool: _Optional[_Union[ToolConfig, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateToolConfigResponse(_message.Message):
    __slots__ = ("tool",)
    TOOL_FIELD_NUMBER: _ClassVar[int]
    tool: ToolConfig
    def __init__(self, tool: _Optional[_Union[ToolConfig, _Mapping]] = ...) -> None: ...

class GetToolConfigRequest(_message.Message):
    __slots__ = ("tenant_id", "tool_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    tool_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., tool_id: _Optional[str] = ...) -> None: ...

class GetToolConfigResponse(_message.Message):
    __slots__ = ("tool",)
    TOOL_FIELD_NUMBER: _ClassVar[int]
    tool: ToolConfig
    def __init__(self, tool: _Optional[_Union[ToolConfig, _Mapping]] = ...) -> None: ...

class ListToolConfigsRequest(_message.Message):
    __slots__ = ("tenant_id", "active_only", "base_tool_type", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    BASE_TOOL_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    active_only: bool
    base_tool_type: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., active_only: _Optional[bool] = ..., base_tool_type: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListToolConfigsResponse(_message.Message):
    __slots__ = ("tools", "next_page_token")
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[ToolConfig]
    next_page_token: str
    def __init__(self, tools: _Optional[_Iterable[_Union[ToolConfig, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateToolConfigRequest(_message.Message):
    __slots__ = ("tool", "update_mask")
    TOOL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    tool: ToolConfig
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, tool: _Optional[_Union[ToolConfig, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateToolConfigResponse(_message.Message):
    __slots__ = ("tool",)
    TOOL_FIELD_NUMBER: _ClassVar[int]
    tool: ToolConfig
    def __init__(self, tool: _Optional[_Union[ToolConfig, _Mapping]] = ...) -> None: ...

class ImportMcpToolsRequest(_message.Message):
    __slots__ = ("tenant_id", "server_url", "name_prefix", "timeout_seconds", "refresh")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_URL_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    server_url: str
    name_prefix: str
    timeout_seconds: float
    refresh: bool
    def __init__(self, tenant_id: _Optional[str] = ..., server_url: _Optional[str] = ..., name_prefix: _Optional[str] = ..., timeout_seconds: _Optional[float] = ..., refresh: _Optional[bool] = ...) -> None: ...

class ImportMcpToolsResponse(_message.Message):
    __slots__ = ("tools",)
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[ToolConfig]
    def __init__(self, tools: _Optional[_Iterable[_Union[ToolConfig, _Mapping]]] = ...) -> None: ...

class Database(_message.Message):
    __slots__ = ("id", "tenant_id", "name", "dsn", "dialect", "location", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DSN_FIELD_NUMBER: _ClassVar[int]
    DIALECT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    name: str
    dsn: str
    dialect: str
    location: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., dsn: _Optional[str] = ..., dialect: _Optional[str] = ..., location: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterDatabaseRequest(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: Database
    def __init__(self, database: _Optional[_Union[Database, _Mapping]] = ...) -> None: ...

class RegisterDatabaseResponse(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: Database
    def __init__(self, database: _Optional[_Union[Database, _Mapping]] = ...) -> None: ...

class ListDatabasesRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatabasesResponse(_message.Message):
    __slots__ = ("databases", "next_page_token")
    DATABASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    databases: _containers.RepeatedCompositeFieldContainer[Database]
    next_page_token: str
    def __init__(self, databases: _Optional[_Iterable[_Union[Database, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
