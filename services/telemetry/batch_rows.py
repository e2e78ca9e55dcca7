"""Batch-ingest helpers shared by the metrics, requests and tool usage areas: a row that fails
validation is reported by its index while the rest of the batch is stored. Also the read-side
helpers those areas share: an optional time range and an analytic's window (both by
shared.time_range's rule), an analytic's tenant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import ColumnElement

from shared.auth import require_principal
from shared.db_types import utcnow
from shared.errors import DomainError, InvalidArgument
from shared.tenant_scope import tenant_for_read
from shared.time_range import RangeRequest, window
from shared.time_range import time_range as shared_time_range
from shared.timestamps import from_timestamp
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

RowT = TypeVar("RowT")


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
        # Every row-rejection message has these three fields; RowT cannot say so.
        proto_type(index=r.index, field=r.field, description=r.description)  # type: ignore[call-arg]
        for r in rejections
    ]


def time_range(
    column: Any, request: Message, start_field: str = "start_time", end_field: str = "end_time"
) -> tuple[list[ColumnElement[bool]], dict[str, str]]:
    """Filters for an optional [start, end) range, and their values for page-token binding."""
    requested = shared_time_range(request, start_field=start_field, end_field=end_field)
    conditions: list[ColumnElement[bool]] = []
    bound: dict[str, str] = {}
    if (start := requested.start_at) is not None:
        conditions.append(column >= start)
        bound[start_field] = start.isoformat()
    if (end := requested.end_at) is not None:
        conditions.append(column < end)
        bound[end_field] = end.isoformat()
    return conditions, bound


def analytics_window(request: RangeRequest) -> tuple[datetime, datetime]:
    """An analytic's [start, end): end defaults to now, start to DEFAULT_WINDOW before it."""
    used = window(request, default=DEFAULT_WINDOW, now=utcnow())
    return used.start_at, used.end_at


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
