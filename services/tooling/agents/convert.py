"""Agents between their rows and their protobuf messages, and the configuration hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from quarterdeck.tooling.v1 import agents_pb2 as pb
from services.tooling.agents.models import (
    POLICY_COLUMNS,
    AgentRecord,
    AgentStatus,
    AgentToolRecord,
    SafetyLevel,
)
from services.tooling.tools.models import ToolConfigRecord
from shared.json_values import dict_to_struct
from shared.timestamps import to_timestamp

STATUS_TO_PROTO = {
    AgentStatus.ACTIVE: pb.AGENT_STATUS_ACTIVE,
    AgentStatus.INACTIVE: pb.AGENT_STATUS_INACTIVE,
    AgentStatus.PAUSED: pb.AGENT_STATUS_PAUSED,
    AgentStatus.MAINTENANCE: pb.AGENT_STATUS_MAINTENANCE,
    AgentStatus.ARCHIVED: pb.AGENT_STATUS_ARCHIVED,
}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}
SAFETY_TO_PROTO = {
    SafetyLevel.STRICT: pb.SAFETY_LEVEL_STRICT,
    SafetyLevel.MODERATE: pb.SAFETY_LEVEL_MODERATE,
    SafetyLevel.PERMISSIVE: pb.SAFETY_LEVEL_PERMISSIVE,
}
SAFETY_FROM_PROTO = {v: k for k, v in SAFETY_TO_PROTO.items()}

#: The columns that make up an agent's configuration (hashed; a change bumps config_version).
CONFIG_COLUMNS = (
    "name",
    "role_name",
    "description",
    "status",
    "mode",
    "safety_level",
    "tenant_scope",
    "allowed_tenants",
    "blocked_tenants",
    "auth_strategy",
    "required_roles",
    "requires_human_approval",
    *POLICY_COLUMNS.values(),
    "mcp_services",
    "telemetry_enabled",
    "model",
    "llm_model_id",
    "prompt_template",
    "default_output_format_id",
    "handler_class",
    "specialties",
    "backstory",
    "personality_emoji",
    "notes",
    "extra_metadata",
)


def config_hash(row: AgentRecord) -> str:
    config: dict[str, Any] = {column: getattr(row, column) for column in CONFIG_COLUMNS}
    encoded = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def agent_to_proto(row: AgentRecord) -> pb.Agent:
    policies = pb.AgentPolicies(
        **{name: dict_to_struct(getattr(row, column)) for name, column in POLICY_COLUMNS.items()}
    )
    return pb.Agent(
        id=str(row.id),
        tenant_id=_text(row.tenant_id),
        is_global=row.is_global,
        name=row.name,
        role_name=row.role_name,
        description=_text(row.description),
        status=STATUS_TO_PROTO[row.status],
        mode=row.mode,
        safety_level=SAFETY_TO_PROTO[row.safety_level],
        tenant_scope=row.tenant_scope,
        allowed_tenant_ids=row.allowed_tenants,
        blocked_tenant_ids=row.blocked_tenants,
        auth_strategy=_text(row.auth_strategy),
        required_roles=row.required_roles,
        requires_human_approval=row.requires_human_approval,
        policies=policies,
        mcp_services=row.mcp_services,
        telemetry_enabled=row.telemetry_enabled,
        model=_text(row.model),
        llm_model_id=_text(row.llm_model_id),
        prompt_template=_text(row.prompt_template),
        default_output_format_id=_text(row.default_output_format_id),
        handler_class=_text(row.handler_class),
        specialties=row.specialties,
        backstory=_text(row.backstory),
        personality_emoji=_text(row.personality_emoji),
        notes=_text(row.notes),
        metadata=dict_to_struct(row.extra_metadata),
        contacts=pb.AgentContacts(
            owner_user_id=_text(row.owner_user_id),
            user_email=_text(row.user_email),
            additional_alert_emails=row.additional_alert_emails,
            backup_user_email=_text(row.backup_user_email),
            alert_escalation_email=_text(row.alert_escalation_email),
        ),
        is_active=row.is_active,
        config_version=row.config_version,
        config_hash=row.config_hash,
        totals=agent_totals(row),
        last_health_check_time=to_timestamp(row.last_health_check_at),
        last_run_time=to_timestamp(row.last_run_at),
        last_error=_text(row.last_error),
        created_by=row.created_by,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


class _Totals(Protocol):
    @property
    def total_tasks_completed(self) -> int: ...
    @property
    def total_tokens_used(self) -> int: ...
    @property
    def average_latency_ms(self) -> float: ...
    @property
    def success_rate(self) -> float: ...


def agent_totals(row: _Totals) -> pb.AgentTotals:
    """An agent's running totals, from its row or from a statement returning those columns."""
    return pb.AgentTotals(
        tasks_completed=row.total_tasks_completed,
        tokens_used=row.total_tokens_used,
        average_latency_ms=row.average_latency_ms,
        success_rate=row.success_rate,
    )


def agent_tool_to_proto(link: AgentToolRecord, tool: ToolConfigRecord) -> pb.AgentTool:
    return pb.AgentTool(
        agent_id=str(link.agent_id),
        tool_id=str(link.tool_id),
        tool_name=tool.name,
        tool_description=_text(tool.description),
        priority=link.priority,
        create_time=to_timestamp(link.created_at),
    )
