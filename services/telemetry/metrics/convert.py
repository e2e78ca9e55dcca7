"""Agent metrics as their protobuf messages."""

from __future__ import annotations

from quarterdeck.telemetry.v1 import metrics_pb2 as pb
from services.telemetry.batch_rows import (
    struct_of,
)
from services.telemetry.metrics.models import (
    AgentMetricRecord,
)
from shared.money import format_pico
from shared.timestamps import to_timestamp


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
