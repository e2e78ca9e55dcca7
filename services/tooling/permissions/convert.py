"""Tenant permissions between their rows and their protobuf messages."""

from __future__ import annotations

import uuid

from quarterdeck.tooling.v1 import permissions_pb2 as pb
from services.tooling.permissions.models import (
    TenantAgentPermissionRecord,
    TenantToolPermissionRecord,
)
from shared.timestamps import to_timestamp


def agent_permission_to_proto(
    row: TenantAgentPermissionRecord, agent_name: str = ""
) -> pb.AgentPermission:
    return pb.AgentPermission(
        tenant_id=str(row.tenant_id),
        agent_id=str(row.agent_id),
        agent_name=agent_name,
        enabled=row.enabled,
        output_override_id=str(row.output_override_id or ""),
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


def tool_permission_to_proto(
    tenant: uuid.UUID,
    tool_id: uuid.UUID,
    tool_name: str,
    row: TenantToolPermissionRecord | None,
) -> pb.ToolPermission:
    return pb.ToolPermission(
        tenant_id=str(tenant),
        tool_id=str(tool_id),
        tool_name=tool_name,
        enabled=bool(row and row.enabled),
        create_time=to_timestamp(row.created_at) if row else None,
    )
