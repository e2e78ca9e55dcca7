"""Runs between their rows and their protobuf messages."""

from __future__ import annotations

from quarterdeck.conversation.v1 import runs_pb2 as pb
from services.conversation.runs.models import AgentTaskRecord, RunRecord, RunStatus, TaskStatus
from shared.json_values import dict_to_struct
from shared.money import format_pico
from shared.timestamps import to_timestamp

STATUS_TO_PROTO = {
    RunStatus.QUEUED: pb.RUN_STATUS_QUEUED,
    RunStatus.RUNNING: pb.RUN_STATUS_RUNNING,
    RunStatus.REQUIRES_ACTION: pb.RUN_STATUS_REQUIRES_ACTION,
    RunStatus.COMPLETED: pb.RUN_STATUS_COMPLETED,
    RunStatus.FAILED: pb.RUN_STATUS_FAILED,
    RunStatus.CANCELLED: pb.RUN_STATUS_CANCELLED,
}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}
TASK_STATUS_TO_PROTO = {
    TaskStatus.PENDING: pb.TASK_STATUS_PENDING,
    TaskStatus.RUNNING: pb.TASK_STATUS_RUNNING,
    TaskStatus.COMPLETED: pb.TASK_STATUS_COMPLETED,
    TaskStatus.FAILED: pb.TASK_STATUS_FAILED,
    TaskStatus.CANCELLED: pb.TASK_STATUS_CANCELLED,
}
STRATEGY_FROM_PROTO = {
    pb.MULTITASK_STRATEGY_UNSPECIFIED: "enqueue",
    pb.MULTITASK_STRATEGY_ENQUEUE: "enqueue",
    pb.MULTITASK_STRATEGY_REJECT: "reject",
    pb.MULTITASK_STRATEGY_INTERRUPT: "interrupt",
    pb.MULTITASK_STRATEGY_ROLLBACK: "rollback",
}


#: A run's usage before its first model call.
NO_USAGE = pb.RunUsage(cost_usd=format_pico(0))


def usage_to_proto(
    calls: int,
    input_tokens: int,
    output_tokens: int,
    total_tokens: int,
    cached_input_tokens: int,
    reasoning_tokens: int,
    cost_picos: int,
) -> pb.RunUsage:
    return pb.RunUsage(
        model_calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens,
        cached_input_tokens=cached_input_tokens,
        reasoning_tokens=reasoning_tokens,
        cost_usd=format_pico(cost_picos),
    )


def run_to_proto(row: RunRecord, usage: pb.RunUsage | None = None) -> pb.Run:
    error = row.error_json
    return pb.Run(
        id=str(row.run_id),
        tenant_id=str(row.tenant_id),
        conversation_id=str(row.conversation_id),
        segment_id=str(row.segment_id) if row.segment_id else "",
        created_by_user_id=row.created_by_user_id or "",
        status=STATUS_TO_PROTO[row.status],
        attempt_count=row.attempt_count,
        max_attempts=row.max_attempts,
        message_position=row.message_position or 0,
        payload=dict_to_struct(row.payload_json),
        error=(
            pb.RunError(
                reason=str(error.get("reason", "")),
                message=str(error.get("message", "")),
                details=dict_to_struct(error.get("details")),
            )
            if error
            else None
        ),
        trace_id=row.trace_id or "",
        create_time=to_timestamp(row.created_at),
        start_time=to_timestamp(row.started_at),
        complete_time=to_timestamp(row.completed_at),
        cancel_time=to_timestamp(row.cancelled_at),
        usage=usage or NO_USAGE,
    )


def task_to_proto(row: AgentTaskRecord) -> pb.AgentTask:
    return pb.AgentTask(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        run_id=str(row.run_id),
        conversation_id=str(row.conversation_id),
        parent_task_id=str(row.parent_task_id) if row.parent_task_id else "",
        agent_id=row.agent_id,
        task_type=row.task_type,
        description=row.description,
        status=TASK_STATUS_TO_PROTO[row.status],
        input=dict_to_struct(row.input_data),
        output=dict_to_struct(row.output_data),
        error_message=row.error_message or "",
        retry_count=row.retry_count,
        duration_ms=row.duration_ms or 0,
        tokens_used=row.tokens_used,
        cost_usd=format_pico(row.cost_picos),
        metadata=dict_to_struct(row.task_metadata),
        create_time=to_timestamp(row.created_at),
        start_time=to_timestamp(row.started_at),
        complete_time=to_timestamp(row.completed_at),
    )
