import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentPermission(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "agent_name", "enabled", "output_override_id", "create_time", "update_time")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_OVERRIDE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    agent_name: str
    enabled: bool
    output_override_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., enabled: _Optional[bool] = ..., output_override_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ToolPermission(_message.Message):
    __slots__ = ("tenant_id", "tool_id", "tool_name", "enabled", "create_time")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    tool_id: str
    tool_name: str
    enabled: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., tool_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., enabled: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetAgentPermissionRequest(_message.Message):
    __slots__ = ("permission",)
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    permission: AgentPermission
    def __init__(self, permission: _Optional[_Union[AgentPermission, _Mapping]] = ...) -> None: ...

class SetAgentPermissionResponse(_message.Message):
    __slots__ = ("permission",)
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    permission: AgentPermission
    def __init__(self, permission: _Optional[_Union[AgentPermission, _Mapping]] = ...) -> None: ...

class ListAgentPermissionsRequest(_message.Message):
    __slots__ = ("tenant_id", "enabled_only", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    enabled_only: bool
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., enabled_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentPermissionsResponse(_message.Message):
    __slots__ = ("permissions", "next_page_token")
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    permissions: _containers.RepeatedCompositeFieldContainer[AgentPermission]
    next_page_token: str
    def __init__(self, permissions: _Optional[_Iterable[_Union[AgentPermission, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetToolPermissionRequest(_message.Message):
    __slots__ = ("permission",)
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    permission: ToolPermission
    def __init__(self, permission: _Optional[_Union[ToolPermission, _Mapping]] = ...) -> None: ...

class SetToolPermissionResponse(_message.Message):
    __slots__ = ("permission",)
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    permission: ToolPermission
    def __init__(self, permission: _Optional[_Union[ToolPermission, _Mapping]] = ...) -> None: ...

class ListToolPermissionsRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListToolPermissionsResponse(_message.Message):
    __slots__ = ("permissions", "next_page_token")
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    permissions: _containers.RepeatedCompositeFieldContainer[ToolPermission]
    next_page_token: str
    def __init__(self, permissions: _Optional[_Iterable[_Union[ToolPermission, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GrantAgentsRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_ids", "request_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GrantAgentsResponse(_message.Message):
    __slots__ = ("agent_permissions", "tool_permissions")
    AGENT_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    TOOL_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    agent_permissions: _containers.RepeatedCompositeFieldContainer[AgentPermission]
    tool_permissions: _containers.RepeatedCompositeFieldContainer[ToolPermission]
    def __init__(self, agent_permissions: _Optional[_Iterable[_Union[AgentPermission, _Mapping]]] = ..., tool_permissions: _Optional[_Iterable[_Union[ToolPermission, _Mapping]]] = ...) -> None: ...

class OnboardingAgentGrant(_message.Message):
    __slots__ = ("agent_id", "enabled", "output_format_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    enabled: bool
    output_format_id: str
    def __init__(self, agent_id: _Optional[str] = ..., enabled: _Optional[bool] = ..., output_format_id: _Optional[str] = ...) -> None: ...

class OnboardingToolGrant(_message.Message):
    __slots__ = ("tool_id", "enabled")
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    tool_id: str
    enabled: bool
    def __init__(self, tool_id: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class GrantOnboardingRequest(_message.Message):
    __slots__ = ("tenant_id", "onboarding_id", "agent_grants", "tool_grants")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ONBOARDING_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_GRANTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_GRANTS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    onboarding_id: str
    agent_grants: _containers.RepeatedCompositeFieldContainer[OnboardingAgentGrant]
    tool_grants: _containers.RepeatedCompositeFieldContainer[OnboardingToolGrant]
    def __init__(self, tenant_id: _Optional[str] = ..., onboarding_id: _Optional[str] = ..., agent_grants: _Optional[_Iterable[_Union[OnboardingAgentGrant, _Mapping]]] = ..., tool_grants: _Optional[_Iterable[_Union[OnboardingToolGrant, _Mapping]]] = ...) -> None: ...

class GrantOnboardingResponse(_message.Message):
    __slots__ = ("agent_permissions", "tool_permissions")
    AGENT_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    TOOL_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    agent_permissions: _containers.RepeatedCompositeFieldContainer[AgentPermission]
    tool_permissions: _containers.RepeatedCompositeFieldContainer[ToolPermission]
    def __init__(self, agent_permissions: _Optional[_Iterable[_Union[AgentPermission, _Mapping]]] = ..., tool_permissions: _Optional[_Iterable[_Union[ToolPermission, _Mapping]]] = ...) -> None: ...

class RevokeOnboardingRequest(_message.Message):
    __slots__ = ("tenant_id", "onboarding_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ONBOARDING_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    onboarding_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., onboarding_id: _Optional[str] = ...) -> None: ...

class RevokeOnboardingResponse(_message.Message):
    __slots__ = ("revoked_count",)
    REVOKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    revoked_count: int
    def __init__(self, revoked_count: _Optional[int] = ...) -> None: ...
