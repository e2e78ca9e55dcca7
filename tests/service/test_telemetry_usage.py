"""UsageService (agent_telemetry) and its gateway routes over real in-process services, on SQLite
and on PostgreSQL: telemetry prices rows with tenancy's seeded catalogue, reached with an
internal token that identity issues, exactly as deployed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import event

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from quarterdeck.telemetry.v1.usage_pb2_grpc import UsageServiceStub
from quarterdeck.tenancy.v1 import pricing_pb2 as tpb
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from services.gateway.config import GatewaySettings
from shared.grpc_client import open_channel
from shared.identity_link import IdentityLink, internal_client_entry
from shared.server import RunningService
from tests.support.errors import failure, rich_error
from tests.support.gateway import gateway_client, headers
from tests.support.stack import (
    IDENTITY_TEST_SETTINGS,
    Databases,
    free_port,
    identity_stack,
    running_service,
)
from tests.support.tokens import TestIssuer

ISSUER = TestIssuer()
TELEMETRY_INTERNAL_SECRET = "telemetry-internal-secret-for-tests"
SONNET = ("anthropic", "claude-3-5-sonnet-20241022")
#: Seeded standard rates of SONNET, micro-USD per million tokens.
SONNET_INPUT, SONNET_OUTPUT, SONNET_CACHE_WRITE, SONNET_CACHE_READ = (
    3_000_000,
    15_000_000,
    3_750_000,
    300_000,
)
#: A whole day, after the seeded prices start (2024-01-01).
DAY_ONE = datetime(2025, 3, 1, tzinfo=UTC)


@dataclass
class Stack:
    telemetry: RunningService[Any, Any]
    tenancy: RunningService[Any, Any]
    usage: UsageServiceStub
    catalog: ModelCatalogServiceStub
    #: Telemetry's own internal token, issued by identity: what tenancy accepts.
    internal: list[tuple[str, str]]
    gateway: httpx.AsyncClient


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[Stack]:
    clients = ",".join(
        [
            IDENTITY_TEST_SETTINGS["internal_clients"],
            internal_client_entry("telemetry", TELEMETRY_INTERNAL_SECRET),
        ]
    )
    async with identity_stack(databases, backend, "usage", internal_clients=clients) as services:
        link = IdentityLink(services.identity.target, "telemetry", TELEMETRY_INTERNAL_SECRET, 60)
        async with (
            running_service(
                "telemetry",
                await databases.url(backend, "telemetry", "usage"),
                authenticator=ISSUER.authenticator(),
                identity_target=services.identity.target,
                internal_secret=TELEMETRY_INTERNAL_SECRET,
                tenancy_target=services.tenancy.target,
            ) as telemetry,
            open_channel(telemetry.target) as channel,
            open_channel(services.tenancy.target) as tenancy_channel,
            gateway_client(
                GatewaySettings(
                    telemetry_target=telemetry.target,
                    request_timeout_seconds=10,
                    # The in-process transport's caller is trusted, so a row recorded during a
                    # request can be matched to the traceparent the test sent.
                    trusted_trace_sources="127.0.0.0/8",
                )
            ) as gateway,
        ):
            yield Stack(
                telemetry,
                services.tenancy,
                UsageServiceStub(channel),
                ModelCatalogServiceStub(tenancy_channel),
                await link.internal_metadata(),
                gateway,
            )
        await link.close()


def new_tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def row(event_id: str | None = None, **fields: Any) -> pb.UsageRecord:
    """A priceable Sonnet call at DAY_ONE noon unless fields say otherwise."""
    fields.setdefault("provider", SONNET[0])
    fields.setdefault("model_used", SONNET[1])
    fields.setdefault("input_tokens", 1000)
    fields.setdefault("output_tokens", 200)
    if "time" not in fields:
        fields["time"] = stamp(DAY_ONE + timedelta(hours=12))
    return pb.UsageRecord(event_id=event_id or uuid.uuid4().hex, **fields)


async def all_records(stack: Stack, tenant: str, **filters: Any) -> list[pb.UsageRecord]:
    found: list[pb.UsageRecord] = []
    token = ""
    while True:
        page = await stack.usage.ListUsageRecords(
            pb.ListUsageRecordsRequest(page_size=2, page_token=token, **filters),
            metadata=ISSUER.member(tenant, "viewer"),
        )
        found += page.records
        token = page.next_page_token
        if not token:
            return found


def picos(usd: str) -> int:
    whole, _, fraction = usd.partition(".")
    return int(whole) * 10**12 + int(fraction.ljust(12, "0"))


# ----- recording and cost -----


async def test_cost_equals_tenancy_price_usage(stack: Stack) -> None:
    tenant = new_tenant()
    cases = [
        # Anthropic-style counts: input excludes the cache.
        dict(
            token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
            input_tokens=1234,
            output_tokens=567,
            cache_creation_input_tokens=2000,
            cache_read_input_tokens=8000,
            web_search_requests=3,
        ),
        # OpenAI-style counts, batch tier.
        dict(
            token_convention=pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED,
            input_tokens=10_000,
            output_tokens=1,
            cache_read_input_tokens=4000,
            is_batch=True,
        ),
    ]
    for number, fields in enumerate(cases):
        recorded = await stack.usage.RecordUsage(
            pb.RecordUsageRequest(record=row(f"case-{number}", **fields)),
            metadata=ISSUER.member(tenant, "member"),
        )
        record = recorded.record
        assert not recorded.duplicate and record.cost_status == pb.COST_STATUS_PRICED
        priced = await stack.catalog.PriceUsage(
            tpb.PriceUsageRequest(
                model_ref=tpb.ModelRef(provider=SONNET[0], model_name=SONNET[1]),
                occurred_at=record.time,
                token_convention=fields["token_convention"],
                input_tokens=fields["input_tokens"],
                output_tokens=fields["output_tokens"],
                cache_creation_tokens=fields.get("cache_creation_input_tokens", 0),
                cache_read_tokens=fields.get("cache_read_input_tokens", 0),
                web_search_requests=fields.get("web_search_requests", 0),
                batch=fields.get("is_batch", False),
            ),
            metadata=stack.internal,
        )
        assert record.computed_cost_usd == priced.cost.total.amount
        breakdown = dict(record.cost_breakdown)
        for component in ("input", "output", "cache_write", "cache_read", "web_search", "total"):
            assert breakdown[component] == getattr(priced.cost, component).amount
        assert record.input_rate_per_mtok == priced.price.input_per_mtok
        assert record.cache_read_rate_per_mtok == priced.price.cache_read_per_mtok
        assert record.pricing_source == priced.price.source == "seed_catalogue"
        uncached = priced.uncached_input_tokens
        cache_read = fields.get("cache_read_input_tokens", 0)
        total_input = uncached + fields.get("cache_creation_input_tokens", 0) + cache_read
        assert record.total_input_tokens == total_input
        assert record.cache_hit_rate == pytest.approx(cache_read / total_input)
        input_rate = picos(priced.price.input_per_mtok) // 10**6
        cache_read_rate = picos(priced.price.cache_read_per_mtok) // 10**6
        assert picos(record.cache_cost_savings_usd) == cache_read * (input_rate - cache_read_rate)

    # The first case by hand: 1234*3 + 567*15 + 2000*3.75 + 8000*0.3 USD/M + 3 searches * $0.01.
    [first] = [r for r in await all_records(stack, tenant) if r.event_id == "case-0"]
    expected = (
        1234 * SONNET_INPUT
        + 567 * SONNET_OUTPUT
        + 2000 * SONNET_CACHE_WRITE
        + 8000 * SONNET_CACHE_READ
        + 3 * 10_000_000 * 1000
    )
    assert picos(first.computed_cost_usd) == expected


async def test_rows_that_cannot_be_priced_are_kept_with_the_reason(stack: Stack) -> None:
    tenant = new_tenant()
    reply = await stack.usage.RecordUsageBatch(
        pb.RecordUsageBatchRequest(
            records=[
                row("unknown", model_used="no-such-model"),
                row("no-provider", provider=""),
                row("before-prices", time=stamp(datetime(2023, 6, 1, tzinfo=UTC))),
                row("client-cost", computed_cost_usd="0.25"),
                row("no-long-context-tier", is_long_context=True),
            ]
        ),
        metadata=ISSUER.member(tenant, "member"),
    )
    assert reply.accepted_count == 5 and not reply.rejected
    statuses = {
        r.event_id: (r.cost_status, r.computed_cost_usd) for r in await all_records(stack, tenant)
    }
    assert statuses == {
        "unknown": (pb.COST_STATUS_UNKNOWN_MODEL, ""),
        "no-provider": (pb.COST_STATUS_NO_MODEL, ""),
        "before-prices": (pb.COST_STATUS_NO_PRICE, ""),
        "client-cost": (pb.COST_STATUS_CLIENT, "0.250000000000"),
        "no-long-context-tier": (pb.COST_STATUS_NO_PRICE, ""),
    }


async def test_rows_are_kept_unpriced_when_tenancy_cannot_be_reached(
    stack: Stack, backend: str, databases: Databases
) -> None:
    async with (
        running_service(
            "telemetry",
            await databases.url(backend, "telemetry", "usage"),
            authenticator=ISSUER.authenticator(),
            identity_target=stack.telemetry.context.settings.identity_target,
            internal_secret=TELEMETRY_INTERNAL_SECRET,
            tenancy_target=f"127.0.0.1:{free_port()}",  # nothing listens there
        ) as cut_off,
        open_channel(cut_off.target) as channel,
    ):
        reply = await UsageServiceStub(channel).RecordUsage(
            pb.RecordUsageRequest(record=row()), metadata=ISSUER.member(new_tenant(), "member")
        )
    assert reply.record.cost_status == pb.COST_STATUS_PRICING_UNAVAILABLE
    assert reply.record.computed_cost_usd == "" and reply.record.total_input_tokens == 1000


async def test_rows_of_one_model_cost_one_price_fetch(stack: Stack) -> None:
    """A model not priced before in this module: its price history is read from tenancy once
    for 2 batches of 60 rows, not once per row."""
    price_reads: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "model_prices" in statement:
            price_reads.append(statement)

    engine = stack.tenancy.context.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        tenant = new_tenant()
        for _ in range(2):
            reply = await stack.usage.RecordUsageBatch(
                pb.RecordUsageBatchRequest(
                    tenant_id=tenant,
                    records=[
                        row(provider="openai", model_used="gpt-4.1-mini", input_tokens=n)
                        for n in range(60)
                    ],
                ),
                metadata=ISSUER.internal("conversation"),
            )
            assert reply.accepted_count == 60
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(price_reads) == 1
    records = await all_records(stack, tenant)
    assert len(records) == 120
    assert all(r.cost_status == pb.COST_STATUS_PRICED for r in records)


async def test_a_retried_single_row_adds_nothing(stack: Stack) -> None:
    tenant = new_tenant()
    member = ISSUER.member(tenant, "member")
    first = await stack.usage.RecordUsage(
        pb.RecordUsageRequest(record=row("once")), metadata=member
    )
    again = await stack.usage.RecordUsage(
        pb.RecordUsageRequest(record=row("once", input_tokens=999_999)), metadata=member
    )
    assert again.duplicate and not first.duplicate
    assert again.record == first.record  # the stored row, not the retry's counts
    assert len(await all_records(stack, tenant)) == 1


async def test_a_batch_stores_good_rows_reports_bad_ones_by_index_and_retries_add_nothing(
    stack: Stack,
) -> None:
    tenant = new_tenant()
    member = ISSUER.member(tenant, "member")
    batch = pb.RecordUsageBatchRequest(
        records=[
            row("a"),
            row("b"),
            row("c", input_tokens=-1),
            row("d", trace_id="XYZ"),
            row("e", cache_read_input_tokens=10),  # cache counts need a token convention
            row("a"),  # repeated inside the batch
            row("has space"),
            row("f", agent_id="nul\x00inside"),  # PostgreSQL text cannot hold NUL
            row("g", time=Timestamp(seconds=10**10)),  # past what int64 nanoseconds hold
        ]
    )
    reply = await stack.usage.RecordUsageBatch(batch, metadata=member)
    assert reply.accepted_count == 2
    assert list(reply.duplicate_indexes) == [5] and reply.duplicate_count == 1
    assert {(r.index, r.field) for r in reply.rejected} == {
        (2, "records[2].input_tokens"),
        (3, "records[3].trace_id"),
        (4, "records[4].token_convention"),
        (6, "records[6].event_id"),
        (7, "records[7].agent_id"),
        (8, "records[8].time"),
    }
    assert all(r.description for r in reply.rejected)

    retried = await stack.usage.RecordUsageBatch(batch, metadata=member)
    assert retried.accepted_count == 0
    assert list(retried.duplicate_indexes) == [0, 1, 5]
    assert {r.event_id for r in await all_records(stack, tenant)} == {"a", "b"}

    refused = await failure(
        stack.usage.RecordUsage(
            pb.RecordUsageRequest(record=row("x", output_tokens=-5)), metadata=member
        )
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "record.output_tokens" in rich_error(refused).field_violations
    empty = await failure(
        stack.usage.RecordUsageBatch(pb.RecordUsageBatchRequest(), metadata=member)
    )
    assert "records" in rich_error(empty).field_violations
    too_many = await failure(
        stack.usage.RecordUsageBatch(
            pb.RecordUsageBatchRequest(records=[row() for _ in range(1001)]), metadata=member
        )
    )
    assert "records" in rich_error(too_many).field_violations


async def test_metadata_and_text_fields_come_back_as_sent(stack: Stack) -> None:
    """Rows with metadata take the row-by-row check, the rest the column-wise one; both store
    their JSON (as text, encoded once) and text fields so that they read back as sent."""
    tenant = new_tenant()
    member = ISSUER.member(tenant, "member")
    metadata = Struct()
    metadata.update({"run": "r-1", "attempt": 2, "tags": ["a", "é"], "nested": {"ok": True}})
    batch = pb.RecordUsageBatchRequest(
        records=[
            row("with-metadata", metadata=metadata, agent_id="agent-7"),
            row("plain", session_id="s-1", cache_ttl_seconds=0, metric_type=""),
        ]
    )
    reply = await stack.usage.RecordUsageBatch(batch, metadata=member)
    assert reply.accepted_count == 2 and not reply.rejected
    stored = {record.event_id: record for record in await all_records(stack, tenant)}
    assert stored["with-metadata"].metadata == metadata
    assert stored["with-metadata"].agent_id == "agent-7"
    plain = stored["plain"]
    assert plain.metadata == Struct() and plain.session_id == "s-1" and plain.agent_id == ""
    assert plain.cache_ttl_seconds == 0 and plain.metric_type == "usage"


async def test_concurrent_retries_of_one_batch_store_each_row_once(
    stack: Stack, backend: str
) -> None:
    """On PostgreSQL new rows are COPYed straight in; a batch whose event ids are (being)
    stored already fails that COPY and goes through the staging table, skipping them."""
    tenant = new_tenant()
    member = ISSUER.member(tenant, "member")
    first = pb.RecordUsageBatchRequest(records=[row(f"c{n}") for n in range(0, 150)])
    overlapping = pb.RecordUsageBatchRequest(records=[row(f"c{n}") for n in range(100, 300)])
    staged: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "agent_telemetry_staging" in statement:
            staged.append(statement)

    engine = stack.telemetry.context.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        replies = await asyncio.gather(
            *(stack.usage.RecordUsageBatch(first, metadata=member) for _ in range(3)),
            *(stack.usage.RecordUsageBatch(overlapping, metadata=member) for _ in range(3)),
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert bool(staged) == (backend == "postgresql")
    assert sum(reply.accepted_count for reply in replies) == 300
    assert sum(reply.duplicate_count for reply in replies) == 3 * 150 + 3 * 200 - 300
    listed = await stack.usage.ListUsageRecords(
        pb.ListUsageRecordsRequest(page_size=1000), metadata=ISSUER.member(tenant, "viewer")
    )
    assert sorted(r.event_id for r in listed.records) == sorted(f"c{n}" for n in range(300))


async def test_stream_writes_rows_as_they_arrive_and_reports_by_position(stack: Stack) -> None:
    tenant = new_tenant()

    async def messages() -> AsyncIterator[pb.StreamUsageRequest]:
        yield pb.StreamUsageRequest(records=[row(f"s{n}") for n in range(3)])
        yield pb.StreamUsageRequest(records=[row("s1"), row("s3", input_tokens=-2), row("s4")])
        yield pb.StreamUsageRequest(records=[row(f"s{n}") for n in range(5, 600)])

    reply = await stack.usage.StreamUsage(messages(), metadata=ISSUER.member(tenant, "member"))
    assert reply.message_count == 3
    assert reply.accepted_count == 3 + 1 + 595
    assert list(reply.duplicate_indexes) == [3]
    assert [(r.index, r.field) for r in reply.rejected] == [(4, "records[4].input_tokens")]
    listed = await stack.usage.ListUsageRecords(
        pb.ListUsageRecordsRequest(page_size=1000), metadata=ISSUER.member(tenant, "viewer")
    )
    assert len(listed.records) == 599

    async def another_tenant() -> AsyncIterator[pb.StreamUsageRequest]:
        yield pb.StreamUsageRequest(tenant_id=new_tenant(), records=[row()])

    refused = await failure(
        stack.usage.StreamUsage(another_tenant(), metadata=ISSUER.member(tenant, "member"))
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_trace_ids_come_from_the_calls_trace_context(stack: Stack) -> None:
    tenant = new_tenant()
    trace_id, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    traced = [
        *ISSUER.member(tenant, "member"),
        ("traceparent", f"00-{trace_id}-{caller_span}-01"),
    ]
    reply = await stack.usage.RecordUsage(pb.RecordUsageRequest(record=row()), metadata=traced)
    assert reply.record.trace_id == trace_id
    assert len(reply.record.span_id) == 16 and reply.record.span_id.strip("0")

    explicit_trace, explicit_span = uuid.uuid4().hex, "00f067aa0ba902b7"
    kept = await stack.usage.RecordUsage(
        pb.RecordUsageRequest(record=row(trace_id=explicit_trace, span_id=explicit_span)),
        metadata=traced,
    )
    assert (kept.record.trace_id, kept.record.span_id) == (explicit_trace, explicit_span)
    by_trace = await all_records(stack, tenant, trace_id=trace_id)
    assert [r.event_id for r in by_trace] == [reply.record.event_id]


# ----- scope -----


async def test_tenants_write_and_read_only_their_own_rows(stack: Stack) -> None:
    mine, theirs = new_tenant(), new_tenant()
    await stack.usage.RecordUsage(
        pb.RecordUsageRequest(record=row("mine")), metadata=ISSUER.member(mine, "member")
    )
    await stack.usage.RecordUsage(
        pb.RecordUsageRequest(tenant_id=theirs, record=row("theirs")),
        metadata=ISSUER.internal("conversation"),
    )
    # Writing for another tenant, as a viewer, or as a service without naming one: refused.
    for metadata, tenant_id, code in [
        (ISSUER.member(mine, "owner"), theirs, grpc.StatusCode.PERMISSION_DENIED),
        (ISSUER.member(mine, "viewer"), "", grpc.StatusCode.PERMISSION_DENIED),
        (ISSUER.internal("conversation"), "", grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        refused = await failure(
            stack.usage.RecordUsage(
                pb.RecordUsageRequest(tenant_id=tenant_id, record=row()), metadata=metadata
            )
        )
        assert refused.code() == code
    # Reading: own rows only; another tenant's are refused without saying if any exist.
    assert [r.event_id for r in await all_records(stack, mine)] == ["mine"]
    ranged = {
        "start_time": stamp(DAY_ONE - timedelta(days=1)),
        "end_time": stamp(DAY_ONE + timedelta(days=1)),
    }
    for call in (
        stack.usage.ListUsageRecords(
            pb.ListUsageRecordsRequest(tenant_id=theirs), metadata=ISSUER.member(mine, "owner")
        ),
        stack.usage.SummarizeCost(
            pb.SummarizeCostRequest(tenant_id=theirs, **ranged),
            metadata=ISSUER.member(mine, "owner"),
        ),
        stack.usage.GetCacheSavings(
            pb.GetCacheSavingsRequest(tenant_id=theirs, **ranged),
            metadata=ISSUER.member(mine, "owner"),
        ),
    ):
        assert (await failure(call)).code() == grpc.StatusCode.PERMISSION_DENIED
    summary = await stack.usage.SummarizeCost(
        pb.SummarizeCostRequest(**ranged), metadata=ISSUER.member(mine, "viewer")
    )
    assert summary.total.record_count == 1
    operator = await stack.usage.ListUsageRecords(
        pb.ListUsageRecordsRequest(tenant_id=theirs), metadata=ISSUER.operator()
    )
    assert [r.event_id for r in operator.records] == ["theirs"]


# ----- analytics -----


async def record_known_rows(stack: Stack, tenant: str) -> None:
    """Rows with costs given by the client, so every sum below is known by construction."""
    rows = [
        # day one: model m1 by agent a1 twice, model m2 by agent a2 once
        row(
            "r1",
            model_used="m1",
            agent_id="a1",
            computed_cost_usd="1.5",
            input_tokens=100,
            output_tokens=10,
            token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
            cache_read_input_tokens=300,
            time=stamp(DAY_ONE + timedelta(hours=1)),
        ),
        row(
            "r2",
            model_used="m1",
            agent_id="a1",
            computed_cost_usd="0.25",
            input_tokens=50,
            output_tokens=5,
            time=stamp(DAY_ONE + timedelta(hours=23, minutes=59)),
        ),
        row(
            "r3",
            model_used="m2",
            agent_id="a2",
            computed_cost_usd="2",
            input_tokens=1000,
            output_tokens=100,
            time=stamp(DAY_ONE + timedelta(hours=5)),
        ),
        # day two: m1 by a2, and one unpriced row
        row(
            "r4",
            model_used="m1",
            agent_id="a2",
            computed_cost_usd="0.000000000001",
            input_tokens=1,
            output_tokens=1,
            time=stamp(DAY_ONE + timedelta(days=1, hours=2)),
        ),
        row(
            "r5",
            model_used="m2",
            agent_id="a2",
            input_tokens=7,
            output_tokens=7,
            time=stamp(DAY_ONE + timedelta(days=1, hours=3)),
        ),
        # outside the range
        row(
            "r6",
            model_used="m1",
            agent_id="a1",
            computed_cost_usd="100",
            time=stamp(DAY_ONE + timedelta(days=2)),
        ),
    ]
    reply = await stack.usage.RecordUsageBatch(
        pb.RecordUsageBatchRequest(records=rows), metadata=ISSUER.member(tenant, "member")
    )
    assert reply.accepted_count == len(rows)


def groups_of(
    reply: pb.SummarizeCostResponse, *keys: str
) -> dict[tuple[Any, ...], tuple[int, str, int]]:
    result = {}
    for group in reply.groups:
        key = tuple(
            group.day.ToDatetime(tzinfo=UTC).date() if name == "day" else getattr(group, name)
            for name in keys
        )
        result[key] = (group.record_count, group.cost_usd, group.input_tokens)
    return result


async def test_summarize_cost_by_model_agent_day_and_tenant(stack: Stack) -> None:
    tenant = new_tenant()
    await record_known_rows(stack, tenant)
    viewer = ISSUER.member(tenant, "viewer")
    window = {"start_time": stamp(DAY_ONE), "end_time": stamp(DAY_ONE + timedelta(days=2))}

    def summarize(*dimensions: int) -> Any:
        return stack.usage.SummarizeCost(
            pb.SummarizeCostRequest(group_by=list(dimensions), **window), metadata=viewer
        )

    total = (await summarize()).total
    assert (total.record_count, total.unpriced_count) == (5, 1)
    assert total.cost_usd == "3.750000000001"
    assert (total.input_tokens, total.output_tokens) == (1158, 123)
    assert total.cache_read_input_tokens == 300 and total.total_input_tokens == 1458

    by_model = groups_of(await summarize(pb.COST_DIMENSION_MODEL), "model_used")
    assert by_model == {
        ("m1",): (3, "1.750000000001", 151),
        ("m2",): (2, "2.000000000000", 1007),
    }
    by_agent_day = groups_of(
        await summarize(pb.COST_DIMENSION_AGENT, pb.COST_DIMENSION_DAY), "agent_id", "day"
    )
    day_one, day_two = DAY_ONE.date(), (DAY_ONE + timedelta(days=1)).date()
    assert by_agent_day == {
        ("a1", day_one): (2, "1.750000000000", 150),
        ("a2", day_one): (1, "2.000000000000", 1000),
        ("a2", day_two): (2, "0.000000000001", 8),
    }
    by_tenant = groups_of(await summarize(pb.COST_DIMENSION_TENANT), "tenant_id")
    assert by_tenant == {(tenant,): (5, "3.750000000001", 1158)}

    stated = await summarize()
    assert (stated.start_time, stated.end_time) == (window["start_time"], window["end_time"])
    for bad, field in [
        (pb.SummarizeCostRequest(start_time=stamp(DAY_ONE)), "end_time"),  # now is long after
        (pb.SummarizeCostRequest(start_time=stamp(DAY_ONE), end_time=stamp(DAY_ONE)), "end_time"),
        (pb.SummarizeCostRequest(group_by=[pb.COST_DIMENSION_DAY] * 2, **window), "group_by"),
        (pb.SummarizeCostRequest(group_by=[9], **window), "group_by"),
    ]:
        refused = await failure(stack.usage.SummarizeCost(bad, metadata=viewer))
        assert field in rich_error(refused).field_violations


async def test_cost_and_cache_reports_default_to_the_last_30_days_and_say_so(
    stack: Stack,
) -> None:
    tenant = new_tenant()
    now = datetime.now(UTC)
    await stack.usage.RecordUsageBatch(
        pb.RecordUsageBatchRequest(
            records=[
                row(time=stamp(now - timedelta(days=1)), agent_id="recent"),
                row(time=stamp(now - timedelta(days=40)), agent_id="old"),
            ]
        ),
        metadata=ISSUER.member(tenant, "member"),
    )
    viewer = ISSUER.member(tenant, "viewer")
    cost = await stack.usage.SummarizeCost(
        pb.SummarizeCostRequest(group_by=[pb.COST_DIMENSION_AGENT]), metadata=viewer
    )
    assert [group.agent_id for group in cost.groups] == ["recent"]
    savings = await stack.usage.GetCacheSavings(pb.GetCacheSavingsRequest(), metadata=viewer)
    assert savings.total.record_count == 1
    for reply in (cost, savings):
        start, end = reply.start_time.ToDatetime(UTC), reply.end_time.ToDatetime(UTC)
        assert end - start == timedelta(days=30)
        assert now <= end <= datetime.now(UTC)


async def test_cache_savings_per_model(stack: Stack) -> None:
    tenant = new_tenant()
    member = ISSUER.member(tenant, "member")
    await stack.usage.RecordUsageBatch(
        pb.RecordUsageBatchRequest(
            records=[
                row(
                    token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
                    input_tokens=100,
                    cache_read_input_tokens=900,
                ),
                row(
                    token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
                    input_tokens=500,
                    cache_creation_input_tokens=500,
                ),
                row(
                    provider="openai",
                    model_used="gpt-4o",
                    input_tokens=1000,
                    token_convention=pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED,
                    cache_read_input_tokens=250,
                ),
            ]
        ),
        metadata=member,
    )
    reply = await stack.usage.GetCacheSavings(
        pb.GetCacheSavingsRequest(
            start_time=stamp(DAY_ONE), end_time=stamp(DAY_ONE + timedelta(days=1))
        ),
        metadata=ISSUER.member(tenant, "viewer"),
    )
    models = {m.model_used: m for m in reply.models}
    sonnet = models[SONNET[1]]
    assert (sonnet.record_count, sonnet.total_input_tokens) == (2, 2000)
    assert (sonnet.cache_read_input_tokens, sonnet.cache_creation_input_tokens) == (900, 500)
    assert sonnet.cache_hit_rate == pytest.approx(0.45)
    assert picos(sonnet.cache_cost_savings_usd) == 900 * (SONNET_INPUT - SONNET_CACHE_READ)
    gpt = models["gpt-4o"]
    assert gpt.total_input_tokens == 1000 and gpt.cache_hit_rate == pytest.approx(0.25)
    # gpt-4o's seeded standard rates: input 2.5, cached input 1.25 USD per million tokens.
    assert picos(gpt.cache_cost_savings_usd) == 250 * (2_500_000 - 1_250_000)
    assert reply.total.record_count == 3 and reply.total.cache_hit_rate == pytest.approx(
        1150 / 3000
    )
    assert picos(reply.total.cache_cost_savings_usd) == picos(
        sonnet.cache_cost_savings_usd
    ) + picos(gpt.cache_cost_savings_usd)


async def test_list_filters_and_pages_newest_first(stack: Stack) -> None:
    tenant = new_tenant()
    await record_known_rows(stack, tenant)
    everything = await all_records(stack, tenant)
    assert [r.event_id for r in everything] == ["r6", "r5", "r4", "r2", "r3", "r1"]
    assert [r.event_id for r in await all_records(stack, tenant, model_used="m2")] == ["r5", "r3"]
    assert [r.event_id for r in await all_records(stack, tenant, agent_id="a1")] == [
        "r6",
        "r2",
        "r1",
    ]
    day_two = await all_records(
        stack,
        tenant,
        start_time=stamp(DAY_ONE + timedelta(days=1)),
        end_time=stamp(DAY_ONE + timedelta(days=2)),
    )
    assert [r.event_id for r in day_two] == ["r5", "r4"]
    page = await stack.usage.ListUsageRecords(
        pb.ListUsageRecordsRequest(page_size=1), metadata=ISSUER.member(tenant, "viewer")
    )
    other_filter = await failure(
        stack.usage.ListUsageRecords(
            pb.ListUsageRecordsRequest(page_token=page.next_page_token, model_used="m1"),
            metadata=ISSUER.member(tenant, "viewer"),
        )
    )
    assert "page_token" in rich_error(other_filter).field_violations
    bad_trace = await failure(
        stack.usage.ListUsageRecords(
            pb.ListUsageRecordsRequest(trace_id="not-a-trace"),
            metadata=ISSUER.member(tenant, "viewer"),
        )
    )
    assert "trace_id" in rich_error(bad_trace).field_violations


async def test_list_refuses_a_range_that_ends_before_it_starts(stack: Stack) -> None:
    """The shared time-range rule: an end not after the start, or a bound no Unix-nanosecond
    column can hold, is named, not answered with an empty page."""
    viewer = ISSUER.member(new_tenant(), "viewer")
    for bad, field, description in [
        (
            pb.ListUsageRecordsRequest(start_time=stamp(DAY_ONE), end_time=stamp(DAY_ONE)),
            "end_time",
            "must be after start_time",
        ),
        (
            pb.ListUsageRecordsRequest(
                start_time=stamp(DAY_ONE), end_time=stamp(DAY_ONE - timedelta(days=1))
            ),
            "end_time",
            "must be after start_time",
        ),
        (
            pb.ListUsageRecordsRequest(start_time=stamp(datetime(1969, 12, 31, tzinfo=UTC))),
            "start_time",
            "must lie between 1970 and 2262",
        ),
    ]:
        refused = await failure(stack.usage.ListUsageRecords(bad, metadata=viewer))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rich_error(refused).field_violations == {field: description}


# ----- gateway -----


async def test_gateway_records_lists_and_summarizes(stack: Stack) -> None:
    tenant = new_tenant()
    member = headers(ISSUER.member(tenant, "member"))
    gateway = stack.gateway
    one = {
        "event_id": "g1",
        "time": "2025-03-01T10:00:00Z",
        "provider": SONNET[0],
        "model_used": SONNET[1],
        "agent_id": "agent-7",
        "input_tokens": 1000,
        "output_tokens": 100,
        "token_convention": "input_excludes_cached",
        "cache_read_input_tokens": 1000,
        "metadata": {"turn": 3},
    }
    trace_id = uuid.uuid4().hex
    traced = {**member, "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
    response = await gateway.post("/v1/telemetry/usage", json={"record": one}, headers=traced)
    assert response.status_code == 200, response.text
    stored = response.json()["record"]
    expected = 1000 * SONNET_INPUT + 100 * SONNET_OUTPUT + 1000 * SONNET_CACHE_READ
    assert picos(stored["computed_cost_usd"]) == expected
    assert stored["cost_status"] == "priced" and stored["metadata"] == {"turn": 3}
    assert stored["cache_hit_rate"] == 0.5 and stored["tenant_id"] == tenant
    # Recorded during the gateway request: the row carries that request's trace.
    assert stored["trace_id"] == trace_id and len(stored["span_id"]) == 16

    again = await gateway.post("/v1/telemetry/usage", json={"record": one}, headers=member)
    assert again.json()["duplicate_count"] == 1 and again.json()["record"]["id"] == stored["id"]

    batch = await gateway.post(
        "/v1/telemetry/usage",
        json={
            "records": [
                {**one, "event_id": "g2", "time": "2025-03-02T10:00:00Z"},
                {**one, "event_id": "g3", "trace_id": "nothex"},
                one,
            ]
        },
        headers=member,
    )
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert (body["accepted_count"], body["duplicate_indexes"]) == (1, [2])
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "records[1].trace_id")]

    listed = await gateway.get(
        "/v1/telemetry/usage", params={"agent_id": "agent-7"}, headers=member
    )
    assert [r["event_id"] for r in listed.json()["records"]] == ["g2", "g1"]

    window = {"start_time": "2025-03-01T00:00:00Z", "end_time": "2025-03-03T00:00:00Z"}
    costs = await gateway.get(
        "/v1/telemetry/costs", params={**window, "group_by": ["day", "model"]}, headers=member
    )
    assert costs.status_code == 200, costs.text
    groups = costs.json()["groups"]
    assert [(g["day"][:10], g["model_used"], g["record_count"]) for g in groups] == [
        ("2025-03-01", SONNET[1], 1),
        ("2025-03-02", SONNET[1], 1),
    ]
    assert picos(costs.json()["total"]["cost_usd"]) == 2 * expected

    savings = await gateway.get("/v1/telemetry/cache-savings", params=window, headers=member)
    assert savings.status_code == 200, savings.text
    assert savings.json()["total"]["cache_hit_rate"] == 0.5

    other = headers(ISSUER.member(new_tenant(), "owner"))
    denied = await gateway.get("/v1/telemetry/usage", params={"tenant_id": tenant}, headers=other)
    assert denied.status_code == 403
    assert (await gateway.get("/v1/telemetry/usage", headers=other)).json()["records"] == []
    both = await gateway.post(
        "/v1/telemetry/usage", json={"record": one, "records": [one]}, headers=member
    )
    assert both.status_code == 400
    unknown_dimension = await gateway.get(
        "/v1/telemetry/costs", params={**window, "group_by": "planet"}, headers=member
    )
    assert unknown_dimension.status_code == 400
