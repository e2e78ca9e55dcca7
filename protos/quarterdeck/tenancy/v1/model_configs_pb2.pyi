import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from quarterdeck.tenancy.v1 import tenancy_pb2 as _tenancy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TenantModelConfig(_message.Message):
    __slots__ = ("tenant_id", "llm_model_id", "api_key", "api_key_hint", "rate_limit_rpm", "rate_limit_tpm", "version", "create_time", "update_time")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_HINT_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_RPM_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_TPM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    llm_model_id: str
    api_key: str
    api_key_hint: str
    rate_limit_rpm: int
    rate_limit_tpm: int
    version: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., llm_model_id: _Optional[str] = ..., api_key: _Optional[str] = ..., api_key_hint: _Optional[str] = ..., rate_limit_rpm: _Optional[int] = ..., rate_limit_tpm: _Optional[int] = ..., version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetTenantModelConfigRequest(_message.Message):
    __slots__ = ("config", "update_mask")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    config: TenantModelConfig
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, config: _Optional[_Union[TenantModelConfig, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class SetTenantModelConfigResponse(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: TenantModelConfig
    def __init__(self, config: _Optional[_Union[TenantModelConfig, _Mapping]] = ...) -> None: ...

class GetTenantModelConfigRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class GetTenantModelConfigResponse(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: TenantModelConfig
    def __init__(self, config: _Optional[_Union[TenantModelConfig, _Mapping]] = ...) -> None: ...

class RevealProviderKeyRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class RevealProviderKeyResponse(_message.Message):
    __slots__ = ("tenant_id", "llm_model_id", "api_key")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    llm_model_id: str
    api_key: str
    def __init__(self, tenant_id: _Optional[str] = ..., llm_model_id: _Optional[str] = ..., api_key: _Optional[str] = ...) -> None: ...

class AgentGrant(_message.Message):
    __slots__ = ("agent_id", "enabled", "output_format_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    enabled: bool
    output_format_id: str
    def __init__(self, agent_id: _Optional[str] = ..., enabled: _Optional[bool] = ..., output_format_id: _Optional[str] = ...) -> None: ...

class ToolGrant(_message.Message):
    __slots__ = ("tool_id", "enabled")
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    tool_id: str
    enabled: bool
    def __init__(self, tool_id: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class OnboardTenantRequest(_message.Message):
    __slots__ = ("tenant", "owner_user_id", "model_config", "agent_grants", "tool_grants", "request_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    AGENT_GRANTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_GRANTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: _tenancy_pb2.Tenant
    owner_user_id: str
    model_config: TenantModelConfig
    agent_grants: _containers.RepeatedCompositeFieldContainer[AgentGrant]
    tool_grants: _containers.RepeatedCompositeFieldContainer[ToolGrant]
    request_id: str
    def __init__(self, tenant: _Optional[_Union[_tenancy_pb2.Tenant, _Mapping]] = ..., owner_user_id: _Optional[str] = ..., model_config: _Optional[_Union[TenantModelConfig, _Mapping]] = ..., agent_grants: _Optional[_Iterable[_Union[AgentGrant, _Mapping]]] = ..., tool_grants: _Optional[_Iterable[_Union[ToolGrant, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class OnboardTenantResponse(_message.Message):
    __slots__ = ("tenant", "model_config", "agent_grants", "tool_grants")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    AGENT_GRANTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_GRANTS_FIELD_NUMBER: _ClassVar[int]
    tenant: _tenancy_pb2.Tenant
    model_config: TenantModelConfig
    agent_grants: _containers.RepeatedCompositeFieldContainer[AgentGrant]
    tool_grants: _containers.RepeatedCompositeFieldContainer[ToolGrant]
    def __init__(self, tenant: _Optional[_Union[_tenancy_pb2.Tenant, _Mapping]] = ..., model_config: _Optional[_Union[TenantModelConfig, _Mapping]] = ..., agent_grants: _Optional[_Iterable[_Union[AgentGrant, _Mapping]]] = ..., tool_grants: _Optional[_Iterable[_Union[ToolGrant, _Mapping]]] = ...) -> None: ...
