import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATUS_UNSPECIFIED: _ClassVar[AgentStatus]
    AGENT_STATUS_ACTIVE: _ClassVar[AgentStatus]
    AGENT_STATUS_INACTIVE: _ClassVar[AgentStatus]
    AGENT_STATUS_PAUSED: _ClassVar[AgentStatus]
    AGENT_STATUS_MAINTENANCE: _ClassVar[AgentStatus]
    AGENT_STATUS_ARCHIVED: _ClassVar[AgentStatus]

class SafetyLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAFETY_LEVEL_UNSPECIFIED: _ClassVar[SafetyLevel]
    SAFETY_LEVEL_STRICT: _ClassVar[SafetyLevel]
    SAFETY_LEVEL_MODERATE: _ClassVar[SafetyLevel]
    SAFETY_LEVEL_PERMISSIVE: _ClassVar[SafetyLevel]
AGENT_STATUS_UNSPECIFIED: AgentStatus
AGENT_STATUS_ACTIVE: AgentStatus
AGENT_STATUS_INACTIVE: AgentStatus
AGENT_STATUS_PAUSED: AgentStatus
AGENT_STATUS_MAINTENANCE: AgentStatus
AGENT_STATUS_ARCHIVED: AgentStatus
SAFETY_LEVEL_UNSPECIFIED: SafetyLevel
SAFETY_LEVEL_STRICT: SafetyLevel
SAFETY_LEVEL_MODERATE: SafetyLevel
SAFETY_LEVEL_PERMISSIVE: SafetyLevel

class ExecutionLimits(_message.Message):
    __slots__ = ("agent_role", "cost_tier", "max_ai_calls_per_day", "max_tokens_per_request", "max_db_queries_per_minute", "max_storage_operations_per_day", "rate_limit_per_minute", "allowed_operations", "blocked_operations", "allowed_tools", "blocked_tools", "notes", "update_time", "max_tool_calls_per_day")
    AGENT_ROLE_FIELD_NUMBER: _ClassVar[int]
    COST_TIER_FIELD_NUMBER: _ClassVar[int]
    MAX_AI_CALLS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MAX_DB_QUERIES_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    MAX_STORAGE_OPERATIONS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_TOOL_CALLS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    agent_role: str
    cost_tier: str
    max_ai_calls_per_day: int
    max_tokens_per_request: int
    max_db_queries_per_minute: int
    max_storage_operations_per_day: int
    rate_limit_per_minute: int
    allowed_operations: _containers.RepeatedScalarFieldContainer[str]
    blocked_operations: _containers.RepeatedScalarFieldContainer[str]
    allowed_tools: _containers.RepeatedScalarFieldContainer[str]
    blocked_tools: _containers.RepeatedScalarFieldContainer[str]
    notes: str
    update_time: _timestamp_pb2.Timestamp
    max_tool_calls_per_day: int
    def __init__(self, agent_role: _Optional[str] = ..., cost_tier: _Optional[str] = ..., max_ai_calls_per_day: _Optional[int] = ..., max_tokens_per_request: _Optional[int] = ..., max_db_queries_per_minute: _Optional[int] = ..., max_storage_operations_per_day: _Optional[int] = ..., rate_limit_per_minute: _Optional[int] = ..., allowed_operations: _Optional[_Iterable[str]] = ..., blocked_operations: _Optional[_Iterable[str]] = ..., allowed_tools: _Optional[_Iterable[str]] = ..., blocked_tools: _Optional[_Iterable[str]] = ..., notes: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_tool_calls_per_day: _Optional[int] = ...) -> None: ...

class SetExecutionLimitsRequest(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: ExecutionLimits
    def __init__(self, limits: _Optional[_Union[ExecutionLimits, _Mapping]] = ...) -> None: ...

class SetExecutionLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: ExecutionLimits
    def __init__(self, limits: _Optional[_Union[ExecutionLimits, _Mapping]] = ...) -> None: ...

class ListExecutionLimitsRequest(_message.Message):
    __slots__ = ("agent_role", "page_size", "page_token")
    AGENT_ROLE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_role: str
    page_size: int
    page_token: str
    def __init__(self, agent_role: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListExecutionLimitsResponse(_message.Message):
    __slots__ = ("limits", "next_page_token")
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    limits: _containers.RepeatedCompositeFieldContainer[ExecutionLimits]
    next_page_token: str
    def __init__(self, limits: _Optional[_Iterable[_Union[ExecutionLimits, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AgentPolicies(_message.Message):
    __slots__ = ("approvals", "integrations", "tool_permissions", "rate_limits", "budgets", "model", "cost", "pii", "security", "findings", "notification", "telemetry")
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    INTEGRATIONS_FIELD_NUMBER: _ClassVar[int]
    TOOL_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    PII_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_FIELD_NUMBER: _ClassVar[int]
    approvals: _struct_pb2.Struct
    integrations: _struct_pb2.Struct
    tool_permissions: _struct_pb2.Struct
    rate_limits: _struct_pb2.Struct
    budgets: _struct_pb2.Struct
    model: _struct_pb2.Struct
    cost: _struct_pb2.Struct
    pii: _struct_pb2.Struct
    security: _struct_pb2.Struct
    findings: _struct_pb2.Struct
    notification: _struct_pb2.Struct
    telemetry: _struct_pb2.Struct
    def __init__(self, approvals: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., integrations: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tool_permissions: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., rate_limits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., budgets: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., model: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., cost: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., pii: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., security: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., findings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., notification: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., telemetry: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AgentContacts(_message.Message):
    __slots__ = ("owner_user_id", "user_email", "additional_alert_emails", "backup_user_email", "alert_escalation_email")
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_ALERT_EMAILS_FIELD_NUMBER: _ClassVar[int]
    BACKUP_USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    ALERT_ESCALATION_EMAIL_FIELD_NUMBER: _ClassVar[int]
    owner_user_id: str
    user_email: str
    additional_alert_emails: _containers.RepeatedScalarFieldContainer[str]
    backup_user_email: str
    alert_escalation_email: str
    def __init__(self, owner_user_id: _Optional[str] = ..., user_email: _Optional[str] = ..., additional_alert_emails: _Optional[_Iterable[str]] = ..., backup_user_email: _Optional[str] = ..., alert_escalation_email: _Optional[str] = ...) -> None: ...

class AgentTotals(_message.Message):
    __slots__ = ("tasks_completed", "tokens_used", "average_latency_ms", "success_rate")
    TASKS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    TOKENS_USED_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    tasks_completed: int
    tokens_used: int
    average_latency_ms: float
    success_rate: float
    def __init__(self, tasks_completed: _Optional[int] = ..., tokens_used: _Optional[int] = ..., average_latency_ms: _Optional[float] = ..., success_rate: _Optional[float] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("id", "tenant_id", "is_global", "name", "role_name", "description", "status", "mode", "safety_level", "tenant_scope", "allowed_tenant_ids", "blocked_tenant_ids", "auth_strategy", "required_roles", "requires_human_approval", "policies", "mcp_services", "telemetry_enabled", "model", "llm_model_id", "prompt_template", "default_output_format_id", "handler_class", "specialties", "backstory", "personality_emoji", "notes", "metadata", "contacts", "is_active", "config_version", "config_hash", "totals", "last_health_check_time", "last_run_time", "last_error", "created_by", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    IS_GLOBAL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SAFETY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    TENANT_SCOPE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_TENANT_IDS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_TENANT_IDS_FIELD_NUMBER: _ClassVar[int]
    AUTH_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ROLES_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_HUMAN_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    MCP_SERVICES_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_ENABLED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_OUTPUT_FORMAT_ID_FIELD_NUMBER: _ClassVar[int]
    HANDLER_CLASS_FIELD_NUMBER: _ClassVar[int]
    SPECIALTIES_FIELD_NUMBER: _ClassVar[int]
    BACKSTORY_FIELD_NUMBER: _ClassVar[int]
    PERSONALITY_EMOJI_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEALTH_CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    is_global: bool
    name: str
    role_name: str
    description: str
    status: AgentStatus
    mode: str
    safety_level: SafetyLevel
    tenant_scope: str
    allowed_tenant_ids: _containers.RepeatedScalarFieldContainer[str]
    blocked_tenant_ids: _containers.RepeatedScalarFieldContainer[str]
    auth_strategy: str
    required_roles: _containers.RepeatedScalarFieldContainer[str]
    requires_human_approval: bool
    policies: AgentPolicies
    mcp_services: _containers.RepeatedScalarFieldContainer[str]
    telemetry_enabled: bool
    model: str
    llm_model_id: str
    prompt_template: str
    default_output_format_id: str
    handler_class: str
    specialties: _containers.RepeatedScalarFieldContainer[str]
    backstory: str
    personality_emoji: str
    notes: str
    metadata: _struct_pb2.Struct
    contacts: AgentContacts
    is_active: bool
    config_version: int
    config_hash: str
    totals: AgentTotals
    last_health_check_time: _timestamp_pb2.Timestamp
    last_run_time: _timestamp_pb2.Timestamp
    last_error: str
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., is_global: _Optional[bool] = ..., name: _Optional[str] = ..., role_name: _Optional[str] = ..., description: _Optional[str] = ..., status: _Optional[_Union[AgentStatus, str]] = ..., mode: _Optional[str] = ..., safety_level: _Optional[_Union[SafetyLevel, str]] = ..., tenant_scope: _Optional[str] = ..., allowed_tenant_ids: _Optional[_Iterable[str]] = ..., blocked_tenant_ids: _Optional[_Iterable[str]] = ..., auth_strategy: _Optional[str] = ..., required_roles: _Optional[_Iterable[str]] = ..., requires_human_approval: _Optional[bool] = ..., policies: _Optional[_Union[AgentPolicies, _Mapping]] = ..., mcp_services: _Optional[_Iterable[str]] = ..., telemetry_enabled: _Optional[bool] = ..., model: _Optional[str] = ..., llm_model_id: _Optional[str] = ..., prompt_template: _Optional[str] = ..., default_output_format_id: _Optional[str] = ..., handler_class: _Optional[str] = ..., specialties: _Optional[_Iterable[str]] = ..., backstory: _Optional[str] = ..., personality_emoji: _Optional[str] = ..., notes: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., contacts: _Optional[_Union[AgentContacts, _Mapping]] = ..., is_active: _Optional[bool] = ..., config_version: _Optional[int] = ..., config_hash: _Optional[str] = ..., totals: _Optional[_Union[AgentTotals, _Mapping]] = ..., last_health_check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_run_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentToolAssignment(_message.Message):
    __slots__ = ("tool_id", "priority")
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    tool_id: str
    priority: int
    def __init__(self, tool_id: _Optional[str] = ..., priority: _Optional[int] = ...) -> None: ...

class CreateAgentRequest(_message.Message):
    __slots__ = ("agent", "tools", "request_id")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    tools: _containers.RepeatedCompositeFieldContainer[AgentToolAssignment]
    request_id: str
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., tools: _Optional[_Iterable[_Union[AgentToolAssignment, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent", "tools")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    tools: _containers.RepeatedCompositeFieldContainer[AgentTool]
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., tools: _Optional[_Iterable[_Union[AgentTool, _Mapping]]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("tenant_id", "status", "enabled_only", "role_name", "include_global", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_ONLY_FIELD_NUMBER: _ClassVar[int]
    ROLE_NAME_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_GLOBAL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    status: AgentStatus
    enabled_only: bool
    role_name: str
    include_global: bool
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., status: _Optional[_Union[AgentStatus, str]] = ..., enabled_only: _Optional[bool] = ..., role_name: _Optional[str] = ..., include_global: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ("agent", "update_mask")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class ArchiveAgentRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "config_version")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    config_version: int
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., config_version: _Optional[int] = ...) -> None: ...

class ArchiveAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class AgentTool(_message.Message):
    __slots__ = ("agent_id", "tool_id", "tool_name", "tool_description", "priority", "create_time")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    tool_id: str
    tool_name: str
    tool_description: str
    priority: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, agent_id: _Optional[str] = ..., tool_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., tool_description: _Optional[str] = ..., priority: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetAgentToolRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "tool_id", "priority")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    tool_id: str
    priority: int
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., tool_id: _Optional[str] = ..., priority: _Optional[int] = ...) -> None: ...

class SetAgentToolResponse(_message.Message):
    __slots__ = ("agent_tool",)
    AGENT_TOOL_FIELD_NUMBER: _ClassVar[int]
    agent_tool: AgentTool
    def __init__(self, agent_tool: _Optional[_Union[AgentTool, _Mapping]] = ...) -> None: ...

class RemoveAgentToolRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "tool_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    tool_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., tool_id: _Optional[str] = ...) -> None: ...

class RemoveAgentToolResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgentToolsRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentToolsResponse(_message.Message):
    __slots__ = ("agent_tools", "next_page_token")
    AGENT_TOOLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_tools: _containers.RepeatedCompositeFieldContainer[AgentTool]
    next_page_token: str
    def __init__(self, agent_tools: _Optional[_Iterable[_Union[AgentTool, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RecordAgentUsageRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "tokens_used", "request_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOKENS_USED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    tokens_used: int
    request_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., tokens_used: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordAgentUsageResponse(_message.Message):
    __slots__ = ("totals",)
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    totals: AgentTotals
    def __init__(self, totals: _Optional[_Union[AgentTotals, _Mapping]] = ...) -> None: ...
