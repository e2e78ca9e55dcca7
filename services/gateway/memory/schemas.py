"""What agents remember (seed 003 ai_memory, seed 000 human_context): the entry, mapped from its
message, and the body that stores one."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from quarterdeck.tooling.v1 import memory_pb2 as pb
from services.gateway.proto_json import JsonValue, Text
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.schemas import RequestBody
from shared.json_values import python_to_value

MemoryScopeName = Literal["global", "project", "session", "user"]
MemorySourceName = Literal["user", "assistant", "system"]


def scope_value(name: MemoryScopeName | None) -> pb.MemoryScope:
    return enum_number(pb.MemoryScope, name)


class MemoryEntry(ProtoModel, message=pb.MemoryEntry):
    scope_key: str = Field(
        description="What the scope applies to (a project, session or user id); empty for the "
        "global scope."
    )
    value: Any = Field(description="Any JSON value.")
    confidence: int = Field(description="How sure the writer is, 0 to 100.")


class StoredMemory(ProtoModel, message=pb.UpsertMemoryResponse):
    created: bool = Field(description="Whether the entry was new (false: it was replaced).")


class MemoryList(ProtoModel, message=pb.ListMemoriesResponse):
    entries: list[MemoryEntry] = Field(description="Most recently updated first.")
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class MemorySearchResult(ProtoModel, message=pb.SearchMemoriesResponse):
    entries: list[MemoryEntry] = Field(description="Matching entries, most recently updated first.")


class UpsertMemoryBody(RequestBody):
    """The value to store under the key, replacing the one there."""

    value: JsonValue = Field(description="Any JSON value (at most 256 KiB).")
    confidence: int = Field(default=50, ge=0, le=100, description="0 to 100.")
    source: MemorySourceName = "assistant"
    conversation_id: Text = Field(default="", max_length=64)
    session_key: Text = Field(default="", max_length=255)

    def to_proto(
        self, tenant_id: str, scope: MemoryScopeName, scope_key: str, key: str
    ) -> pb.UpsertMemoryRequest:
        return pb.UpsertMemoryRequest(
            entry=pb.MemoryEntry(
                tenant_id=tenant_id,
                scope=scope_value(scope),
                scope_key=scope_key,
                key=key,
                value=python_to_value(self.value),
                confidence=self.confidence,
                source=enum_number(pb.MemorySource, self.source),
                conversation_id=self.conversation_id,
                session_key=self.session_key,
            )
        )
