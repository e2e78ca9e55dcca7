"""Usage and cost (agent_telemetry), free of any transport: protobuf in, protobuf out.

Writes: every row is checked on its own; a batch stores its valid rows in one statement and
reports each invalid one by index (field and reason), so one bad row never costs the others.
``(tenant_id, event_id)`` is unique and inserts skip rows already stored, so a retried batch
adds nothing and its rows come back as duplicates.

Cost: a row that carries no ``computed_cost_usd`` is priced here with tenancy's price in effect
at its time, from a :class:`~shared.model_prices.PriceCache` and the same math
PriceUsage runs (:mod:`shared.pricing_math`). A row that cannot be priced (no model, a model
tenancy does not know, no price at that time, tenancy unreachable) is still stored, without a
computed cost and with ``cost_status`` saying why: usage is a fact that must not be lost to a
catalogue gap, and the status finds the rows to price again once the catalogue is fixed.

Reads: every analytics query filters on tenant (when confined to one) and a time range, served
by the (tenant_id, timestamp_unix_nano) index; operators' cross-tenant ranges use the
timestamp index.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    bindparam,
    func,
    literal_column,
    select,
)

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from services.telemetry.batch_rows import TRACE_ID_PATTERN
from services.telemetry.bulk_insert import insert_new_rows
from services.telemetry.config import TelemetrySettings
from services.telemetry.usage.convert import record_to_proto
from services.telemetry.usage.models import (
    NANOS_PER_DAY,
    CostStatus,
    UsageRecord,
)
from services.telemetry.usage.rows import (
    _EVENT_AT,
    _MODEL_AT,
    _PROVIDER_AT,
    _STATUS_AT,
    USAGE_TARGET,
    Row,
    _apply_price,
    _check_many,
    _Checked,
    random_uuids,
)
from shared.db import Database, PreparedRead, column_param
from shared.db_types import utcnow
from shared.errors import FieldViolation, InvalidArgument
from shared.model_prices import ModelPrices, PriceCache, PricingUnavailable
from shared.money import format_pico
from shared.pagination import PageTokenCodec, fetch_page
from shared.tenant_scope import tenant_for_read, tenant_for_write
from shared.time_range import UNIX_NANOS, Window, time_range, window
from shared.timestamps import REPORT_WINDOW
from shared.tracing import current_trace_ids

#: The longest range one analytics call may cover.
MAX_RANGE = timedelta(days=400)
DIMENSION_COLUMNS = {
    pb.COST_DIMENSION_TENANT: "tenant_id",
    pb.COST_DIMENSION_MODEL: "model_used",
    pb.COST_DIMENSION_AGENT: "agent_id",
    pb.COST_DIMENSION_DAY: "day",
}


_USAGE = cast(Table, UsageRecord.__table__)
#: A tenant's row by event id, as :func:`record_to_proto` reads it: what RecordUsage answers.
_ROW_BY_EVENT = PreparedRead(
    select(_USAGE).where(
        _USAGE.c.tenant_id == column_param("tenant_id", _USAGE.c.tenant_id),
        _USAGE.c.event_id == column_param("event_id", _USAGE.c.event_id),
    )
)


@dataclass
class WriteResult:
    accepted: int = 0
    duplicate_positions: list[int] = field(default_factory=list)
    rejected: list[pb.RejectedRow] = field(default_factory=list)

    def add(self, other: WriteResult) -> None:
        self.accepted += other.accepted
        self.duplicate_positions += other.duplicate_positions
        self.rejected += other.rejected


def _report_window(request: Any) -> Window:
    """The report's [start, end) in Unix nanoseconds: end defaults to now, start to
    REPORT_WINDOW before end; at most MAX_RANGE long."""
    return window(
        request, default=REPORT_WINDOW, now=time.time_ns(), store=UNIX_NANOS, longest=MAX_RANGE
    )


def _int(value: Any) -> int:
    return int(value or 0)


class UsageHandlers:
    def __init__(
        self,
        database: Database,
        pages: PageTokenCodec,
        settings: TelemetrySettings,
        prices: PriceCache | None,
    ) -> None:
        self._db = database
        self._pages = pages
        self._max_rows = settings.usage_max_batch_rows
        #: None when no tenancy is configured: rows are then stored unpriced.
        self._prices = prices

    # ----- writes -----

    def _check_all(
        self, records: Sequence[pb.UsageRecord], tenant_id: str, first: int, field_name: str
    ) -> tuple[list[_Checked], list[pb.RejectedRow]]:
        received_at = utcnow()
        received_ns = int(received_at.timestamp() * 10**9)
        trace_ids = current_trace_ids()
        row_ids = random_uuids(len(records))
        checked: list[_Checked] = []
        rejected: list[pb.RejectedRow] = []
        outcomes = _check_many(
            records, field_name, tenant_id, received_ns, trace_ids, received_at, row_ids
        )
        for offset, outcome in enumerate(outcomes):
            position = first + offset
            if isinstance(outcome, list):
                rejected += [
                    pb.RejectedRow(index=position, field=v.field, description=v.description)
                    for v in outcome
                ]
            else:
                checked.append(_Checked(position, *outcome))
        return checked, rejected

    async def _price(self, rows: Sequence[_Checked]) -> None:
        """Price every row that carries no cost: one cache lookup per distinct model."""
        wanted: dict[tuple[str, str], list[_Checked]] = {}
        for checked in rows:
            row = checked.row
            if row[_STATUS_AT] is CostStatus.CLIENT:
                continue
            if not row[_MODEL_AT] or not row[_PROVIDER_AT]:
                row[_STATUS_AT] = CostStatus.NO_MODEL
                continue
            wanted.setdefault((row[_PROVIDER_AT], row[_MODEL_AT]), []).append(checked)
        for (provider, model_name), group in wanted.items():
            prices: ModelPrices | None = None
            unavailable = self._prices is None
            if self._prices is not None:
                try:
                    prices = await self._prices.model_prices(provider, model_name)
                except PricingUnavailable:
                    unavailable = True
            for checked in group:
                _apply_price(checked, prices, unavailable)

    async def _store(self, rows: Sequence[_Checked]) -> WriteResult:
        """Insert the rows in one statement, skipping event ids already stored (or repeated
        in ``rows``); returns which positions were duplicates."""
        result = WriteResult()
        unique: list[_Checked] = []
        seen: set[str] = set()
        for checked in rows:
            event_id = checked.row[_EVENT_AT]
            if event_id in seen:
                result.duplicate_positions.append(checked.position)
            else:
                seen.add(event_id)
                unique.append(checked)
        if not unique:
            return result
        await self._price(unique)
        inserted = await self._insert([checked.row for checked in unique])
        result.accepted = len(inserted)
        result.duplicate_positions += [
            c.position for c in unique if c.row[_EVENT_AT] not in inserted
        ]
        result.duplicate_positions.sort()
        return result

    async def _insert(self, rows: list[Row]) -> set[str]:
        """Store the rows of one tenant whose event ids are not stored yet, in one transaction;
        returns the event ids actually inserted."""
        # The rows as they are: COPY (and SQLite's insert) index them, list or tuple alike.
        return set(await insert_new_rows(self._db, USAGE_TARGET, rows))

    async def record_usage(self, request: pb.RecordUsageRequest) -> pb.RecordUsageResponse:
        tenant_id = tenant_for_write(request.tenant_id)
        checked, rejected = self._check_all([request.record], tenant_id, 0, "record")
        if rejected:
            raise InvalidArgument(
                [
                    FieldViolation(r.field.replace("record[0]", "record", 1), r.description)
                    for r in rejected
                ]
            )
        result = await self._store(checked)
        # The row as stored (this call's, or the one its event id already named).
        [row] = await self._db.fetch_prepared(
            _ROW_BY_EVENT, {"tenant_id": tenant_id, "event_id": request.record.event_id}
        )
        return pb.RecordUsageResponse(record=record_to_proto(row), duplicate=not result.accepted)

    def _check_size(self, records: Sequence[pb.UsageRecord]) -> None:
        if not records:
            raise InvalidArgument.field("records", "must hold at least one row")
        if len(records) > self._max_rows:
            raise InvalidArgument.field("records", f"must hold at most {self._max_rows} rows")

    async def record_usage_batch(
        self, request: pb.RecordUsageBatchRequest
    ) -> pb.RecordUsageBatchResponse:
        tenant_id = tenant_for_write(request.tenant_id)
        self._check_size(request.records)
        checked, rejected = self._check_all(request.records, tenant_id, 0, "records")
        result = await self._store(checked)
        return pb.RecordUsageBatchResponse(
            accepted_count=result.accepted,
            duplicate_count=len(result.duplicate_positions),
            duplicate_indexes=result.duplicate_positions,
            rejected=rejected,
        )

    async def stream_usage(
        self, messages: AsyncIterator[pb.StreamUsageRequest]
    ) -> pb.StreamUsageResponse:
        tenant_id: str | None = None
        total = WriteResult()
        pending: list[_Checked] = []
        position = 0
        message_count = 0
        async for message in messages:
            if tenant_id is None:
                tenant_id = tenant_for_write(message.tenant_id)
            elif message.tenant_id and message.tenant_id != tenant_id:
                raise InvalidArgument.field(
                    "tenant_id", "must be empty or the first message's tenant"
                )
            if len(message.records) > self._max_rows:
                raise InvalidArgument.field(
                    "records", f"must hold at most {self._max_rows} rows per message"
                )
            checked, rejected = self._check_all(message.records, tenant_id, position, "records")
            for rejection in rejected:
                # Name the row by its stream position, as the index does.
                rejection.field = re.sub(
                    r"^records\[\d+\]", f"records[{rejection.index}]", rejection.field
                )
            total.rejected += rejected
            pending += checked
            position += len(message.records)
            message_count += 1
            if len(pending) >= self._max_rows // 2:
                total.add(await self._store(pending))
                pending = []
        if pending:
            total.add(await self._store(pending))
        return pb.StreamUsageResponse(
            accepted_count=total.accepted,
            duplicate_count=len(total.duplicate_positions),
            duplicate_indexes=sorted(total.duplicate_positions),
            rejected=total.rejected,
            message_count=message_count,
        )

    # ----- reads -----

    async def list_usage_records(
        self, request: pb.ListUsageRecordsRequest
    ) -> pb.ListUsageRecordsResponse:
        tenant_id = tenant_for_read(request.tenant_id)
        statement = select(UsageRecord)
        filters: dict[str, object] = {}
        if tenant_id is not None:
            statement = statement.where(UsageRecord.tenant_id == tenant_id)
            filters["tenant_id"] = tenant_id
        requested = time_range(request, store=UNIX_NANOS)
        if requested.start is not None:
            statement = statement.where(UsageRecord.timestamp_unix_nano >= requested.start)
            filters["start"] = requested.start
        if requested.end is not None:
            statement = statement.where(UsageRecord.timestamp_unix_nano < requested.end)
            filters["end"] = requested.end
        if request.trace_id and not TRACE_ID_PATTERN.fullmatch(request.trace_id):
            raise InvalidArgument.field("trace_id", "must be 32 lowercase hexadecimal characters")
        for name in ("model_used", "agent_id", "trace_id"):
            value = getattr(request, name)
            if value:
                statement = statement.where(getattr(UsageRecord, name) == value)
                filters[name] = value
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(UsageRecord.timestamp_unix_nano, UsageRecord.id),
                codec=self._pages,
                query="UsageService.ListUsageRecords",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return pb.ListUsageRecordsResponse(
            records=[record_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    def _range_filter(self, tenant_id: str | None, start: int, end: int) -> list[Any]:
        # Rendered as literals: PostgreSQL then plans each call for its own tenant and range
        # instead of settling on one generic plan that guesses a hundred rows and sorts a
        # big tenant's month on disk (67-83 ms against 135-190 ms at a million rows).
        timestamp = UsageRecord.timestamp_unix_nano
        conditions: list[Any] = [
            timestamp >= bindparam(None, start, type_=timestamp.type, literal_execute=True),
            timestamp < bindparam(None, end, type_=timestamp.type, literal_execute=True),
        ]
        if tenant_id is not None:
            column = UsageRecord.tenant_id
            conditions.append(
                column == bindparam(None, tenant_id, type_=column.type, literal_execute=True)
            )
        return conditions

    async def summarize_cost(self, request: pb.SummarizeCostRequest) -> pb.SummarizeCostResponse:
        tenant_id = tenant_for_read(request.tenant_id)
        used = _report_window(request)
        start, end = used.start, used.end
        names: list[str] = []
        for dimension in request.group_by:
            if dimension not in DIMENSION_COLUMNS:
                raise InvalidArgument.field("group_by", "is not a known dimension")
            if DIMENSION_COLUMNS[dimension] in names:
                raise InvalidArgument.field("group_by", "names a dimension twice")
            names.append(DIMENSION_COLUMNS[dimension])
        keys: list[ColumnElement[Any]] = [
            # Spelled as the expression migration 0008 keeps statistics on, so PostgreSQL
            # expects about one group per day rather than one per row.
            (
                UsageRecord.timestamp_unix_nano // literal_column(str(NANOS_PER_DAY), BigInteger)
            ).label("day")
            if name == "day"
            else getattr(UsageRecord, name).label(name)
            for name in names
        ]
        sums = [
            func.count().label("record_count"),
            func.count(UsageRecord.computed_cost_picos).label("priced_count"),
            func.sum(UsageRecord.input_tokens).label("input_tokens"),
            func.sum(UsageRecord.output_tokens).label("output_tokens"),
            func.sum(UsageRecord.cache_creation_input_tokens).label("cache_creation"),
            func.sum(UsageRecord.cache_read_input_tokens).label("cache_read"),
            func.sum(UsageRecord.total_input_tokens).label("total_input"),
            func.sum(UsageRecord.computed_cost_picos).label("cost"),
            func.sum(UsageRecord.cache_cost_savings_picos).label("savings"),
        ]
        statement = select(*keys, *sums).where(*self._range_filter(tenant_id, start, end))
        if keys:
            statement = statement.group_by(*keys).order_by(*keys)
        async with self._db.reading() as session:
            rows = (await session.execute(statement)).mappings().all()
        groups: list[pb.CostGroup] = []
        total = pb.CostGroup()
        total_cost = total_savings = 0
        for row in rows:
            if not row["record_count"]:
                continue
            group = pb.CostGroup(
                record_count=_int(row["record_count"]),
                unpriced_count=_int(row["record_count"]) - _int(row["priced_count"]),
                input_tokens=_int(row["input_tokens"]),
                output_tokens=_int(row["output_tokens"]),
                cache_creation_input_tokens=_int(row["cache_creation"]),
                cache_read_input_tokens=_int(row["cache_read"]),
                total_input_tokens=_int(row["total_input"]),
                cost_usd=format_pico(_int(row["cost"])),
                cache_cost_savings_usd=format_pico(_int(row["savings"])),
            )
            for name in names:
                if name == "day":
                    group.day.FromNanoseconds(_int(row["day"]) * NANOS_PER_DAY)
                else:
                    setattr(group, name, row[name] or "")
            groups.append(group)
            _accumulate(total, group)
            total_cost += _int(row["cost"])
            total_savings += _int(row["savings"])
        total.cost_usd = format_pico(total_cost)
        total.cache_cost_savings_usd = format_pico(total_savings)
        return pb.SummarizeCostResponse(groups=groups if keys else [], total=total, **used.stated())

    async def get_cache_savings(
        self, request: pb.GetCacheSavingsRequest
    ) -> pb.GetCacheSavingsResponse:
        tenant_id = tenant_for_read(request.tenant_id)
        used = _report_window(request)
        start, end = used.start, used.end
        statement = (
            select(
                UsageRecord.model_used,
                func.count().label("record_count"),
                func.sum(UsageRecord.total_input_tokens).label("total_input"),
                func.sum(UsageRecord.cache_read_input_tokens).label("cache_read"),
                func.sum(UsageRecord.cache_creation_input_tokens).label("cache_creation"),
                func.sum(UsageRecord.cache_cost_savings_picos).label("savings"),
            )
            .where(*self._range_filter(tenant_id, start, end))
            .group_by(UsageRecord.model_used)
            .order_by(UsageRecord.model_used)
        )
        async with self._db.reading() as session:
            rows = (await session.execute(statement)).mappings().all()
        models = [
            _savings(
                row["model_used"] or "",
                _int(row["record_count"]),
                _int(row["total_input"]),
                _int(row["cache_read"]),
                _int(row["cache_creation"]),
                _int(row["savings"]),
            )
            for row in rows
        ]
        total = _savings(
            "",
            sum(m.record_count for m in models),
            sum(m.total_input_tokens for m in models),
            sum(m.cache_read_input_tokens for m in models),
            sum(m.cache_creation_input_tokens for m in models),
            sum(_int(row["savings"]) for row in rows),
        )
        return pb.GetCacheSavingsResponse(models=models, total=total, **used.stated())


def _savings(
    model: str, count: int, total_input: int, cache_read: int, cache_creation: int, savings: int
) -> pb.ModelCacheSavings:
    return pb.ModelCacheSavings(
        model_used=model,
        record_count=count,
        total_input_tokens=total_input,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
        cache_hit_rate=cache_read / total_input if total_input else 0.0,
        cache_cost_savings_usd=format_pico(savings),
    )


def _accumulate(total: pb.CostGroup, group: pb.CostGroup) -> None:
    for name in (
        "record_count",
        "unpriced_count",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "total_input_tokens",
    ):
        setattr(total, name, getattr(total, name) + getattr(group, name))
