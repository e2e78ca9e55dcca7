"""MemoryService: what agents remember, one JSON value per tenant, scope, scope key and key.
Members write their tenant's memory; viewers read it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from quarterdeck.tooling.v1 import memory_pb2 as pb
from services.tooling.access import acting_tenant
from services.tooling.context import ToolingContext
from services.tooling.memory.convert import SCOPE_FROM_PROTO, SOURCE_FROM_PROTO, entry_to_proto
from services.tooling.memory.models import (
    DEFAULT_CONFIDENCE,
    MemoryEntryRecord,
    MemoryScope,
    MemorySource,
)
from services.tooling.validation import Violations
from shared.db import rows_matched
from shared.db_types import utcnow
from shared.errors import Aborted, InvalidArgument, NotFound
from shared.json_values import json_problem, value_to_python
from shared.pagination import fetch_page

MAX_KEY = 255
MAX_VALUE_BYTES = 256 * 1024
MAX_QUERY = 200


def _scope(value: int, field: str = "scope") -> MemoryScope:
    scope = SCOPE_FROM_PROTO.get(value)
    if scope is None:
        raise InvalidArgument.field(field, "must be global, project, session or user")
    return scope


def _key_filters(
    tenant: uuid.UUID, scope: MemoryScope, scope_key: str, key: str
) -> list[ColumnElement[bool]]:
    return [
        MemoryEntryRecord.tenant_id == tenant,
        MemoryEntryRecord.scope == scope,
        MemoryEntryRecord.scope_key == scope_key,
        MemoryEntryRecord.key == key,
    ]


class MemoryHandlers:
    def __init__(self, ctx: ToolingContext) -> None:
        self._ctx = ctx

    async def upsert_memory(self, request: pb.UpsertMemoryRequest) -> pb.UpsertMemoryResponse:
        entry = request.entry
        tenant = acting_tenant(entry.tenant_id, "member")
        scope = _scope(entry.scope, "entry.scope")
        violations = Violations()
        violations.text("entry.key", entry.key, MAX_KEY, required=True)
        violations.text("entry.scope_key", entry.scope_key, MAX_KEY)
        if scope is MemoryScope.GLOBAL and entry.scope_key:
            violations.add("entry.scope_key", "must be empty for the global scope")
        if scope is not MemoryScope.GLOBAL and not entry.scope_key:
            violations.add("entry.scope_key", f"is required for the {scope.value} scope")
        if not entry.HasField("value"):
            violations.add("entry.value", "is required")
        else:
            violations.add("entry.value", json_problem(entry.value, MAX_VALUE_BYTES))
        confidence = entry.confidence if entry.HasField("confidence") else DEFAULT_CONFIDENCE
        if not 0 <= confidence <= 100:
            violations.add("entry.confidence", "must be 0 to 100")
        source = (
            MemorySource.ASSISTANT
            if entry.source == pb.MEMORY_SOURCE_UNSPECIFIED
            else SOURCE_FROM_PROTO.get(entry.source)
        )
        if source is None:
            violations.add("entry.source", "must be user, assistant or system")
        violations.text("entry.conversation_id", entry.conversation_id, 64)
        violations.text("entry.session_key", entry.session_key, MAX_KEY)
        violations.raise_if_any()
        values: dict[str, Any] = {
            "value": value_to_python(entry.value),
            "confidence": confidence,
            "source": source,
            "conversation_id": entry.conversation_id or None,
            "session_key": entry.session_key or None,
        }
        filters = _key_filters(tenant, scope, entry.scope_key, entry.key)
        try:
            async with self._ctx.database.transaction() as session:
                row = await session.scalar(select(MemoryEntryRecord).where(*filters))
                created = row is None
                if row is None:
                    row = MemoryEntryRecord(
                        tenant_id=tenant, scope=scope, scope_key=entry.scope_key, key=entry.key
                    )
                    session.add(row)
                for name, value in values.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()
                await session.flush()
        except IntegrityError:
            # Another writer created the same key between our read and insert.
            raise Aborted(
                "the entry was written concurrently; retry", reason="CONCURRENT_WRITE"
            ) from None
        return pb.UpsertMemoryResponse(entry=entry_to_proto(row), created=created)

    async def get_memory(self, request: pb.GetMemoryRequest) -> pb.GetMemoryResponse:
        tenant = acting_tenant(request.tenant_id)
        scope = _scope(request.scope)
        async with self._ctx.database.reading() as session:
            row = await session.scalar(
                select(MemoryEntryRecord).where(
                    *_key_filters(tenant, scope, request.scope_key, request.key)
                )
            )
        if row is None:
            raise NotFound(f"no memory under {request.key!r}", reason="MEMORY_NOT_FOUND")
        return pb.GetMemoryResponse(entry=entry_to_proto(row))

    async def list_memories(self, request: pb.ListMemoriesRequest) -> pb.ListMemoriesResponse:
        tenant = acting_tenant(request.tenant_id)
        scope = _scope(request.scope)
        statement = select(MemoryEntryRecord).where(
            MemoryEntryRecord.tenant_id == tenant, MemoryEntryRecord.scope == scope
        )
        if request.scope_key:
            statement = statement.where(MemoryEntryRecord.scope_key == request.scope_key)
        if request.session_key:
            statement = statement.where(MemoryEntryRecord.session_key == request.session_key)
        return pb.ListMemoriesResponse(
            **await self._page(
                statement,
                "tooling.ListMemories",
                {
                    "tenant": str(tenant),
                    "scope": scope.value,
                    "scope_key": request.scope_key,
                    "session": request.session_key,
                },
                request.page_size,
                request.page_token,
            )
        )

    async def delete_memory(self, request: pb.DeleteMemoryRequest) -> pb.DeleteMemoryResponse:
        tenant = acting_tenant(request.tenant_id, "member")
        scope = _scope(request.scope)
        async with self._ctx.database.transaction() as session:
            result = await session.execute(
                delete(MemoryEntryRecord).where(
                    *_key_filters(tenant, scope, request.scope_key, request.key)
                )
            )
        if not rows_matched(result):
            raise NotFound(f"no memory under {request.key!r}", reason="MEMORY_NOT_FOUND")
        return pb.DeleteMemoryResponse()

    async def search_memories(self, request: pb.SearchMemoriesRequest) -> pb.SearchMemoriesResponse:
        tenant = acting_tenant(request.tenant_id)
        query = request.query.strip()
        if not query:
            raise InvalidArgument.field("query", "is required")
        if len(query) > MAX_QUERY:
            raise InvalidArgument.field("query", f"must be at most {MAX_QUERY} characters")
        needle = query.lower()
        statement = select(MemoryEntryRecord).where(
            MemoryEntryRecord.tenant_id == tenant,
            or_(
                func.lower(MemoryEntryRecord.key).contains(needle, autoescape=True),
                func.lower(cast(MemoryEntryRecord.value, String)).contains(needle, autoescape=True),
            ),
        )
        filters: dict[str, Any] = {"tenant": str(tenant), "query": query}
        if request.scope != pb.MEMORY_SCOPE_UNSPECIFIED:
            scope = _scope(request.scope)
            statement = statement.where(MemoryEntryRecord.scope == scope)
            filters["scope"] = scope.value
        if request.scope_key:
            statement = statement.where(MemoryEntryRecord.scope_key == request.scope_key)
            filters["scope_key"] = request.scope_key
        return pb.SearchMemoriesResponse(
            **await self._page(
                statement, "tooling.SearchMemories", filters, request.page_size, request.page_token
            )
        )

    async def _page(
        self,
        statement: Any,
        query: str,
        filters: dict[str, Any],
        page_size: int,
        page_token: str,
    ) -> dict[str, Any]:
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[MemoryEntryRecord.updated_at, MemoryEntryRecord.id],
                position_of=lambda row: [row.updated_at, row.id],
                codec=self._ctx.pages,
                query=query,
                filters=filters,
                page_size=page_size,
                page_token=page_token,
                descending=True,
            )
        return {
            "entries": [entry_to_proto(row) for row in page.items],
            "next_page_token": page.next_page_token,
        }
