"""``/v1/memories``: what a tenant's agents remember (MemoryService), one gRPC call per request.

One JSON value per tenant, scope (global, project, session or user), scope key (the project,
session or user id; empty for the global scope) and key. A tenant's viewers read it; its members
store and delete entries. ``tenant_id`` is your token's tenant when left out; platform operators
name the tenant. A key may hold "/" ("notes/2026/q1"): everything after the scope is the key,
sent as is or with each "/" percent-encoded.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from quarterdeck.tooling.v1 import memory_pb2 as pb
from services.gateway.memory.schemas import (
    MemoryEntry,
    MemoryList,
    MemoryScopeName,
    MemorySearchResult,
    StoredMemory,
    UpsertMemoryBody,
    scope_value,
)
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken, TenantQuery

router = APIRouter(prefix="/v1/memories", tags=["memory"], responses=ERROR_RESPONSES)

Scope = Annotated[MemoryScopeName, Path(description="How widely the entry applies.")]
Key = Annotated[
    str,
    Path(max_length=255, description='The entry\'s key; it may hold "/" (the rest of the path).'),
]
ScopeKey = Annotated[
    str,
    Query(
        max_length=255,
        description="The project, session or user id the scope applies to; empty for global.",
    ),
]


@router.get("")
async def list_memories(
    scope: Annotated[MemoryScopeName, Query(description="The scope listed.")],
    clients: Clients,
    tenant_id: TenantQuery = "",
    scope_key: Annotated[
        str, Query(max_length=255, description="Only entries of this scope key.")
    ] = "",
    session_key: Annotated[
        str, Query(max_length=255, description="Only entries of this session.")
    ] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> MemoryList:
    """A scope's entries, most recently updated first (seed 003 "Memory lookup"; viewers)."""
    reply = await clients.memory.ListMemories(
        pb.ListMemoriesRequest(
            tenant_id=tenant_id,
            scope=scope_value(scope),
            scope_key=scope_key,
            session_key=session_key,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return MemoryList.from_proto(reply)


@router.get(":search")
async def search_memories(
    query: Annotated[str, Query(max_length=200, description="Text found in the key or the value.")],
    clients: Clients,
    tenant_id: TenantQuery = "",
    scope: Annotated[MemoryScopeName | None, Query(description="Only this scope.")] = None,
    scope_key: Annotated[str, Query(max_length=255, description="Only this scope key.")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> MemorySearchResult:
    """Entries whose key or value contains the text, case-insensitively (viewers)."""
    reply = await clients.memory.SearchMemories(
        pb.SearchMemoriesRequest(
            tenant_id=tenant_id,
            query=query,
            scope=scope_value(scope),
            scope_key=scope_key,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return MemorySearchResult.from_proto(reply)


@router.get("/{scope}/{key:path}")
async def get_memory(
    scope: Scope, key: Key, clients: Clients, tenant_id: TenantQuery = "", scope_key: ScopeKey = ""
) -> MemoryEntry:
    """One entry (viewers)."""
    reply = await clients.memory.GetMemory(
        pb.GetMemoryRequest(
            tenant_id=tenant_id, scope=scope_value(scope), scope_key=scope_key, key=key
        )
    )
    return MemoryEntry.from_proto(reply.entry)


@router.put("/{scope}/{key:path}")
async def upsert_memory(
    scope: Scope,
    key: Key,
    body: UpsertMemoryBody,
    clients: Clients,
    tenant_id: TenantQuery = "",
    scope_key: ScopeKey = "",
) -> StoredMemory:
    """Store the value under the key, replacing the one there (members)."""
    reply = await clients.memory.UpsertMemory(body.to_proto(tenant_id, scope, scope_key, key))
    return StoredMemory.from_proto(reply)


@router.delete("/{scope}/{key:path}", status_code=204, response_class=Response)
async def delete_memory(
    scope: Scope, key: Key, clients: Clients, tenant_id: TenantQuery = "", scope_key: ScopeKey = ""
) -> None:
    """Remove the entry (members)."""
    await clients.memory.DeleteMemory(
        pb.DeleteMemoryRequest(
            tenant_id=tenant_id, scope=scope_value(scope), scope_key=scope_key, key=key
        )
    )
