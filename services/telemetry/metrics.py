"""Agent metric time series and agent statistics, free of any transport: protobuf in, protobuf
out. Also the batch-ingest helpers the requests and tool usage areas share with it: a row that
fails validation is reported by its index while the rest of the batch is stored.

Statistics over a window answer from ``(tenant_id, recorded_at, ...)``, an index carrying
every column the aggregate reads; a window is always confined to one tenant, so the scan is
one index range, never the table.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import ColumnElement, Select, func, insert, select

from quarterdeck.telemetry.v1 import metrics_pb2 as pb
from services.telemetry.config import TelemetrySettings
from services.telemetry.models_metrics import (
    MAX_AGENT_ID,
    MAX_METRIC_UNIT,
    AgentMetricRecord,
)
from services.telemetry.scope import tenant_for_read, tenant_for_write
from shared.auth import require_principal
from shared.db_types import utcnow
from shared.errors import DomainError, InvalidArgument
from shared.money import PICOS_PER_USD, format_pico, parse_pico
from shared.pagination import fetch_page
from shared.server import ServiceContext
from shared.timestamps import from_timestamp, to_timestamp
from shared.tracing import current_trace_ids

#: The most rows one Record* call takes.
MAX_BATCH = 1000
#: The largest JSON value (context, args, result) stored per row, serialized.
MAX_JSON_BYTES = 64 * 1024
#: How far in the future a row's time may lie, for clock skew only.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: The window of an analytic whose start is not given.
DEFAULT_WINDOW = timedelta(hours=24)

TRACE_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
SPAN_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
METRIC_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,49}")

LATENCY, TOKENS, COST, SUCCESS_RATE, ERROR_RATE = (
    "latency",
    "tokens",
    "cost",
    "success_rate",
    "error_rate",
)
PERCENT_TYPES = frozenset({SUCCESS_RATE, ERROR_RATE})
STATISTICS_TYPES = (LATENCY, TOKENS, COST, SUCCESS_RATE, ERROR_RATE)

RowT = TypeVar("RowT")


# -- Batch-ingest helpers shared by the metrics, requests and tool usage areas -------------------


class RowRejected(Exception):
    """One row of a batch is invalid; the others are still stored."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


@dataclass(frozen=True)
class Rejection:
    index: int
    field: str
    description: str


def check_batch(rows: Sequence[object], field: str) -> None:
    if len(rows) > MAX_BATCH:
        raise InvalidArgument.field(field, f"must hold at most {MAX_BATCH} rows per call")


def validate_rows(
    rows: Sequence[RowT], field: str, convert: Callable[[str, RowT], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Each row converted to column values, or the reason it was refused (by index).

    ``convert`` gets the row's field prefix (``metrics[3]``) and raises :class:`RowRejected`, or
    a DomainError from the tenant checks, which refuses the row, not the batch.
    """
    require_principal()  # an anonymous caller is refused outright, not row by row
    check_batch(rows, field)
    accepted: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    for index, row in enumerate(rows):
        prefix = f"{field}[{index}]"
        try:
            accepted.append(convert(prefix, row))
        except RowRejected as bad:
            rejected.append(Rejection(index, bad.field, bad.description))
        except InvalidArgument as bad:
            for violation in bad.violations:
                rejected.append(
                    Rejection(index, f"{prefix}.{violation.field}", violation.description)
                )
        except DomainError as refused:
            # A tenant this caller may not write to: refused per row, like any other bad row.
            rejected.append(Rejection(index, f"{prefix}.tenant_id", refused.message))
    return accepted, rejected


def trace_ids(prefix: str, trace_id: str, span_id: str) -> tuple[str | None, str | None]:
    """The row's trace and span ids: as given (validated), else the current span's."""
    if not trace_id and not span_id:
        current_trace, current_span = current_trace_ids()
        return current_trace or None, current_span or None
    if trace_id and (not TRACE_ID_PATTERN.fullmatch(trace_id) or not trace_id.strip("0")):
        raise RowRejected(f"{prefix}.trace_id", "must be 32 lowercase hexadecimal characters")
    if span_id and (not SPAN_ID_PATTERN.fullmatch(span_id) or not span_id.strip("0")):
        raise RowRejected(f"{prefix}.span_id", "must be 16 lowercase hexadecimal characters")
    if span_id and not trace_id:
        raise RowRejected(f"{prefix}.trace_id", "is required when span_id is set")
    return trace_id or None, span_id or None


def row_time(prefix: str, field: str, message: Message, now: datetime) -> datetime:
    """When the row happened: the given time (not in the future), else now."""
    if not message.HasField(field):
        return now
    stamp: Timestamp = getattr(message, field)
    try:
        value = from_timestamp(stamp)
    except (ValueError, OverflowError):
        raise RowRejected(f"{prefix}.{field}", "is not a valid time") from None
    if value > now + FUTURE_TOLERANCE:
        raise RowRejected(f"{prefix}.{field}", "must not lie in the future")
    return value


def bounded_text(prefix: str, field: str, value: str, limit: int, required: bool = False) -> str:
    if required and not value.strip():
        raise RowRejected(f"{prefix}.{field}", "is required")
    if len(value) > limit:
        raise RowRejected(f"{prefix}.{field}", f"must be at most {limit} characters")
    return value


def json_value(prefix: str, field: str, value: Any) -> Any:
    """A JSON value to store: finite numbers only, at most MAX_JSON_BYTES serialized."""
    try:
        encoded = json.dumps(value, allow_nan=False)
    except ValueError:
        raise RowRejected(f"{prefix}.{field}", "numbers must be finite") from None
    if len(encoded.encode()) > MAX_JSON_BYTES:
        raise RowRejected(f"{prefix}.{field}", f"must be at most {MAX_JSON_BYTES} bytes as JSON")
    return value


def rejected_protos(rejections: list[Rejection], proto_type: type[RowT]) -> list[RowT]:
    return [
        proto_type(index=r.index, field=r.field, description=r.description)  # type: ignore[call-arg]
        for r in rejections
    ]


def time_range(
    column: Any, request: Message, start_field: str = "start_time", end_field: str = "end_time"
) -> tuple[list[ColumnElement[bool]], dict[str, str]]:
    """Filters for an optional [start, end) range, and their values for page-token binding."""
    conditions: list[ColumnElement[bool]] = []
    bound: dict[str, str] = {}
    start = from_timestamp(getattr(request, start_field)) if request.HasField(start_field) else None
    end = from_timestamp(getattr(request, end_field)) if request.HasField(end_field) else None
    if start is not None and end is not None and end <= start:
        raise InvalidArgument.field(end_field, f"must be after {start_field}")
    if start is not None:
        conditions.append(column >= start)
        bound[start_field] = start.isoformat()
    if end is not None:
        conditions.append(column < end)
        bound[end_field] = end.isoformat()
    return conditions, bound


def analytics_window(request: Message) -> tuple[datetime, datetime]:
    """An analytic's [start, end): end defaults to now, start to DEFAULT_WINDOW before it."""
    end = from_timestamp(request.end_time) if request.HasField("end_time") else utcnow()
    start = (
        from_timestamp(request.start_time)
        if request.HasField("start_time")
        else end - DEFAULT_WINDOW
    )
    if end <= start:
        raise InvalidArgument.field("end_time", "must be after start_time")
    return start, end


def analytics_tenant(requested: str) -> str:
    """The one tenant an analytic reads: every analytic is one index range of one tenant."""
    tenant = tenant_for_read(requested)
    if tenant is None:
        raise InvalidArgument.field("tenant_id", "is required: analytics read one tenant")
    return tenant


def struct_of(value: dict[str, Any]) -> Struct:
    struct = Struct()
    struct.update(value)
    return struct


# -- Metrics -----------------------------------------------------------------------------------


def _metric_columns(prefix: str, metric: pb.AgentMetric, now: datetime) -> dict[str, Any]:
    tenant_id = tenant_for_write(metric.tenant_id, "tenant_id")
    bounded_text(prefix, "agent_id", metric.agent_id, MAX_AGENT_ID, required=True)
    if not METRIC_TYPE_PATTERN.fullmatch(metric.metric_type):
        raise RowRejected(
            f"{prefix}.metric_type",
            "must be 1 to 50 lowercase letters, digits or underscores, starting with a letter",
        )
    bounded_text(prefix, "metric_unit", metric.metric_unit, MAX_METRIC_UNIT)
    cost_pico: int | None = None
    value = metric.metric_value
    if metric.metric_type == COST:
        if not metric.cost_usd:
            raise RowRejected(f"{prefix}.cost_usd", "is required for a cost point")
        try:
            cost_pico = parse_pico(metric.cost_usd, "cost_usd")
        except InvalidArgument as bad:
            raise RowRejected(f"{prefix}.cost_usd", bad.violations[0].description) from None
        value = cost_pico / PICOS_PER_USD  # for charts only; sums read cost_pico
    elif metric.cost_usd:
        raise RowRejected(f"{prefix}.cost_usd", "is only for cost points")
    if not math.isfinite(value):
        raise RowRejected(f"{prefix}.metric_value", "must be a finite number")
    if metric.metric_type in (LATENCY, TOKENS) and value < 0:
        raise RowRejected(f"{prefix}.metric_value", "must not be negative")
    if metric.metric_type == TOKENS and not value.is_integer():
        raise RowRejected(f"{prefix}.metric_value", "must be a whole number of tokens")
    if metric.metric_type in PERCENT_TYPES and not 0 <= value <= 100:
        raise RowRejected(f"{prefix}.metric_value", "must be a percentage from 0 to 100")
    trace_id, span_id = trace_ids(prefix, metric.trace_id, metric.span_id)
    context = MessageToDict(metric.context) if metric.HasField("context") else {}
    return {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "agent_id": metric.agent_id,
        "metric_type": metric.metric_type,
        "metric_value": value,
        "metric_unit": metric.metric_unit or None,
        "cost_pico": cost_pico,
        "recorded_at": row_time(prefix, "record_time", metric, now),
        "context": json_value(prefix, "context", context),
        "trace_id": trace_id,
        "span_id": span_id,
    }


def metric_to_proto(row: AgentMetricRecord) -> pb.AgentMetric:
    return pb.AgentMetric(
        id=str(row.id),
        tenant_id=row.tenant_id,
        agent_id=row.agent_id,
        metric_type=row.metric_type,
        metric_value=row.metric_value,
        metric_unit=row.metric_unit or "",
        cost_usd=format_pico(row.cost_pico) if row.cost_pico is not None else "",
        record_time=to_timestamp(row.recorded_at),
        context=struct_of(row.context),
        trace_id=row.trace_id or "",
        span_id=row.span_id or "",
    )


@dataclass
class _Totals:
    tasks: int = 0
    latency_sum: float = 0.0
    tokens: float = 0.0
    cost_pico: int = 0
    success_count: int = 0
    success_sum: float = 0.0
    error_count: int = 0
    error_sum: float = 0.0

    def add(self, metric_type: str, count: int, value_sum: float, cost_sum: int) -> None:
        if metric_type == LATENCY:
            self.tasks += count
            self.latency_sum += value_sum
        elif metric_type == TOKENS:
            self.tokens += value_sum
        elif metric_type == COST:
            self.cost_pico += cost_sum
        elif metric_type == SUCCESS_RATE:
            self.success_count += count
            self.success_sum += value_sum
        elif metric_type == ERROR_RATE:
            self.error_count += count
            self.error_sum += value_sum

    def merge(self, other: _Totals) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_proto(self, agent_id: str) -> pb.AgentStatistics:
        return pb.AgentStatistics(
            agent_id=agent_id,
            task_count=self.tasks,
            success_rate=self.success_sum / self.success_count if self.success_count else 0.0,
            error_rate=self.error_sum / self.error_count if self.error_count else 0.0,
            average_latency_ms=self.latency_sum / self.tasks if self.tasks else 0.0,
            total_tokens=round(self.tokens),
            total_cost_usd=format_pico(self.cost_pico),
        )


def agent_statistics_query(tenant: str, start: datetime, end: datetime, agent_id: str) -> Select:
    """Per agent and metric type: points, their sum, and the exact cost sum in the window."""
    metric = AgentMetricRecord
    statement = (
        select(
            metric.agent_id,
            metric.metric_type,
            func.count(),
            func.sum(metric.metric_value),
            func.sum(metric.cost_pico),
        )
        .where(
            metric.tenant_id == tenant,
            metric.recorded_at >= start,
            metric.recorded_at < end,
            metric.metric_type.in_(STATISTICS_TYPES),
        )
        .group_by(metric.agent_id, metric.metric_type)
    )
    if agent_id:
        statement = statement.where(metric.agent_id == agent_id)
    return statement


class MetricsHandlers:
    def __init__(self, context: ServiceContext[TelemetrySettings]) -> None:
        self._db = context.database
        self._page_tokens = context.page_tokens

    async def record_metrics(self, request: pb.RecordMetricsRequest) -> pb.RecordMetricsResponse:
        now = utcnow()
        rows, rejected = validate_rows(
            request.metrics, "metrics", lambda prefix, m: _metric_columns(prefix, m, now)
        )
        if rows:
            async with self._db.transaction() as session:
                await session.execute(insert(AgentMetricRecord), rows)
        return pb.RecordMetricsResponse(
            recorded_count=len(rows), rejected=rejected_protos(rejected, pb.RejectedMetric)
        )

    async def list_metrics(self, request: pb.ListMetricsRequest) -> pb.ListMetricsResponse:
        tenant = tenant_for_read(request.tenant_id)
        if not request.agent_id:
            raise InvalidArgument.field("agent_id", "is required")
        statement = select(AgentMetricRecord).where(AgentMetricRecord.agent_id == request.agent_id)
        filters: dict[str, Any] = {"tenant_id": tenant, "agent_id": request.agent_id}
        if tenant is not None:
            statement = statement.where(AgentMetricRecord.tenant_id == tenant)
        if request.metric_type:
            statement = statement.where(AgentMetricRecord.metric_type == request.metric_type)
            filters["metric_type"] = request.metric_type
        conditions, bound = time_range(AgentMetricRecord.recorded_at, request)
        statement = statement.where(*conditions)
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[AgentMetricRecord.recorded_at, AgentMetricRecord.id],
                position_of=lambda row: [row.recorded_at, row.id],
                codec=self._page_tokens,
                query="ListMetrics",
                filters={**filters, **bound},
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListMetricsResponse(
            metrics=[metric_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def get_agent_statistics(
        self, request: pb.GetAgentStatisticsRequest
    ) -> pb.GetAgentStatisticsResponse:
        tenant = analytics_tenant(request.tenant_id)
        start, end = analytics_window(request)
        statement = agent_statistics_query(tenant, start, end, request.agent_id)
        async with self._db.reading() as session:
            groups = (await session.execute(statement)).all()
        per_agent: dict[str, _Totals] = {}
        for agent_id, metric_type, count, value_sum, cost_sum in groups:
            per_agent.setdefault(agent_id, _Totals()).add(
                metric_type, int(count), float(value_sum or 0), int(cost_sum or 0)
            )
        total = _Totals()
        for totals in per_agent.values():
            total.merge(totals)
        return pb.GetAgentStatisticsResponse(
            agents=[per_agent[agent].to_proto(agent) for agent in sorted(per_agent)],
            total=total.to_proto(""),
            start_time=to_timestamp(start),
            end_time=to_timestamp(end),
        )
