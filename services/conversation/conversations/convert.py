"""Conversations between their rows and their protobuf messages."""

from __future__ import annotations

from quarterdeck.conversation.v1 import conversations_pb2 as pb
from services.conversation.conversations.models import ConversationRecord, ConversationStatus
from services.conversation.events.models import LedgerSegmentRecord
from shared.json_values import dict_to_struct
from shared.money import format_pico
from shared.timestamps import to_timestamp

STATUS_TO_PROTO = {
    ConversationStatus.ACTIVE: pb.CONVERSATION_STATUS_ACTIVE,
    ConversationStatus.ARCHIVED: pb.CONVERSATION_STATUS_ARCHIVED,
}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}

#: (proto field of MemoryStrategy, column) of the optional memory settings.
MEMORY_FIELDS = (
    ("max_turns", "memory_max_turns"),
    ("keep_last_turns", "memory_keep_last_turns"),
    ("compact_trigger_turns", "memory_compact_trigger_turns"),
    ("compact_keep", "memory_compact_keep"),
    ("clear_tool_inputs", "memory_clear_tool_inputs"),
    ("injection", "memory_injection"),
)


def memory_to_proto(row: ConversationRecord) -> pb.MemoryStrategy:
    memory = pb.MemoryStrategy(strategy=row.memory_strategy or "")
    for name, column in MEMORY_FIELDS:
        value = getattr(row, column)
        if value is not None:
            setattr(memory, name, value)
    return memory


def conversation_to_proto(row: ConversationRecord) -> pb.Conversation:
    return pb.Conversation(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        conversation_key=row.conversation_key,
        user_id=row.user_id or "",
        agent_id=str(row.agent_id) if row.agent_id else "",
        agent_entrypoint=row.agent_entrypoint,
        active_agent=row.active_agent or "",
        status=STATUS_TO_PROTO[row.status],
        display_name=row.display_name or "",
        topic_hint=row.topic_hint or "",
        source_channel=row.source_channel or "",
        session_key=row.session_key or "",
        thread_id=row.thread_id or "",
        provider=row.provider or "",
        model=row.model or "",
        provider_conversation_id=row.provider_conversation_id or "",
        memory=memory_to_proto(row),
        metadata=dict_to_struct(row.extra_metadata),
        client_version=row.client_version or "",
        message_count=row.message_count,
        handoff_count=row.handoff_count,
        usage=pb.ConversationUsage(
            prompt_tokens=row.total_tokens_prompt,
            completion_tokens=row.total_tokens_completion,
            reasoning_tokens=row.reasoning_tokens,
            cached_input_tokens=row.total_cached_input_tokens,
            total_tokens=row.total_tokens,
            requests=row.total_requests,
            cost_usd=format_pico(row.cost_picos),
        ),
        last_run_id=row.last_run_id or "",
        last_event_sequence=row.last_event_sequence,
        version=row.version,
        last_message_time=to_timestamp(row.last_message_at),
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


def segment_to_proto(row: LedgerSegmentRecord) -> pb.LedgerSegment:
    segment = pb.LedgerSegment(
        id=str(row.id),
        segment_index=row.segment_index,
        parent_segment_id=str(row.parent_segment_id) if row.parent_segment_id else "",
        create_time=to_timestamp(row.created_at),
    )
    if row.visible_through_message_position is not None:
        segment.visible_through_message_position = row.visible_through_message_position
    if row.visible_through_event_id is not None:
        segment.visible_through_event_id = row.visible_through_event_id
    return segment
