"""Tool calls: the resource, mapped from its message, and the bodies of running and denying one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from google.protobuf.struct_pb2 import Struct
from pydantic import Field

from quarterdeck.tooling.v1 import executions_pb2 as pb
from services.gateway.proto_json import JsonObject, Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct

ToolCallStateName = Literal["started", "ok", "error", "timeout", "pending_approval", "denied"]


class ToolCall(
    ProtoModel,
    message=pb.ToolCall,
    nullable=("decide_time", "run_id", "conversation_id", "decided_by", "deny_reason"),
):
    """One call of a tool by an agent, with its result."""

    state: ToolCallStateName = Field(
        description="started, ok, error (failed or refused before it ran), timeout, "
        "pending_approval (waiting for a tenant admin) or denied."
    )
    result: Any = Field(
        description="The result, shaped by the tool's output format; null unless ok."
    )
    error: str = Field(description="Why the call failed, was refused or timed out.")
    error_reason: str = Field(description='A stable code for error, such as "EGRESS_DENIED".')
    agent_config_version: int = Field(description="The agent's config_version the call ran with.")
    decide_time: datetime | None = Field(description="When the call was approved or denied.")


class ToolCallList(ProtoModel, message=pb.ListToolCallsResponse):
    tool_calls: list[ToolCall] = Field(description="Newest first.")
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class ExecuteToolBody(RequestBody):
    arguments: JsonObject = Field(
        default_factory=dict, description="Checked against the tool's input_schema."
    )
    run_id: Text = Field(default="", max_length=64, description="The run the call belongs to.")
    conversation_id: Text = Field(default="", max_length=64, description="The conversation.")

    def arguments_struct(self) -> Struct:
        return dict_to_struct(self.arguments)


class DenyToolCallBody(RequestBody):
    reason: Text = Field(default="", max_length=1000, description="Why the call is refused.")
