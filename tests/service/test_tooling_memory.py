"""Tooling's memory (seed 003 ai_memory) over a real in-process gRPC server, on SQLite and on
PostgreSQL: upsert per tenant, scope, scope key and key; get; list by scope; delete; search."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from quarterdeck.tooling.v1 import memory_pb2 as pb
from shared.json_values import python_to_value, value_to_python
from tests.support.errors import rich_error
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, failure, tooling_service

ISSUER = TestIssuer()


@pytest.fixture(scope="module")
async def tooling(backend: str, databases: Databases) -> AsyncIterator[Tooling]:
    async with tooling_service(databases, backend, "memory", ISSUER) as service:
        yield service


def entry(tenant: str, key: str, value: object, **fields: object) -> pb.MemoryEntry:
    return pb.MemoryEntry(
        tenant_id=tenant,
        scope=fields.pop("scope", pb.MEMORY_SCOPE_SESSION),  # type: ignore[arg-type]
        scope_key=fields.pop("scope_key", "demo-session"),  # type: ignore[arg-type]
        key=key,
        value=python_to_value(value),
        **fields,  # type: ignore[arg-type]
    )


async def test_upsert_replaces_the_value_under_its_key(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    first = await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(entry=entry(tenant, "language", {"preferred": "fr"})),
        metadata=member,
    )
    assert first.created and first.entry.confidence == 50
    assert first.entry.source == pb.MEMORY_SOURCE_ASSISTANT
    second = await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(
            entry=entry(
                tenant,
                "language",
                {"preferred": "de", "since": 2024},
                confidence=90,
                source=pb.MEMORY_SOURCE_USER,
            )
        ),
        metadata=member,
    )
    assert not second.created and second.entry.id == first.entry.id
    got = await tooling.memory.GetMemory(
        pb.GetMemoryRequest(
            tenant_id=tenant,
            scope=pb.MEMORY_SCOPE_SESSION,
            scope_key="demo-session",
            key="language",
        ),
        metadata=ISSUER.member(tenant, "viewer"),
    )
    assert value_to_python(got.entry.value) == {"preferred": "de", "since": 2024}
    assert got.entry.confidence == 90


async def test_the_same_key_in_another_scope_or_tenant_is_another_entry(tooling: Tooling) -> None:
    tenant, other = str(uuid.uuid4()), str(uuid.uuid4())
    await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(entry=entry(tenant, "k", 1)), metadata=ISSUER.member(tenant)
    )
    user_scope = await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(
            entry=entry(tenant, "k", 2, scope=pb.MEMORY_SCOPE_USER, scope_key="user-1")
        ),
        metadata=ISSUER.member(tenant),
    )
    assert user_scope.created
    elsewhere = await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(entry=entry(other, "k", 3)), metadata=ISSUER.member(other)
    )
    assert elsewhere.created
    error = await failure(
        tooling.memory.GetMemory(
            pb.GetMemoryRequest(
                tenant_id=tenant, scope=pb.MEMORY_SCOPE_SESSION, scope_key="demo-session", key="k"
            ),
            metadata=ISSUER.member(other),
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_memory_lookup_lists_a_session_newest_first_and_pages(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    for i in range(5):
        await tooling.memory.UpsertMemory(
            pb.UpsertMemoryRequest(entry=entry(tenant, f"fact-{i}", i, session_key="demo")),
            metadata=member,
        )
    await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(entry=entry(tenant, "fact-0", "changed", session_key="demo")),
        metadata=member,
    )
    first = await tooling.memory.ListMemories(
        pb.ListMemoriesRequest(
            tenant_id=tenant, scope=pb.MEMORY_SCOPE_SESSION, session_key="demo", page_size=4
        ),
        metadata=member,
    )
    rest = await tooling.memory.ListMemories(
        pb.ListMemoriesRequest(
            tenant_id=tenant,
            scope=pb.MEMORY_SCOPE_SESSION,
            session_key="demo",
            page_size=4,
            page_token=first.next_page_token,
        ),
        metadata=member,
    )
    keys = [e.key for e in [*first.entries, *rest.entries]]
    assert keys == ["fact-0", "fact-4", "fact-3", "fact-2", "fact-1"]
    assert rest.next_page_token == ""


async def test_delete_and_search(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(entry=entry(tenant, "city", {"name": "Wellington"})),
        metadata=member,
    )
    await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(entry=entry(tenant, "Favourite_City", "Auckland")),
        metadata=member,
    )
    await tooling.memory.UpsertMemory(
        pb.UpsertMemoryRequest(entry=entry(tenant, "pct", "100% sure")), metadata=member
    )
    found = await tooling.memory.SearchMemories(
        pb.SearchMemoriesRequest(tenant_id=tenant, query="wellington"), metadata=member
    )
    assert [e.key for e in found.entries] == ["city"]
    by_key = await tooling.memory.SearchMemories(
        pb.SearchMemoriesRequest(tenant_id=tenant, query="city"), metadata=member
    )
    assert {e.key for e in by_key.entries} == {"city", "Favourite_City"}
    literal = await tooling.memory.SearchMemories(
        pb.SearchMemoriesRequest(tenant_id=tenant, query="0%"), metadata=member
    )
    assert [e.key for e in literal.entries] == ["pct"]  # '%' is not a wildcard
    other = str(uuid.uuid4())
    assert not (
        await tooling.memory.SearchMemories(
            pb.SearchMemoriesRequest(tenant_id=other, query="city"), metadata=ISSUER.member(other)
        )
    ).entries
    request = pb.DeleteMemoryRequest(
        tenant_id=tenant, scope=pb.MEMORY_SCOPE_SESSION, scope_key="demo-session", key="city"
    )
    await tooling.memory.DeleteMemory(request, metadata=member)
    again = await failure(tooling.memory.DeleteMemory(request, metadata=member))
    assert again.code() == grpc.StatusCode.NOT_FOUND


async def test_a_key_holding_slashes_is_one_key(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    member = ISSUER.member(tenant, "member")
    for key, value in (("notes/2026/q1", 1), ("notes/2026", 2), ("notes", 3), ("/lead/", 4)):
        await tooling.memory.UpsertMemory(
            pb.UpsertMemoryRequest(entry=entry(tenant, key, value)), metadata=member
        )
    got = await tooling.memory.GetMemory(
        pb.GetMemoryRequest(
            tenant_id=tenant,
            scope=pb.MEMORY_SCOPE_SESSION,
            scope_key="demo-session",
            key="notes/2026/q1",
        ),
        metadata=member,
    )
    assert (got.entry.key, value_to_python(got.entry.value)) == ("notes/2026/q1", 1)
    listed = await tooling.memory.ListMemories(
        pb.ListMemoriesRequest(
            tenant_id=tenant, scope=pb.MEMORY_SCOPE_SESSION, scope_key="demo-session"
        ),
        metadata=member,
    )
    assert {e.key: value_to_python(e.value) for e in listed.entries} == {
        "notes/2026/q1": 1,
        "notes/2026": 2,
        "notes": 3,
        "/lead/": 4,
    }
    await tooling.memory.DeleteMemory(
        pb.DeleteMemoryRequest(
            tenant_id=tenant,
            scope=pb.MEMORY_SCOPE_SESSION,
            scope_key="demo-session",
            key="notes/2026",
        ),
        metadata=member,
    )
    left = await tooling.memory.ListMemories(
        pb.ListMemoriesRequest(
            tenant_id=tenant, scope=pb.MEMORY_SCOPE_SESSION, scope_key="demo-session"
        ),
        metadata=member,
    )
    assert sorted(e.key for e in left.entries) == ["/lead/", "notes", "notes/2026/q1"]


async def test_bad_memory_input_names_each_field(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    error = await failure(
        tooling.memory.UpsertMemory(
            pb.UpsertMemoryRequest(
                entry=pb.MemoryEntry(
                    tenant_id=tenant, scope=pb.MEMORY_SCOPE_USER, key="", confidence=101
                )
            ),
            metadata=ISSUER.member(tenant),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"entry.key", "entry.scope_key", "entry.value", "entry.confidence"} <= set(
        rich_error(error).field_violations
    )
    viewer = await failure(
        tooling.memory.UpsertMemory(
            pb.UpsertMemoryRequest(entry=entry(tenant, "k", 1)),
            metadata=ISSUER.member(tenant, "viewer"),
        )
    )
    assert viewer.code() == grpc.StatusCode.PERMISSION_DENIED
