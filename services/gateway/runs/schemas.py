"""Runs (mapped from their messages) and the bodies of the run routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quarterdeck.conversation.v1 import runs_pb2 as pb
from services.gateway.proto_json import Text
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.schemas import RequestBody

RunStatusName = Literal["queued", "running", "requires_action", "completed", "failed", "cancelled"]
TaskStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
MultitaskStrategyName = Literal["reject", "enqueue", "interrupt"]


def run_status_value(name: RunStatusName | None) -> pb.RunStatus:
    return enum_number(pb.RunStatus, name)


def strategy_value(name: MultitaskStrategyName | None) -> pb.MultitaskStrategy:
    return enum_number(pb.MultitaskStrategy, name)


class RunError(ProtoModel, message=pb.RunError):
    reason: str = Field(description="A stable reason in UPPER_SNAKE_CASE (PROVIDER_ERROR...).")


class RunUsage(ProtoModel, message=pb.RunUsage):
    cost_usd: str = Field(
        description="What the run's model calls cost so far, as tenancy priced each: a decimal "
        "string of USD with twelve fractional digits, never a float."
    )


class Run(
    ProtoModel,
    message=pb.Run,
    nullable=(
        "segment_id",
        "created_by_user_id",
        "error",
        "trace_id",
        "start_time",
        "complete_time",
        "cancel_time",
    ),
):
    status: RunStatusName = Field(
        description="queued, running, requires_action (a tool call awaits an admin's decision), "
        "completed, failed (error says why) or cancelled."
    )
    trace_id: str | None = Field(
        description="The trace of the run's spans and usage (32 hex digits), null until it ran."
    )


class RunList(ProtoModel, message=pb.ListRunsResponse):
    next_page_token: str = Field(description="The token of the next page; empty on the last.")


class AgentTask(
    ProtoModel,
    message=pb.AgentTask,
    nullable=("input", "output", "error_message", "start_time", "complete_time"),
):
    parent_task_id: str | None = Field(
        description="The run's own task this is a subtask of (a compaction of the "
        "conversation's history); null for a run's own task."
    )
    status: TaskStatusName = Field(
        description="pending (queued, or awaiting a tool call's approval), running, completed, "
        "failed (error_message says why) or cancelled."
    )
    cost_usd: str = Field(
        description="What its model calls cost, as tenancy priced each: a decimal string of USD "
        "with twelve fractional digits, never a float (a run's task counts its subtasks' too)."
    )


class TaskList(ProtoModel, message=pb.ListRunTasksResponse):
    next_page_token: str = Field(description="The token of the next page; empty on the last.")


class CancelRunBody(RequestBody):
    reason: Text = Field(default="", max_length=500, description="Why; kept with the run.")


class DenyToolCallBody(RequestBody):
    reason: Text = Field(
        default="", max_length=500, description="Why; the agent is told the call was denied."
    )
