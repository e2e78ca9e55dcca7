"""Agents and the tools they are offered: the resources, mapped from their messages, and the
bodies.

As elsewhere in the gateway: snake_case protobuf field names, RFC 3339 times in UTC, lowercase
enum names, and request bodies that refuse unknown fields. An update sends the config_version
it read; the fields it changes are those present in the body (or those named in update_mask).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import Field, field_validator

from quarterdeck.tooling.v1 import agents_pb2 as pb
from services.gateway.proto_json import INT32_MAX, INT64_MAX, JsonObject, Text, refuse_null
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct

AgentStatusName = Literal["active", "inactive", "paused", "maintenance", "archived"]
SafetyLevelName = Literal["strict", "moderate", "permissive"]

Priority = Annotated[
    int, Field(ge=0, le=INT32_MAX, description="0 or more; lower is offered first.")
]
ConfigVersion = Annotated[
    int,
    Field(
        ge=1,
        le=INT64_MAX,
        description="The config_version you read; a stale one is refused (409).",
    ),
]


class AgentPolicies(ProtoModel, message=pb.AgentPolicies):
    """Governance settings, each a JSON object (amounts in budgets as decimal strings)."""


class AgentContacts(ProtoModel, message=pb.AgentContacts):
    pass


class AgentTotals(ProtoModel, message=pb.AgentTotals):
    """Running totals the platform maintains."""


class Agent(
    ProtoModel,
    message=pb.Agent,
    nullable=("tenant_id", "last_health_check_time", "last_run_time"),
):
    tenant_id: str | None = Field(description="The owning tenant; null for a global agent.")
    is_global: bool = Field(description="Global agents are defined by platform operators.")
    is_active: bool = Field(description="Whether the agent can run (not archived nor inactive).")
    config_version: int = Field(
        description="1 on creation, bumped by every change; send it on PATCH and :archive."
    )
    config_hash: str = Field(description="The SHA-256 of the configuration.")
    last_health_check_time: datetime | None
    last_run_time: datetime | None


class AgentTool(ProtoModel, message=pb.AgentTool):
    priority: int = Field(description="Lower is offered first; the first five are offered.")


class CreatedAgent(ProtoModel, message=pb.CreateAgentResponse):
    tools: list[AgentTool] = Field(description="The tools offered, by priority.")


class AgentList(ProtoModel, message=pb.ListAgentsResponse):
    agents: list[Agent] = Field(description="Ordered by name.")
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class AgentToolList(ProtoModel, message=pb.ListAgentToolsResponse):
    agent_tools: list[AgentTool] = Field(
        description="By priority, then tool id; the first five are what the agent is offered."
    )


class PoliciesBody(RequestBody):
    """The governance policies; those left out are empty."""

    approvals: JsonObject = Field(default_factory=dict)
    integrations: JsonObject = Field(default_factory=dict)
    tool_permissions: JsonObject = Field(default_factory=dict)
    rate_limits: JsonObject = Field(default_factory=dict)
    budgets: JsonObject = Field(default_factory=dict)
    model: JsonObject = Field(default_factory=dict)
    cost: JsonObject = Field(default_factory=dict)
    pii: JsonObject = Field(default_factory=dict)
    security: JsonObject = Field(default_factory=dict)
    findings: JsonObject = Field(default_factory=dict)
    notification: JsonObject = Field(default_factory=dict)
    telemetry: JsonObject = Field(default_factory=dict)

    def to_proto(self) -> pb.AgentPolicies:
        return pb.AgentPolicies(
            **{name: dict_to_struct(getattr(self, name)) for name in type(self).model_fields}
        )


class ContactsBody(RequestBody):
    owner_user_id: Text = ""
    user_email: Text = ""
    additional_alert_emails: list[Text] = Field(default_factory=list)
    backup_user_email: Text = ""
    alert_escalation_email: Text = ""

    def to_proto(self) -> pb.AgentContacts:
        return pb.AgentContacts(**self.model_dump())


#: The Agent message's fields: a body's fields of these names are the agent's.
_AGENT_MESSAGE_FIELDS = frozenset(pb.Agent.DESCRIPTOR.fields_by_name)


class AgentFields(RequestBody):
    """The agent's settable fields; the service checks their lengths and values."""

    description: Text | None = None
    status: AgentStatusName | None = Field(default=None, description="active when created.")
    mode: Text | None = Field(default=None, description="orchestrator (the default) or worker.")
    safety_level: SafetyLevelName | None = Field(default=None, description="strict when created.")
    tenant_scope: Literal["multi_tenant", "single_tenant"] | None = Field(
        default=None, description="For a global agent; multi_tenant by default."
    )
    allowed_tenant_ids: list[Text] | None = Field(
        default=None, description="For a global agent: when not empty, only these tenants."
    )
    blocked_tenant_ids: list[Text] | None = Field(
        default=None, description="For a global agent: tenants that may not use it."
    )
    auth_strategy: Text | None = None
    required_roles: list[Text] | None = None
    requires_human_approval: bool | None = Field(
        default=None, description="Every tool call waits for a tenant admin's approval."
    )
    policies: PoliciesBody | None = None
    mcp_services: list[Text] | None = None
    telemetry_enabled: bool | None = None
    model: Text | None = Field(default=None, description="The LLM model identifier.")
    llm_model_id: Text | None = Field(default=None, description="The catalogue model's id.")
    prompt_template: Text | None = None
    default_output_format_id: Text | None = None
    handler_class: Text | None = None
    specialties: list[Text] | None = None
    backstory: Text | None = None
    personality_emoji: Text | None = None
    notes: Text | None = None
    metadata: JsonObject | None = None
    contacts: ContactsBody | None = None

    def agent(self, **fixed: Any) -> pb.Agent:
        """The message with the fields sent set (and ``fixed``)."""
        values: dict[str, Any] = dict(fixed)
        for name in self.sent_fields():
            value = getattr(self, name)
            if value is None:
                continue
            if name == "status":
                value = enum_number(pb.AgentStatus, value)
            elif name == "safety_level":
                value = enum_number(pb.SafetyLevel, value)
            elif name == "metadata":
                value = dict_to_struct(value)
            elif isinstance(value, PoliciesBody | ContactsBody):
                value = value.to_proto()
            values[name] = value
        return pb.Agent(**values)

    def sent_fields(self) -> list[str]:
        """The agent's fields present in the body, in the body's order (its update mask)."""
        return [
            name
            for name in type(self).model_fields
            if name in self.model_fields_set
            and name in _AGENT_MESSAGE_FIELDS
            and name != "config_version"
        ]


class AgentToolBody(RequestBody):
    tool_id: Text
    priority: Priority = 0


class CreateAgentBody(AgentFields):
    """A new agent, its tools, and (for a tenant's agent) the tenant's grant of it, in one
    call. Global agents (``is_global``) are for platform operators."""

    name: Text = Field(description="Unique per owner, 1 to 100 characters.")
    role_name: Text = Field(description='The agent\'s role, such as "code_review".')
    is_global: bool = Field(
        default=False, description="A global agent (platform operators); no tenant owns it."
    )
    tools: list[AgentToolBody] = Field(
        default_factory=list, description="The tools to offer it, each once."
    )

    def to_proto(self, tenant_id: str, request_id: str) -> pb.CreateAgentRequest:
        agent = self.agent(
            tenant_id="" if self.is_global else tenant_id,
            is_global=self.is_global,
            name=self.name,
            role_name=self.role_name,
        )
        return pb.CreateAgentRequest(
            agent=agent,
            tools=[
                pb.AgentToolAssignment(tool_id=tool.tool_id, priority=tool.priority)
                for tool in self.tools
            ],
            request_id=request_id,
        )


class UpdateAgentBody(AgentFields):
    """The fields to change; those left out stay as they are (unless named in update_mask)."""

    config_version: ConfigVersion
    name: Text | None = None
    role_name: Text | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return refuse_null(value)

    def to_proto(
        self, tenant_id: str, agent_id: str, update_mask: list[str] | None
    ) -> pb.UpdateAgentRequest:
        paths = update_mask if update_mask is not None else self.sent_fields()
        return pb.UpdateAgentRequest(
            agent=self.agent(id=agent_id, tenant_id=tenant_id, config_version=self.config_version),
            update_mask=FieldMask(paths=paths),
        )


class ArchiveAgentBody(RequestBody):
    config_version: int = Field(
        default=0, ge=0, le=INT64_MAX, description="The config_version you read; 0 skips the check."
    )


class SetAgentToolBody(RequestBody):
    priority: Priority = 0


CostTierName = Literal["free", "pro", "enterprise"]

Count = Annotated[int, Field(ge=0, le=INT32_MAX)]


class ExecutionLimits(ProtoModel, message=pb.ExecutionLimits):
    """The limits of an agent role at a cost tier (seed 000 agent_ai_executable_limits).
    ExecuteTool enforces the operation and tool lists, the rates per minute and the tool calls
    per day; the conversation worker enforces the model calls and tokens of its runs."""

    max_tool_calls_per_day: int | None = Field(description="null: no daily limit.")


class ExecutionLimitsList(ProtoModel, message=pb.ListExecutionLimitsResponse):
    limits: list[ExecutionLimits] = Field(description="By role, then tier.")
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class SetExecutionLimitsBody(RequestBody):
    """Every limit of the role and tier, stored as given (a count left out is 0)."""

    max_ai_calls_per_day: Count = 0
    max_tokens_per_request: Count = 0
    max_db_queries_per_minute: Count = Field(
        default=0, description="DB_QUERY tool calls per minute per agent and tenant."
    )
    max_storage_operations_per_day: Count = 0
    rate_limit_per_minute: Count = Field(
        default=0, description="Tool calls per minute per agent and tenant."
    )
    max_tool_calls_per_day: Count | None = Field(
        default=None, description="Tool calls per UTC day per agent and tenant; null for none."
    )
    allowed_operations: list[Text] = Field(
        default_factory=list,
        description="When not empty, the only operations (base tool types, such as HTTP_GET).",
    )
    blocked_operations: list[Text] = Field(default_factory=list)
    allowed_tools: list[Text] = Field(
        default_factory=list, description="When not empty, the only tools (by name)."
    )
    blocked_tools: list[Text] = Field(default_factory=list)
    notes: Text = ""

    def to_proto(self, agent_role: str, cost_tier: str) -> pb.SetExecutionLimitsRequest:
        values = self.model_dump(exclude={"max_tool_calls_per_day"})
        limits = pb.ExecutionLimits(agent_role=agent_role, cost_tier=cost_tier, **values)
        if self.max_tool_calls_per_day is not None:
            limits.max_tool_calls_per_day = self.max_tool_calls_per_day
        return pb.SetExecutionLimitsRequest(limits=limits)
