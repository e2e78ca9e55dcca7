"""Messages between their rows and their protobuf messages."""

from __future__ import annotations

from typing import Any

from quarterdeck.conversation.v1 import messages_pb2 as pb
from services.conversation.messages.models import MessageRecord, MessageRole
from shared.json_values import dict_to_struct, python_to_value
from shared.money import format_pico
from shared.timestamps import to_timestamp

ROLE_TO_PROTO = {
    MessageRole.SYSTEM: pb.MESSAGE_ROLE_SYSTEM,
    MessageRole.USER: pb.MESSAGE_ROLE_USER,
    MessageRole.ASSISTANT: pb.MESSAGE_ROLE_ASSISTANT,
    MessageRole.TOOL: pb.MESSAGE_ROLE_TOOL,
}
ROLE_FROM_PROTO = {v: k for k, v in ROLE_TO_PROTO.items()}


def text_of(content: Any) -> str:
    """The searchable text of structured content: every string under a "text" key, in order."""
    if isinstance(content, str):
        return content
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "text" and isinstance(item, str):
                    parts.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(content)
    return "\n".join(parts)


def message_to_proto(row: MessageRecord) -> pb.Message:
    message = pb.Message(
        id=str(row.id),
        conversation_id=str(row.conversation_id),
        position=row.position,
        segment_id=str(row.segment_id),
        role=ROLE_TO_PROTO[row.role],
        text=row.content_text,
        content=python_to_value(row.content),
        agent_type=row.agent_type or "",
        tool_name=row.tool_name or "",
        tool_call_id=row.tool_call_id or "",
        tokens=pb.MessageTokens(
            prompt=row.token_count_prompt or 0,
            completion=row.token_count_completion or 0,
            reasoning=row.reasoning_tokens or 0,
        ),
        cost_usd=format_pico(row.cost_picos),
        latency_ms=row.latency_ms or 0,
        content_checksum=row.content_checksum or "",
        run_id=row.run_id or "",
        metadata=dict_to_struct(row.extra_metadata),
        create_time=to_timestamp(row.created_at),
    )
    message.attachments.extend(row.attachments or [])
    return message
