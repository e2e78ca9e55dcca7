"""``/v1/runs`` and a conversation's runs: REST over RunService, one gRPC call per request.

A tenant's viewers read runs, its members cancel them, its admins approve or deny the tool call
a run awaits (the conversation service's rule); the tenant is the caller's token's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from quarterdeck.conversation.v1 import runs_pb2 as pb
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from services.gateway.runs.schemas import (
    CancelRunBody,
    DenyToolCallBody,
    Run,
    RunList,
    RunStatusName,
    TaskList,
    run_status_value,
)

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=ERROR_RESPONSES)
conversation_runs = APIRouter(prefix="/v1/conversations", tags=["runs"], responses=ERROR_RESPONSES)


@conversation_runs.get("/{conversation_id}/runs")
async def list_runs(
    conversation_id: str,
    clients: Clients,
    status: Annotated[RunStatusName | None, Query(description="Only this status.")] = None,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> RunList:
    """The conversation's runs, newest first."""
    reply = await clients.runs.ListRuns(
        pb.ListRunsRequest(
            conversation_id=conversation_id,
            status=run_status_value(status),
            page_size=page_size,
            page_token=page_token,
        )
    )
    return RunList.from_proto(reply)


@router.get("/{run_id}")
async def get_run(run_id: str, clients: Clients) -> Run:
    reply = await clients.runs.GetRun(pb.GetRunRequest(run_id=run_id))
    return Run.from_proto(reply.run)


@router.get("/{run_id}/tasks")
async def list_run_tasks(
    run_id: str, clients: Clients, page_size: PageSize = 0, page_token: PageToken = ""
) -> TaskList:
    """The run's task records (seed 002 agent_tasks), oldest first: the run's own (its status,
    retries, duration, tokens and cost), then the subtasks it did on the side, such as the
    compaction of the conversation's history, each naming the run's task in parent_task_id."""
    reply = await clients.runs.ListRunTasks(
        pb.ListRunTasksRequest(run_id=run_id, page_size=page_size, page_token=page_token)
    )
    return TaskList.from_proto(reply)


@router.post("/{run_id}:cancel")
async def cancel_run(run_id: str, clients: Clients, body: CancelRunBody | None = None) -> Run:
    """Stop a queued or running run (members); cancelling a finished run changes nothing and
    answers it as it is."""
    reply = await clients.runs.CancelRun(
        pb.CancelRunRequest(run_id=run_id, reason=body.reason if body else "")
    )
    return Run.from_proto(reply.run)


@router.post("/{run_id}/tool-calls/{tool_call_id}:approve")
async def approve_tool_call(run_id: str, tool_call_id: str, clients: Clients) -> Run:
    """Approve the tool call the run awaits (its id is in the run.requires_action event), so the
    run carries on and the tool runs (admins). Answers the run, queued again."""
    reply = await clients.runs.DecideToolCall(
        pb.DecideToolCallRequest(
            run_id=run_id, tool_call_id=tool_call_id, decision=pb.TOOL_CALL_DECISION_APPROVE
        )
    )
    return Run.from_proto(reply.run)


@router.post("/{run_id}/tool-calls/{tool_call_id}:deny")
async def deny_tool_call(
    run_id: str, tool_call_id: str, clients: Clients, body: DenyToolCallBody | None = None
) -> Run:
    """Deny the tool call the run awaits: the agent is told it was denied, and why (admins).
    Answers the run, queued again."""
    reply = await clients.runs.DecideToolCall(
        pb.DecideToolCallRequest(
            run_id=run_id,
            tool_call_id=tool_call_id,
            decision=pb.TOOL_CALL_DECISION_DENY,
            reason=body.reason if body else "",
        )
    )
    return Run.from_proto(reply.run)
