"""Which agents and tools a tenant may use (seed 004 tenant_agent_permissions and
tenant_tool_permissions): the resources, mapped from their messages, and the bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from quarterdeck.tooling.v1 import permissions_pb2 as pb
from services.gateway.proto_json import Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody


class AgentPermission(ProtoModel, message=pb.AgentPermission, nullable=("output_override_id",)):
    output_override_id: str | None = Field(
        description="An output format overriding the agent's own; null for none."
    )


class ToolPermission(ProtoModel, message=pb.ToolPermission, nullable=("create_time",)):
    enabled: bool = Field(description="false also when the tenant was never granted the tool.")
    create_time: datetime | None = Field(description="null when the tenant has no permission.")


class AgentPermissionList(ProtoModel, message=pb.ListAgentPermissionsResponse):
    permissions: list[AgentPermission] = Field(description="By agent id.")
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class ToolPermissionList(ProtoModel, message=pb.ListToolPermissionsResponse):
    permissions: list[ToolPermission] = Field(
        description="One per active tool the tenant can see, by tool id (seed 004 Query 3)."
    )


class Grants(ProtoModel, message=pb.GrantAgentsResponse):
    agent_permissions: list[AgentPermission]
    tool_permissions: list[ToolPermission] = Field(
        description="Derived from the tools the agents are offered."
    )


class SetAgentPermissionBody(RequestBody):
    enabled: bool
    output_override_id: Text = Field(
        default="", description="An output format overriding the agent's own; empty for none."
    )


class SetToolPermissionBody(RequestBody):
    enabled: bool


class GrantAgentsBody(RequestBody):
    agent_ids: list[Text] = Field(description="The agents to enable, each once.")
