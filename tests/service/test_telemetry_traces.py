"""Trace reads over a real telemetry service on SQLite and PostgreSQL: a trace as a tree, tenant
scoping (another tenant's trace is indistinguishable from a missing one), search with every
filter and paging, the indexes the searches use, and the gateway's /v1/traces routes."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from quarterdeck.telemetry.v1.telemetry_pb2_grpc import TelemetryServiceStub
from services.gateway.config import GatewaySettings
from services.telemetry.traces.spans import SEARCH_SORT_KEY, SpanFilter, search_statement
from shared.errors import ERROR_DOMAIN
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.errors import failure, rich_error
from tests.support.gateway import gateway_client, headers
from tests.support.stack import Databases, StoringExports, running_service
from tests.support.tokens import TestIssuer, authorized_channel

ISSUER = TestIssuer()
#: Each test's spans start in their own hour, so searches by time see no other test's spans.
_hours = itertools.count(1)
BASE_NANO = 1_800_000_000_000_000_000
HOUR_NANO = 3_600_000_000_000
MS = 1_000_000


@dataclass
class Stack:
    running: RunningService[Any, Any]
    export: StoringExports
    stub: TelemetryServiceStub
    gateway: httpx.AsyncClient


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[Stack]:
    url = await databases.url(backend, "telemetry", "traces")
    async with (
        running_service(
            "telemetry", url, authenticator=ISSUER.authenticator(), retention_interval_seconds=0
        ) as running,
        open_channel(running.target) as channel,
        authorized_channel(running.target, ISSUER.internal()) as export_channel,
        gateway_client(
            GatewaySettings(telemetry_target=running.target, request_timeout_seconds=5)
        ) as gateway,
    ):
        yield Stack(
            running,
            StoringExports(TraceServiceStub(export_channel), running),
            TelemetryServiceStub(channel),
            gateway,
        )


def new_trace() -> bytes:
    return uuid.uuid4().bytes


def sid(number: int) -> bytes:
    return number.to_bytes(8, "big")


def hex_id(number: int) -> str:
    return sid(number).hex()


def span(
    trace_id: bytes,
    number: int,
    *,
    start_ms: int = 0,
    duration_ms: int = 1,
    parent: int | None = None,
    tenant: str | None = None,
    error: bool = False,
    name: str | None = None,
    base: int = BASE_NANO,
) -> Span:
    start = base + start_ms * MS
    attributes = []
    if tenant is not None:
        attributes.append(
            KeyValue(key="quarterdeck.tenant_id", value=AnyValue(string_value=tenant))
        )
    return Span(
        trace_id=trace_id,
        span_id=sid(number),
        parent_span_id=sid(parent) if parent is not None else b"",
        name=name or f"step-{number}",
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ms * MS,
        attributes=attributes,
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )


def export_request(service: str, *spans: Span) -> ExportTraceServiceRequest:
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


async def export(stack: Stack, service: str, *spans: Span) -> None:
    response = await stack.export.Export(export_request(service, *spans))
    assert not response.HasField("partial_success")


def operator() -> list[tuple[str, str]]:
    return ISSUER.operator()


def viewer(tenant: str) -> list[tuple[str, str]]:
    return ISSUER.member(tenant, "viewer")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def stamp(nanos: int) -> Timestamp:
    value = Timestamp()
    value.FromNanoseconds(nanos)
    return value


# -- GetTrace: the tree ------------------------------------------------------------------------


async def test_a_trace_comes_back_as_a_tree_with_orphans_and_cycles_as_roots(
    stack: Stack,
) -> None:
    trace_id = new_trace()
    await export(
        stack,
        "agent",
        span(trace_id, 1, start_ms=0, duration_ms=100),
        span(trace_id, 2, start_ms=20, parent=1),  # the later child of 1
        span(trace_id, 3, start_ms=25, parent=2),
        span(trace_id, 4, start_ms=10, parent=1),  # the earlier child of 1
        span(trace_id, 5, start_ms=5, parent=99),  # its parent never arrived
        span(trace_id, 6, start_ms=50, parent=7),  # 6 and 7 name each other
        span(trace_id, 7, start_ms=60, parent=6),
    )
    reply = await stack.stub.GetTrace(
        pb.GetTraceRequest(trace_id=trace_id.hex()), metadata=operator()
    )
    shape = [(s.span_id, s.depth, s.parent_missing) for s in reply.spans]
    assert shape == [
        (hex_id(1), 0, False),
        (hex_id(4), 1, False),
        (hex_id(2), 1, False),
        (hex_id(3), 2, False),
        (hex_id(5), 0, True),
        (hex_id(6), 0, True),
        (hex_id(7), 1, False),
    ]
    assert reply.spans[4].parent_span_id == hex_id(99)


async def test_span_events_come_back_with_the_trace(stack: Stack) -> None:
    trace_id = new_trace()
    recorded = span(trace_id, 1)
    recorded.events.add(
        name="retry",
        time_unix_nano=BASE_NANO + 7,
        attributes=[KeyValue(key="attempt", value=AnyValue(int_value=2))],
    )
    await export(stack, "agent", recorded)
    reply = await stack.stub.GetTrace(
        pb.GetTraceRequest(trace_id=trace_id.hex()), metadata=operator()
    )
    (event,) = reply.spans[0].events
    assert (event.name, event.time.ToNanoseconds(), dict(event.attributes)) == (
        "retry",
        BASE_NANO + 7,
        {"attempt": 2.0},
    )


# -- GetTrace: tenant scope --------------------------------------------------------------------


async def test_a_tenant_reads_its_trace_with_the_spans_that_carry_no_tenant(stack: Stack) -> None:
    tenant = unique("tenant")
    trace_id = new_trace()
    await export(stack, "gateway", span(trace_id, 1))
    await export(stack, "agent", span(trace_id, 2, parent=1, start_ms=1, tenant=tenant))
    request = pb.GetTraceRequest(trace_id=trace_id.hex())
    reply = await stack.stub.GetTrace(request, metadata=viewer(tenant))
    assert [(s.span_id, s.tenant_id) for s in reply.spans] == [
        (hex_id(1), ""),
        (hex_id(2), tenant),
    ]
    internal = await stack.stub.GetTrace(request, metadata=ISSUER.internal("gateway"))
    assert internal == reply


async def assert_hidden(stack: Stack, trace_id: str, metadata: list[tuple[str, str]]) -> None:
    """The trace answers exactly as one that was never stored."""
    missing = new_trace().hex()
    seen = rich_error(
        await failure(stack.stub.GetTrace(pb.GetTraceRequest(trace_id=trace_id), metadata=metadata))
    )
    absent = rich_error(
        await failure(stack.stub.GetTrace(pb.GetTraceRequest(trace_id=missing), metadata=metadata))
    )
    assert seen.code == absent.code == grpc.StatusCode.NOT_FOUND
    assert seen.reason == absent.reason == "TRACE_NOT_FOUND"
    assert seen.message.replace(trace_id, "X") == absent.message.replace(missing, "X")
    assert seen.metadata == {"trace_id": trace_id} and seen.domain == ERROR_DOMAIN


async def test_another_tenants_trace_is_not_found(stack: Stack) -> None:
    owner, other = unique("tenant"), unique("tenant")
    trace_id = new_trace()
    await export(stack, "agent", span(trace_id, 1, tenant=owner))
    await assert_hidden(stack, trace_id.hex(), viewer(other))


async def test_another_tenants_spans_neither_hide_a_trace_nor_show_in_it(stack: Stack) -> None:
    # Finding: one span of another tenant in a trace used to make it unreadable to its owner.
    first, second = unique("tenant"), unique("tenant")
    trace_id = new_trace()
    await export(
        stack,
        "agent",
        span(trace_id, 1, tenant=first),
        span(trace_id, 2, parent=1, start_ms=1, tenant=second),
        span(trace_id, 3, parent=2, start_ms=2),  # the platform's, under the second tenant's
        span(trace_id, 4, parent=1, start_ms=3),  # the platform's, under the first tenant's
        span(trace_id, 5, start_ms=4),  # names no tenant and has none above: the owner's
    )
    request = pb.GetTraceRequest(trace_id=trace_id.hex())
    owner_view = await stack.stub.GetTrace(request, metadata=viewer(first))
    assert [s.span_id for s in owner_view.spans] == [hex_id(1), hex_id(4), hex_id(5)]
    other_view = await stack.stub.GetTrace(request, metadata=viewer(second))
    assert [s.span_id for s in other_view.spans] == [hex_id(2), hex_id(3)]
    assert other_view.spans[0].parent_missing  # its parent is not the second tenant's to see
    for tenant, visible in ((first, 3), (second, 2)):
        (summary,) = (
            await search(
                stack,
                viewer(tenant),
                service_name="agent",
                span_name=f"step-{1 if tenant == first else 2}",
            )
        ).traces
        assert summary.trace_id == trace_id.hex()
        assert list(summary.tenant_ids) == [tenant]
        assert summary.span_count <= visible + 1
    everything = await stack.stub.GetTrace(request, metadata=operator())
    assert len(everything.spans) == 5


async def test_a_trace_no_span_files_under_a_tenant_is_for_operators_only(stack: Stack) -> None:
    trace_id = new_trace()
    await export(stack, "gateway", span(trace_id, 1))
    await assert_hidden(stack, trace_id.hex(), viewer(unique("tenant")))


@pytest.mark.parametrize(
    "trace_id", ["", "abc", "0AF7651916CD43DD8448EB211C80319C", "g" * 32, "0" * 32, "a" * 33]
)
async def test_a_malformed_trace_id_names_the_field(stack: Stack, trace_id: str) -> None:
    error = rich_error(
        await failure(
            stack.stub.GetTrace(pb.GetTraceRequest(trace_id=trace_id), metadata=viewer("t"))
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error.field_violations) == ["trace_id"]


# -- SearchTraces ------------------------------------------------------------------------------


@dataclass
class Scene:
    """Four traces of one service in their own hour (newest last)."""

    service: str
    tenant: str
    base: int
    ids: list[str]


async def scene(stack: Stack) -> Scene:
    """quick: one fast ok span; slow: a 900 ms root with an errored child named db.query;
    orphan: a child whose root never arrived; mixed: a span of the tenant and one of another."""
    service, tenant = unique("svc"), unique("tenant")
    base = BASE_NANO + next(_hours) * HOUR_NANO
    quick, slow, orphan, mixed = (new_trace() for _ in range(4))
    await export(
        stack,
        service,
        span(quick, 1, start_ms=0, duration_ms=5, tenant=tenant, name="turn", base=base),
        span(slow, 1, start_ms=100, duration_ms=900, tenant=tenant, name="turn", base=base),
        span(
            slow, 2, start_ms=150, duration_ms=50, parent=1, error=True, name="db.query", base=base
        ),
        span(orphan, 3, start_ms=200, parent=9, tenant=tenant, name="db.write", base=base),
        span(mixed, 1, start_ms=300, tenant=tenant, name="turn", base=base),
        span(mixed, 2, start_ms=310, parent=1, tenant=unique("other"), name="turn", base=base),
    )
    return Scene(service, tenant, base, [t.hex() for t in (quick, slow, orphan, mixed)])


async def search(
    stack: Stack, metadata: list[tuple[str, str]] | None = None, **fields: Any
) -> pb.SearchTracesResponse:
    return await stack.stub.SearchTraces(
        pb.SearchTracesRequest(**fields), metadata=metadata or operator()
    )


async def test_search_lists_each_matching_trace_once_newest_first_with_its_summary(
    stack: Stack,
) -> None:
    s = await scene(stack)
    quick, slow, orphan, mixed = s.ids
    reply = await search(stack, service_name=s.service)
    assert [t.trace_id for t in reply.traces] == [mixed, orphan, slow, quick]
    assert reply.next_page_token == ""
    by_id = {t.trace_id: t for t in reply.traces}
    summary = by_id[slow]
    assert (summary.root_span_name, summary.root_service_name) == ("turn", s.service)
    assert (summary.span_count, summary.has_error) == (2, True)
    assert summary.duration.ToNanoseconds() == 900 * MS
    assert summary.start_time.ToNanoseconds() == s.base + 100 * MS
    assert summary.matched_span_id == hex_id(2)  # its newest matching span
    assert summary.matched_start_time.ToNanoseconds() == s.base + 150 * MS
    assert list(summary.tenant_ids) == [s.tenant]
    assert not by_id[quick].has_error and by_id[quick].span_count == 1
    assert by_id[orphan].root_span_name == "db.write"  # no root arrived: its earliest span
    assert len(by_id[mixed].tenant_ids) == 2


async def test_each_filter_narrows_the_search(stack: Stack) -> None:
    s = await scene(stack)
    quick, slow, orphan, mixed = s.ids

    async def found(**fields: Any) -> list[str]:
        reply = await search(stack, service_name=s.service, **fields)
        return [t.trace_id for t in reply.traces]

    assert await found(span_name="turn") == [mixed, slow, quick]
    assert await found(span_name_prefix="db.") == [orphan, slow]
    assert await found(span_name_prefix="DB.") == []  # case-sensitive
    assert await found(span_name_prefix="db%") == []  # no wildcards
    assert await found(errors_only=True) == [slow]
    assert await found(min_duration=Duration(nanos=500 * MS)) == [slow]
    window = {"start_time": stamp(s.base + 100 * MS), "end_time": stamp(s.base + 300 * MS)}
    assert await found(**window) == [orphan, slow]
    # A tenant's traces are those holding its spans: the mixed trace too, for operators as well.
    assert await found(tenant_id=s.tenant, span_name="turn") == [mixed, slow, quick]
    # Every filter must hold for one span: the errored span is not named turn.
    assert await found(span_name="turn", errors_only=True) == []
    # Without the service: the time window alone finds the same traces (start-time index).
    reply = await search(stack, start_time=stamp(s.base), end_time=stamp(s.base + HOUR_NANO))
    assert [t.trace_id for t in reply.traces] == [mixed, orphan, slow, quick]


async def test_a_tenant_searches_only_its_own_traces(stack: Stack) -> None:
    s = await scene(stack)
    quick, slow, orphan, mixed = s.ids
    mine = await search(stack, viewer(s.tenant), service_name=s.service)
    # The trace that also holds another tenant's span is listed, summarised from its own only.
    assert [t.trace_id for t in mine.traces] == [mixed, orphan, slow, quick]
    assert (mine.traces[0].span_count, list(mine.traces[0].tenant_ids)) == (1, [s.tenant])
    named = await search(stack, viewer(s.tenant), tenant_id=s.tenant, service_name=s.service)
    assert named == mine
    stranger = await search(stack, viewer(unique("tenant")), service_name=s.service)
    assert list(stranger.traces) == []
    error = rich_error(
        await failure(
            stack.stub.SearchTraces(
                pb.SearchTracesRequest(tenant_id=s.tenant), metadata=viewer(unique("tenant"))
            )
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED


async def test_pages_cover_every_trace_once_and_tokens_are_bound_to_the_filters(
    stack: Stack,
) -> None:
    s = await scene(stack)
    seen: list[str] = []
    token = ""
    while True:
        reply = await search(stack, service_name=s.service, page_size=1, page_token=token)
        assert len(reply.traces) == 1
        seen.extend(t.trace_id for t in reply.traces)
        token = reply.next_page_token
        if not token:
            break
    assert seen == list(reversed(s.ids))
    first = await search(stack, service_name=s.service, page_size=2)
    error = rich_error(
        await failure(
            stack.stub.SearchTraces(
                pb.SearchTracesRequest(
                    service_name=s.service, errors_only=True, page_token=first.next_page_token
                ),
                metadata=operator(),
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error.field_violations) == ["page_token"]
    # The same token as another tenant: its tenant filter differs, so it does not open.
    error = rich_error(
        await failure(
            stack.stub.SearchTraces(
                pb.SearchTracesRequest(service_name=s.service, page_token=first.next_page_token),
                metadata=viewer(s.tenant),
            )
        )
    )
    assert list(error.field_violations) == ["page_token"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start_time": Timestamp(seconds=200), "end_time": Timestamp(seconds=100)}, "end_time"),
        ({"start_time": Timestamp(seconds=100), "end_time": Timestamp(seconds=100)}, "end_time"),
        ({"start_time": Timestamp(seconds=-5)}, "start_time"),
        ({"end_time": Timestamp(seconds=10**13)}, "end_time"),
        ({"min_duration": Duration(seconds=-1)}, "min_duration"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"service_name": "s" * 256}, "service_name"),
    ],
)
async def test_bad_search_input_names_the_field(
    stack: Stack, fields: dict[str, Any], field: str
) -> None:
    error = rich_error(
        await failure(
            stack.stub.SearchTraces(pb.SearchTracesRequest(**fields), metadata=operator())
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error.field_violations) == [field]


async def test_searching_needs_a_caller(stack: Stack) -> None:
    error = rich_error(await failure(stack.stub.SearchTraces(pb.SearchTracesRequest())))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED


SEARCH_SHAPES: dict[str, dict[str, Any]] = {
    "tenant": {"tenant_id": "t-1"},
    "service": {"service_name": "svc"},
    "time range only": {"start_unix_nano": 1, "end_unix_nano": 2},
    "every filter": {
        "tenant_id": "t-1",
        "service_name": "svc",
        "span_name_prefix": "db.",
        "start_unix_nano": 1,
        "end_unix_nano": 2,
        "min_duration_nano": 5,
        "errors_only": True,
    },
}


@pytest.mark.parametrize("shape", list(SEARCH_SHAPES))
async def test_every_search_shape_is_served_by_an_index_on_postgresql(
    stack: Stack, backend: str, shape: str
) -> None:
    if backend != "postgresql":
        pytest.skip("the plan checked is PostgreSQL's")
    values: dict[str, Any] = {
        "tenant_id": None,
        "service_name": "",
        "span_name": "",
        "span_name_prefix": "",
        "start_unix_nano": None,
        "end_unix_nano": None,
        "min_duration_nano": 0,
        "errors_only": False,
        **SEARCH_SHAPES[shape],
    }
    statement = (
        search_statement(SpanFilter(**values))
        .order_by(*(column.desc() for column in SEARCH_SORT_KEY))
        .limit(51)
    )
    sql = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    async with stack.running.context.database.reading() as session:
        # The table is small here, so the planner would rightly scan it; forbidding that shows
        # an index exists that serves the query.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join((await session.execute(text(f"EXPLAIN {sql}"))).scalars())
    assert "Seq Scan" not in plan, plan
    columns = {
        "tenant": "tenant_id_start_time_unix_nano",
        "service": "service_name_start_time_unix_nano",
        "time range only": "start_time_unix_nano",
        "every filter": r"\w+",
    }[shape]
    # The index is the table's, or on PostgreSQL's daily partitions each partition's copy of it
    # (named by PostgreSQL after the partition).
    driving = rf"using (ix_spans|spans_p\d{{8}}|spans_default)_{columns}(_idx)? on"
    assert re.search(driving, plan), plan


# -- Gateway -----------------------------------------------------------------------------------


def violations(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    [bad_request] = [d for d in error["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    return [v["field"] for v in bad_request["fieldViolations"]]


async def test_the_gateway_serves_a_tenant_its_trace_as_a_tree(stack: Stack) -> None:
    tenant = unique("tenant")
    trace_id = new_trace()
    await export(
        stack,
        "agent",
        span(trace_id, 1, duration_ms=10, tenant=tenant, name="turn"),
        span(trace_id, 2, start_ms=2, parent=1, error=True, name="call"),
    )
    response = await stack.gateway.get(
        f"/v1/traces/{trace_id.hex()}", headers=headers(viewer(tenant))
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["trace_id"] == trace_id.hex()
    root, child = body["spans"]
    assert (root["name"], root["depth"], root["parent_span_id"], root["tenant_id"]) == (
        "turn",
        0,
        None,
        tenant,
    )
    assert (child["depth"], child["parent_span_id"], child["status_code"]) == (
        1,
        hex_id(1),
        "error",
    )
    assert root["duration_ms"] == 10.0 and root["start_time"].endswith("Z")
    assert root["attributes"] == {"quarterdeck.tenant_id": tenant}
    other = await stack.gateway.get(
        f"/v1/traces/{trace_id.hex()}", headers=headers(viewer(unique("tenant")))
    )
    assert other.status_code == 404
    assert other.json()["error"]["status"] == "NOT_FOUND"
    assert trace_id.hex() in other.json()["error"]["message"]  # the caller's own input only
    assert "turn" not in other.text and tenant not in other.text
    bad = await stack.gateway.get("/v1/traces/not-hex", headers=headers(viewer(tenant)))
    assert violations(bad) == ["trace_id"]
    anonymous = await stack.gateway.get(f"/v1/traces/{trace_id.hex()}")
    assert anonymous.status_code == 401


async def test_the_gateway_searches_with_filters_and_pages(stack: Stack) -> None:
    s = await scene(stack)
    quick, slow, orphan, mixed = s.ids
    tenant_headers = headers(viewer(s.tenant))
    pages: list[list[dict[str, Any]]] = []
    token = ""
    while True:
        params: dict[str, Any] = {"service_name": s.service, "page_size": 2, "page_token": token}
        response = await stack.gateway.get("/v1/traces", params=params, headers=tenant_headers)
        assert response.status_code == 200, response.text
        pages.append(response.json()["traces"])
        token = response.json()["next_page_token"]
        if not token:
            break
    # The newest trace also holds another tenant's span: listed all the same, without it.
    assert [[t["trace_id"] for t in page] for page in pages] == [[mixed, orphan], [slow, quick]]
    assert pages[0][0]["span_count"] == 1
    slow_summary = pages[1][0]
    assert slow_summary["has_error"] is True and slow_summary["duration_ms"] == 900.0
    assert slow_summary["start_time"].endswith("Z")
    filtered = await stack.gateway.get(
        "/v1/traces",
        params={"service_name": s.service, "min_duration_ms": 500, "errors_only": "false"},
        headers=headers(operator()),
    )
    assert [t["trace_id"] for t in filtered.json()["traces"]] == [slow]
    backwards = await stack.gateway.get(
        "/v1/traces",
        params={"start_time": "2030-01-02T00:00:00Z", "end_time": "2030-01-01T00:00:00Z"},
        headers=tenant_headers,
    )
    assert violations(backwards) == ["end_time"]
    naive = await stack.gateway.get(
        "/v1/traces", params={"start_time": "2030-01-01T00:00:00"}, headers=tenant_headers
    )
    assert violations(naive) == ["start_time"]
    negative = await stack.gateway.get(
        "/v1/traces", params={"min_duration_ms": -1}, headers=tenant_headers
    )
    assert violations(negative) == ["min_duration_ms"]
    foreign = await stack.gateway.get(
        "/v1/traces", params={"tenant_id": unique("tenant")}, headers=tenant_headers
    )
    assert foreign.status_code == 403
