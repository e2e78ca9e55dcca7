"""Span export and trace reads, free of any transport: protobuf in, protobuf out."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from google.protobuf.duration_pb2 import Duration
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    exists,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, load_only

from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from services.telemetry.batch_rows import TRACE_ID_PATTERN
from services.telemetry.bulk_insert import BulkTarget, insert_new_rows
from services.telemetry.context import TelemetryContext
from services.telemetry.traces.ingest_auth import ExportOrigin, export_origin
from services.telemetry.traces.models import MAX_SERVICE_NAME, SpanKind, SpanRecord, SpanStatusCode
from services.telemetry.traces.otlp import (
    MAX_UNIX_NANO,
    SPAN_COLUMNS,
    Rejection,
    check_request,
    convert_request,
    rejection_message,
)
from services.telemetry.traces.spool import SpanSpool
from services.telemetry.traces.trace_visibility import visible_spans
from shared.background import PeriodicJob
from shared.db import Database
from shared.db_types import utcnow
from shared.errors import FieldViolation, InvalidArgument, NotFound
from shared.pagination import fetch_page
from shared.proto_enums import to_proto_map
from shared.tenant_scope import tenant_for_read
from shared.time_range import UNIX_NANOS, TimeRange, time_range

NANOS_PER_SECOND = 1_000_000_000
KIND_TO_PROTO = to_proto_map(pb.SpanKind, SpanKind)
STATUS_TO_PROTO = {
    SpanStatusCode.UNSET: pb.SPAN_STATUS_CODE_UNSPECIFIED,
    SpanStatusCode.OK: pb.SPAN_STATUS_CODE_OK,
    SpanStatusCode.ERROR: pb.SPAN_STATUS_CODE_ERROR,
}
#: Spans are stored COPY-first, skipping any (trace_id, span_id, start time) already stored: an
#: exporter retrying a batch stores nothing twice.
SPAN_TARGET = BulkTarget(
    cast(Table, SpanRecord.__table__),
    columns=(*SPAN_COLUMNS, "received_at"),
    conflict_columns=("trace_id", "span_id", "start_time_unix_nano"),
    returning="span_id",
)


def parse_trace_id(value: str) -> str:
    if not TRACE_ID_PATTERN.fullmatch(value):
        raise InvalidArgument.field("trace_id", "must be 32 lowercase hexadecimal characters")
    if not value.strip("0"):
        raise InvalidArgument.field("trace_id", "must not be all zeros")
    return value


def _timestamp(unix_nano: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(unix_nano)  # exact: a datetime would drop the nanoseconds
    return stamp


def _struct(value: dict[str, Any]) -> Struct:
    struct = Struct()
    struct.update(value)
    return struct


def _duration(nanos: int) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(nanos)
    return duration


def span_to_proto(row: SpanRecord, depth: int = 0, parent_missing: bool = False) -> pb.Span:
    return pb.Span(
        trace_id=row.trace_id,
        span_id=row.span_id,
        parent_span_id=row.parent_span_id or "",
        service_name=row.service_name,
        name=row.name,
        kind=KIND_TO_PROTO[row.kind],
        start_time=_timestamp(row.start_time_unix_nano),
        end_time=_timestamp(row.end_time_unix_nano),
        status_code=STATUS_TO_PROTO[row.status_code],
        status_message=row.status_message,
        attributes=_struct(row.attributes),
        tenant_id=row.tenant_id or "",
        depth=depth,
        parent_missing=parent_missing,
        events=[
            pb.SpanEvent(
                name=event.get("name", ""),
                time=_timestamp(int(event.get("time_unix_nano", 0))),
                attributes=_struct(event.get("attributes") or {}),
            )
            for event in row.events
        ],
    )


@dataclass(frozen=True)
class TreeNode:
    """One span placed in its trace's tree."""

    span: SpanRecord
    depth: int
    #: The span names a parent the trace does not hold (or that only leads round a cycle).
    parent_missing: bool


def _by_start(span: SpanRecord) -> tuple[int, str]:
    return (span.start_time_unix_nano, span.span_id)


def trace_tree(spans: Sequence[SpanRecord]) -> list[TreeNode]:
    """The spans depth first from each root, roots and siblings by start time.

    A span whose parent never arrived is a root, reported with ``parent_missing``; so is the
    earliest span of a parent cycle (which no root reaches), so every span is shown exactly once.
    """
    by_id = {span.span_id: span for span in spans}
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    roots: list[SpanRecord] = []
    for span in spans:
        parent = span.parent_span_id
        if parent is None or parent not in by_id or parent == span.span_id:
            roots.append(span)
        else:
            children[parent].append(span)
    for siblings in children.values():
        siblings.sort(key=_by_start)
    ordered: list[TreeNode] = []
    placed: set[str] = set()

    def place(root: SpanRecord) -> None:
        missing = root.parent_span_id is not None
        stack = [(root, 0, missing)]
        while stack:  # iterative: a deep trace must not exhaust Python's recursion limit
            span, depth, parent_missing = stack.pop()
            if span.span_id in placed:
                continue
            placed.add(span.span_id)
            ordered.append(TreeNode(span, depth, parent_missing))
            stack.extend((child, depth + 1, False) for child in reversed(children[span.span_id]))

    for root in sorted(roots, key=_by_start):
        place(root)
    for span in sorted(spans, key=_by_start):  # what is left hangs off a cycle
        if span.span_id not in placed:
            place(span)
    return ordered


@dataclass(frozen=True)
class SpanFilter:
    """What a search asks of a span; every field set must hold."""

    tenant_id: str | None
    service_name: str
    span_name: str
    span_name_prefix: str
    start_unix_nano: int | None
    end_unix_nano: int | None
    min_duration_nano: int
    errors_only: bool

    @classmethod
    def from_request(cls, request: pb.SearchTracesRequest, tenant_id: str | None) -> SpanFilter:
        violations: list[FieldViolation] = []
        try:
            requested = time_range(request, store=UNIX_NANOS)
        except InvalidArgument as error:
            violations.extend(error.violations)
            requested = TimeRange(None, None)
        min_duration = 0
        if request.HasField("min_duration"):
            if not -NANOS_PER_SECOND < request.min_duration.nanos < NANOS_PER_SECOND:
                violations.append(FieldViolation("min_duration", "nanos out of range"))
            elif (
                nanos := request.min_duration.seconds * NANOS_PER_SECOND
                + request.min_duration.nanos
            ) < 0:
                violations.append(FieldViolation("min_duration", "must not be negative"))
            elif nanos > MAX_UNIX_NANO:
                violations.append(FieldViolation("min_duration", "is longer than any span"))
            else:
                min_duration = nanos
        if len(request.service_name) > MAX_SERVICE_NAME:
            violations.append(
                FieldViolation("service_name", f"must be at most {MAX_SERVICE_NAME} characters")
            )
        if request.page_size < 0:
            violations.append(FieldViolation("page_size", "must not be negative"))
        if violations:
            raise InvalidArgument(violations)
        return cls(
            tenant_id=tenant_id,
            service_name=request.service_name,
            span_name=request.span_name,
            span_name_prefix=request.span_name_prefix,
            start_unix_nano=requested.start,
            end_unix_nano=requested.end,
            min_duration_nano=min_duration,
            errors_only=request.errors_only,
        )

    def binding(self) -> dict[str, object]:
        """The filters a page token is sealed to."""
        return asdict(self)

    def conditions(self, span: type[SpanRecord]) -> list[ColumnElement[bool]]:
        """The filter on ``span`` (the table or an alias of it)."""
        where: list[ColumnElement[bool]] = []
        if self.tenant_id is not None:
            where.append(span.tenant_id == self.tenant_id)
        if self.service_name:
            where.append(span.service_name == self.service_name)
        if self.span_name:
            where.append(span.name == self.span_name)
        if self.span_name_prefix:
            # Not LIKE: SQLite's is case-insensitive, and % or _ in the prefix would be wildcards.
            prefix = self.span_name_prefix
            where.append(func.substr(span.name, 1, len(prefix)) == prefix)
        if self.start_unix_nano is not None:
            where.append(span.start_time_unix_nano >= self.start_unix_nano)
        if self.end_unix_nano is not None:
            where.append(span.start_time_unix_nano < self.end_unix_nano)
        if self.min_duration_nano:
            where.append(span.duration_nano >= self.min_duration_nano)
        if self.errors_only:
            where.append(span.status_code == SpanStatusCode.ERROR)
        return where


def search_statement(span_filter: SpanFilter) -> Select[tuple[SpanRecord]]:
    """The newest matching span of each trace that matches (ordering and paging left to
    fetch_page).

    Driven by whichever index leads with the filter's tenant or service (or by the start-time
    index), newest first; each candidate is kept only when no newer span of its own trace
    matches, which probes the primary key (trace_id first) of that one trace. So a trace is
    listed once, at its newest matching span, and a page reads about as many index entries
    as it returns.
    """
    newer = aliased(SpanRecord)
    statement = (
        select(SpanRecord)
        .options(
            load_only(SpanRecord.trace_id, SpanRecord.span_id, SpanRecord.start_time_unix_nano)
        )
        .where(
            *span_filter.conditions(SpanRecord),
            ~exists().where(
                newer.trace_id == SpanRecord.trace_id,
                *span_filter.conditions(newer),
                tuple_(newer.start_time_unix_nano, newer.span_id)
                > tuple_(SpanRecord.start_time_unix_nano, SpanRecord.span_id),
            ),
        )
    )
    return statement


SEARCH_SORT_KEY = (SpanRecord.start_time_unix_nano, SpanRecord.trace_id, SpanRecord.span_id)


def _search_position(row: SpanRecord) -> tuple[int, str, str]:
    return (row.start_time_unix_nano, row.trace_id, row.span_id)


@dataclass
class _TraceFacts:
    span_count: int = 0
    first_start: int = 0
    last_end: int = 0
    has_error: bool = False
    root: tuple[str, str] = ("", "")  # (name, service) of the root span
    tenant_ids: list[str] = field(default_factory=list)


async def _trace_facts(session: AsyncSession, trace_ids: list[str]) -> dict[str, _TraceFacts]:
    """Span count, extent, error flag, root and tenants of each trace, read by primary key."""
    facts: dict[str, _TraceFacts] = {trace_id: _TraceFacts() for trace_id in trace_ids}
    if not trace_ids:
        return facts
    error = func.max(case((SpanRecord.status_code == SpanStatusCode.ERROR, 1), else_=0))
    extents = await session.execute(
        select(
            SpanRecord.trace_id,
            func.count(),
            func.min(SpanRecord.start_time_unix_nano),
            func.max(SpanRecord.end_time_unix_nano),
            error,
        )
        .where(SpanRecord.trace_id.in_(trace_ids))
        .group_by(SpanRecord.trace_id)
    )
    for trace_id, count, first_start, last_end, has_error in extents:
        facts[trace_id] = _TraceFacts(int(count), int(first_start), int(last_end), bool(has_error))
    roots = await session.execute(
        select(SpanRecord.trace_id, SpanRecord.name, SpanRecord.service_name)
        .where(SpanRecord.trace_id.in_(trace_ids), SpanRecord.parent_span_id.is_(None))
        .order_by(SpanRecord.start_time_unix_nano.desc(), SpanRecord.span_id.desc())
    )
    rooted: set[str] = set()
    for trace_id, name, service_name in roots:  # the earliest root is seen last and kept
        facts[trace_id].root = (name, service_name)
        rooted.add(trace_id)
    if unrooted := [trace_id for trace_id in trace_ids if trace_id not in rooted]:
        # No root arrived (yet): the earliest span stands in for it.
        earliest = await session.execute(
            select(SpanRecord.trace_id, SpanRecord.name, SpanRecord.service_name)
            .where(
                or_(
                    *(
                        and_(
                            SpanRecord.trace_id == trace_id,
                            SpanRecord.start_time_unix_nano == facts[trace_id].first_start,
                        )
                        for trace_id in unrooted
                    )
                )
            )
            .order_by(SpanRecord.span_id.desc())
        )
        for trace_id, name, service_name in earliest:
            facts[trace_id].root = (name, service_name)
    tenants = await session.execute(
        select(SpanRecord.trace_id, SpanRecord.tenant_id)
        .where(SpanRecord.trace_id.in_(trace_ids), SpanRecord.tenant_id.is_not(None))
        .distinct()
    )
    for trace_id, tenant_id in tenants:
        facts[trace_id].tenant_ids.append(tenant_id)
    return facts


_FACT_COLUMNS = (
    SpanRecord.trace_id,
    SpanRecord.span_id,
    SpanRecord.parent_span_id,
    SpanRecord.name,
    SpanRecord.service_name,
    SpanRecord.start_time_unix_nano,
    SpanRecord.end_time_unix_nano,
    SpanRecord.status_code,
    SpanRecord.tenant_id,
    SpanRecord.attributes,
)


async def _visible_facts(
    session: AsyncSession, trace_ids: list[str], reader: str
) -> dict[str, _TraceFacts]:
    """:func:`_trace_facts` of the spans ``reader`` may read only (trace_visibility's rule, which
    needs each trace's spans: a page's worth of traces, read by primary key)."""
    facts: dict[str, _TraceFacts] = {trace_id: _TraceFacts() for trace_id in trace_ids}
    if not trace_ids:
        return facts
    by_trace: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in await session.scalars(
        select(SpanRecord)
        .options(load_only(*_FACT_COLUMNS))
        .where(SpanRecord.trace_id.in_(trace_ids))
    ):
        by_trace[span.trace_id].append(span)
    for trace_id, spans in by_trace.items():
        visible = visible_spans(spans, reader)
        if not visible:
            continue
        root = min(visible, key=lambda span: (span.parent_span_id is not None, *_by_start(span)))
        facts[trace_id] = _TraceFacts(
            span_count=len(visible),
            first_start=min(span.start_time_unix_nano for span in visible),
            last_end=max(span.end_time_unix_nano for span in visible),
            has_error=any(span.status_code == SpanStatusCode.ERROR for span in visible),
            root=(root.name, root.service_name),
            tenant_ids=[reader],
        )
    return facts


def _summary(row: SpanRecord, facts: _TraceFacts) -> pb.TraceSummary:
    return pb.TraceSummary(
        trace_id=row.trace_id,
        root_span_name=facts.root[0],
        root_service_name=facts.root[1],
        start_time=_timestamp(facts.first_start),
        duration=_duration(max(0, facts.last_end - facts.first_start)),
        span_count=facts.span_count,
        has_error=facts.has_error,
        tenant_ids=sorted(facts.tenant_ids),
        matched_span_id=row.span_id,
        matched_start_time=_timestamp(row.start_time_unix_nano),
    )


SEARCH_QUERY = "TelemetryService.SearchTraces"


def _span_count(request: ExportTraceServiceRequest) -> int:
    return sum(
        len(scope_spans.spans)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
    )


class SpanHandlers:
    def __init__(self, context: TelemetryContext) -> None:
        self._db = context.database
        self._pages = context.page_tokens
        self._unauthenticated_export = context.settings.otlp_unauthenticated_export
        self._spool = context.state.spool

    async def export(self, request: ExportTraceServiceRequest) -> ExportTraceServiceResponse:
        """Checks the caller (who may export, for which tenant) and the spans, then accepts the
        request into the spool (services.telemetry.traces.spool), whose job stores the spans;
        with the spool off, stores them before answering."""
        origin = export_origin(self._unauthenticated_export)
        if self._spool is None:
            rejections = await self._store(request, origin)
        else:
            rejections = check_request(request)
            if len(rejections) < _span_count(request):
                await self._spool.append(
                    origin.tenant_id, time.time_ns(), request.SerializeToString()
                )
        response = ExportTraceServiceResponse()
        if rejections:
            # OTLP: partial_success stays unset when every span was accepted.
            response.partial_success.rejected_spans = len(rejections)
            response.partial_success.error_message = rejection_message(rejections)
        return response

    async def _store(
        self, request: ExportTraceServiceRequest, origin: ExportOrigin
    ) -> list[Rejection]:
        conversion = convert_request(request, exported_by=origin.tenant_id)
        if conversion.records:
            received = (utcnow(),)
            # The bootstrap suppresses instrumentation inside Export (SPEC.untraced_methods), so
            # storing spans records none that would be exported back here.
            await insert_new_rows(
                self._db,
                SPAN_TARGET,
                [record + received for record in conversion.records],
            )
        return conversion.rejections

    async def get_trace(self, request: pb.GetTraceRequest) -> pb.GetTraceResponse:
        tenant_id = tenant_for_read("")
        trace_id = parse_trace_id(request.trace_id)
        statement = select(SpanRecord).where(SpanRecord.trace_id == trace_id)
        async with self._db.reading() as session:
            rows = (await session.scalars(statement)).all()
        if tenant_id is not None:
            rows = visible_spans(rows, tenant_id)
        if not rows:
            # Another tenant's trace looks exactly like one that does not exist.
            raise NotFound(
                f"trace {trace_id} not found",
                reason="TRACE_NOT_FOUND",
                metadata={"trace_id": trace_id},
            )
        return pb.GetTraceResponse(
            spans=[
                span_to_proto(node.span, node.depth, node.parent_missing)
                for node in trace_tree(rows)
            ]
        )

    async def search_traces(self, request: pb.SearchTracesRequest) -> pb.SearchTracesResponse:
        span_filter = SpanFilter.from_request(request, tenant_for_read(request.tenant_id))
        binding = span_filter.binding()
        statement = search_statement(span_filter)
        if request.page_token:
            # Redundant with fetch_page's row comparison, but an index can seek to it: a later
            # page starts where the last one ended instead of rereading the newer spans.
            newest_start = self._pages.decode(request.page_token, SEARCH_QUERY, binding)[0]
            if isinstance(newest_start, int):
                statement = statement.where(SpanRecord.start_time_unix_nano <= newest_start)
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=SEARCH_SORT_KEY,
                position_of=_search_position,
                codec=self._pages,
                query=SEARCH_QUERY,
                filters=binding,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
            rows = page.items
            # A tenant's search matches its own spans only, and its summaries count only what it
            # may read: another tenant's spans in the same trace neither hide it nor show.
            trace_ids = [row.trace_id for row in rows]
            if span_filter.tenant_id is None:
                facts = await _trace_facts(session, trace_ids)
            else:
                facts = await _visible_facts(session, trace_ids, span_filter.tenant_id)
        return pb.SearchTracesResponse(
            traces=[_summary(row, facts[row.trace_id]) for row in rows],
            next_page_token=page.next_page_token,
        )


async def store_spooled(database: Database, spool: SpanSpool, job: PeriodicJob) -> int:
    """Store what the spool accepted, oldest first, a few exports per transaction, until it is
    empty: a stopping service lets this go on for its grace period (so a replaced replica leaves
    little behind), then cancels it; what is left stays spooled for the next start. Returns the
    exports stored.

    Each export is decoded and converted as Export would have (the same rejections, answered
    already), and stamped with the tenant that exported it. Converting yields to the event loop
    between exports, so Export calls are answered meanwhile. A failed insert leaves the exports
    spooled: the job's next pass tries them again (storing skips spans stored already).

    Untraced, as Export is (SPEC.untraced_methods): a span recorded while storing spans would be
    exported back here, and stored, forever."""
    with suppress_instrumentation():
        return await _store_spooled(database, spool, job)


async def _store_spooled(database: Database, spool: SpanSpool, job: PeriodicJob) -> int:
    stored = 0
    while batch := spool.take():
        rows: list[tuple[Any, ...]] = []
        for export in batch:
            request = ExportTraceServiceRequest.FromString(export.payload)
            records = convert_request(request, exported_by=export.tenant_id).records
            received = (datetime.fromtimestamp(export.received_unix_nano / 1e9, UTC),)
            rows += [record + received for record in records]
            await asyncio.sleep(0)
        await insert_new_rows(database, SPAN_TARGET, rows)
        spool.done(batch)
        stored += len(batch)
    return stored
