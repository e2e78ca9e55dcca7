"""Tool calls between their rows and their protobuf messages."""

from __future__ import annotations

from quarterdeck.tooling.v1 import executions_pb2 as pb
from services.tooling.executions.models import ToolCallRecord, ToolCallStatus, ToolResultRecord
from shared.json_values import dict_to_struct, python_to_value
from shared.timestamps import to_timestamp

STATE_TO_PROTO = {
    ToolCallStatus.STARTED: pb.TOOL_CALL_STATE_STARTED,
    # Approved and about to run: to the caller it has started.
    ToolCallStatus.APPROVED: pb.TOOL_CALL_STATE_STARTED,
    ToolCallStatus.OK: pb.TOOL_CALL_STATE_OK,
    ToolCallStatus.ERROR: pb.TOOL_CALL_STATE_ERROR,
    ToolCallStatus.TIMEOUT: pb.TOOL_CALL_STATE_TIMEOUT,
    ToolCallStatus.PENDING_APPROVAL: pb.TOOL_CALL_STATE_PENDING_APPROVAL,
    ToolCallStatus.DENIED: pb.TOOL_CALL_STATE_DENIED,
}
STATE_FROM_PROTO = {
    pb.TOOL_CALL_STATE_STARTED: ToolCallStatus.STARTED,
    pb.TOOL_CALL_STATE_OK: ToolCallStatus.OK,
    pb.TOOL_CALL_STATE_ERROR: ToolCallStatus.ERROR,
    pb.TOOL_CALL_STATE_TIMEOUT: ToolCallStatus.TIMEOUT,
    pb.TOOL_CALL_STATE_PENDING_APPROVAL: ToolCallStatus.PENDING_APPROVAL,
    pb.TOOL_CALL_STATE_DENIED: ToolCallStatus.DENIED,
}


def tool_call_to_proto(call: ToolCallRecord, result: ToolResultRecord | None) -> pb.ToolCall:
    message = pb.ToolCall(
        id=str(call.id),
        tenant_id=str(call.tenant_id),
        agent_id=str(call.agent_id),
        agent_config_version=call.agent_config_version,
        tool_id=str(call.tool_id),
        tool_name=call.tool_name,
        run_id=call.run_id or "",
        conversation_id=call.conversation_id or "",
        state=STATE_TO_PROTO[call.status],
        arguments=dict_to_struct(call.args),
        error=call.error or "",
        error_reason=call.error_reason or "",
        latency_ms=call.latency_ms or 0,
        trace_id=call.trace_id or "",
        span_id=call.span_id or "",
        decided_by=call.decided_by or "",
        decide_time=to_timestamp(call.decided_at),
        deny_reason=call.deny_reason or "",
        create_time=to_timestamp(call.created_at),
        update_time=to_timestamp(call.updated_at),
    )
    if result is not None and call.status is ToolCallStatus.OK:
        message.result.CopyFrom(python_to_value(result.result_data))
    return message
