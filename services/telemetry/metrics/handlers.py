"""Agent metric time series and agent statistics, free of any transport: protobuf in, protobuf
out. The batch-ingest helpers it shares with the requests and tool usage areas live in
:mod:`services.telemetry.batch_rows`.

Statistics over a window answer from ``(tenant_id, recorded_at, ...)``, an index carrying
every column the aggregate reads; a window is always confined to one tenant, so the scan is
one index range, never the table.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import Select, func, insert, select

from quarterdeck.telemetry.v1 import metrics_pb2 as pb
from services.telemetry.batch_rows import (
    RowRejected,
    analytics_tenant,
    analytics_window,
    bounded_text,
    json_value,
    rejected_protos,
    row_time,
    time_range,
    trace_ids,
    validate_rows,
)
from services.telemetry.context import TelemetryContext
from services.telemetry.metrics.convert import metric_to_proto
from services.telemetry.metrics.models import (
    MAX_AGENT_ID,
    MAX_METRIC_UNIT,
    AgentMetricRecord,
)
from services.telemetry.usage.models import UsageRecord
from shared.db_types import utcnow
from shared.errors import InvalidArgument
from shared.money import PICOS_PER_USD, format_pico, parse_pico
from shared.pagination import fetch_page
from shared.tenant_scope import tenant_for_read, tenant_for_write
from shared.timestamps import to_timestamp

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
    usage_rows: int = 0
    usage_tokens: int = 0
    usage_cost_pico: int = 0

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
            usage_record_count=self.usage_rows,
            usage_tokens=self.usage_tokens,
            usage_cost_usd=format_pico(self.usage_cost_pico),
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


def agent_usage_query(tenant: str, start: datetime, end: datetime, agent_id: str) -> Select:
    """Per agent: usage rows, their tokens and priced cost in the window (rows naming no agent
    are left out)."""
    usage = UsageRecord
    statement = (
        select(
            usage.agent_id,
            func.count(),
            func.sum(usage.total_input_tokens + usage.output_tokens),
            func.sum(usage.computed_cost_picos),
        )
        .where(
            usage.tenant_id == tenant,
            usage.timestamp_unix_nano >= _unix_nanos(start),
            usage.timestamp_unix_nano < _unix_nanos(end),
            usage.agent_id.is_not(None),
            usage.agent_id != "",
        )
        .group_by(usage.agent_id)
    )
    if agent_id:
        statement = statement.where(usage.agent_id == agent_id)
    return statement


#: The range of the signed 64-bit nanosecond columns: a bound beyond it selects what it would.
_MIN_NANOS, _MAX_NANOS = -(2**63), 2**63 - 1


def _unix_nanos(moment: datetime) -> int:
    nanos = int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    return min(max(nanos, _MIN_NANOS), _MAX_NANOS)


class MetricsHandlers:
    def __init__(self, context: TelemetryContext) -> None:
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
            usage = (
                await session.execute(agent_usage_query(tenant, start, end, request.agent_id))
            ).all()
        per_agent: dict[str, _Totals] = {}
        for agent_id, metric_type, count, value_sum, cost_sum in groups:
            per_agent.setdefault(agent_id, _Totals()).add(
                metric_type, int(count), float(value_sum or 0), int(cost_sum or 0)
            )
        for agent_id, rows, tokens, cost in usage:
            totals = per_agent.setdefault(agent_id, _Totals())
            totals.usage_rows += int(rows)
            totals.usage_tokens += int(tokens or 0)
            totals.usage_cost_pico += int(cost or 0)
        total = _Totals()
        for totals in per_agent.values():
            total.merge(totals)
        return pb.GetAgentStatisticsResponse(
            agents=[per_agent[agent].to_proto(agent) for agent in sorted(per_agent)],
            total=total.to_proto(""),
            start_time=to_timestamp(start),
            end_time=to_timestamp(end),
        )
