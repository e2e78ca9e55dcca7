"""Memory entries between their rows and their protobuf messages."""

from __future__ import annotations

from quarterdeck.tooling.v1 import memory_pb2 as pb
from services.tooling.memory.models import MemoryEntryRecord, MemoryScope, MemorySource
from shared.json_values import python_to_value
from shared.timestamps import to_timestamp

SCOPE_TO_PROTO = {
    MemoryScope.GLOBAL: pb.MEMORY_SCOPE_GLOBAL,
    MemoryScope.PROJECT: pb.MEMORY_SCOPE_PROJECT,
    MemoryScope.SESSION: pb.MEMORY_SCOPE_SESSION,
    MemoryScope.USER: pb.MEMORY_SCOPE_USER,
}
#: Keyed by the number as it comes off the wire (a plain int).
SCOPE_FROM_PROTO: dict[int, MemoryScope] = {v: k for k, v in SCOPE_TO_PROTO.items()}
SOURCE_TO_PROTO = {
    MemorySource.USER: pb.MEMORY_SOURCE_USER,
    MemorySource.ASSISTANT: pb.MEMORY_SOURCE_ASSISTANT,
    MemorySource.SYSTEM: pb.MEMORY_SOURCE_SYSTEM,
}
SOURCE_FROM_PROTO = {v: k for k, v in SOURCE_TO_PROTO.items()}


def entry_to_proto(row: MemoryEntryRecord) -> pb.MemoryEntry:
    return pb.MemoryEntry(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        scope=SCOPE_TO_PROTO[row.scope],
        scope_key=row.scope_key,
        key=row.key,
        value=python_to_value(row.value),
        confidence=row.confidence,
        source=SOURCE_TO_PROTO[row.source],
        conversation_id=row.conversation_id or "",
        session_key=row.session_key or "",
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )
