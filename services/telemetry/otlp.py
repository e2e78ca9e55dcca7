"""Pure conversion of an OTLP trace export into ``spans`` rows, rejecting malformed spans.

Nothing here touches a database or the clock, so every rule can be tested on plain messages.
A span that breaks a rule is rejected on its own, with its position in the request; the good
spans of the same request are still converted (OTLP partial success).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from services.telemetry.models import MAX_SERVICE_NAME, MAX_TENANT_ID, SpanKind, SpanStatusCode

JSONValue = None | bool | int | float | str | list[Any] | dict[str, Any]

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
#: The spans table stores times as signed 64-bit integers (good until the year 2262).
MAX_UNIX_NANO = 2**63 - 1
SERVICE_NAME_KEY = "service.name"
#: Where a span names its tenant, most specific first; the resource is asked after the span.
TENANT_KEYS = ("quarterdeck.tenant_id", "tenant.id")
#: OTel's own name for a process that did not set service.name.
UNKNOWN_SERVICE = "unknown_service"
#: How many rejections the partial-success message spells out before summarising the rest.
MAX_LISTED_REJECTIONS = 10

KIND_FROM_OTLP = {
    Span.SPAN_KIND_UNSPECIFIED: SpanKind.UNSPECIFIED,
    Span.SPAN_KIND_INTERNAL: SpanKind.INTERNAL,
    Span.SPAN_KIND_SERVER: SpanKind.SERVER,
    Span.SPAN_KIND_CLIENT: SpanKind.CLIENT,
    Span.SPAN_KIND_PRODUCER: SpanKind.PRODUCER,
    Span.SPAN_KIND_CONSUMER: SpanKind.CONSUMER,
}
STATUS_FROM_OTLP = {
    Status.STATUS_CODE_UNSET: SpanStatusCode.UNSET,
    Status.STATUS_CODE_OK: SpanStatusCode.OK,
    Status.STATUS_CODE_ERROR: SpanStatusCode.ERROR,
}


@dataclass(frozen=True)
class Rejection:
    """One span refused: where it sat in the request and what was wrong with it."""

    position: str
    problem: str

    def __str__(self) -> str:
        return f"{self.position}: {self.problem}"


@dataclass(frozen=True)
class Conversion:
    rows: list[dict[str, Any]]
    rejections: list[Rejection]


def text(value: str) -> str:
    """PostgreSQL refuses NUL in text and in JSONB strings; one bad span must not fail a batch."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _double(value: float) -> float | str:
    # JSON has no NaN or infinities (JSONB rejects them), so they are kept as their names.
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def any_value_to_json(value: AnyValue) -> JSONValue:
    """An OTLP AnyValue as JSON: arrays become lists, kvlists objects, bytes base64 strings."""
    match value.WhichOneof("value"):
        case "string_value":
            return text(value.string_value)
        case "bool_value":
            return value.bool_value
        case "int_value":
            return value.int_value
        case "double_value":
            return _double(value.double_value)
        case "array_value":
            return [any_value_to_json(item) for item in value.array_value.values]
        case "kvlist_value":
            return attributes_to_json(value.kvlist_value.values)
        case "bytes_value":
            return base64.b64encode(value.bytes_value).decode("ascii")
        case _:
            return None  # an empty AnyValue is OTLP's null


def attributes_to_json(attributes: Iterable[KeyValue]) -> dict[str, JSONValue]:
    """Key-value pairs as one JSON object; a repeated key keeps its last value."""
    return {text(kv.key): any_value_to_json(kv.value) for kv in attributes}


def tenant_of(
    span_attributes: Mapping[str, JSONValue], resource_attributes: Mapping[str, JSONValue]
) -> str | None:
    """The tenant a span was recorded for: the span's own attribute first, then its resource's."""
    for attributes in (span_attributes, resource_attributes):
        for key in TENANT_KEYS:
            value = attributes.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _id_problem(field: str, value: bytes, size: int) -> str | None:
    if len(value) != size:
        return f"{field} must be {size} bytes, got {len(value)}"
    if not any(value):
        return f"{field} must not be all zeros"
    return None


def span_problem(span: Span) -> str | None:
    """Why a span cannot be stored, or None if it can."""
    if problem := _id_problem("trace_id", span.trace_id, TRACE_ID_BYTES):
        return problem
    if problem := _id_problem("span_id", span.span_id, SPAN_ID_BYTES):
        return problem
    if span.parent_span_id and len(span.parent_span_id) != SPAN_ID_BYTES:
        return (
            f"parent_span_id must be empty or {SPAN_ID_BYTES} bytes, got {len(span.parent_span_id)}"
        )
    if span.start_time_unix_nano == 0:
        return "start_time_unix_nano is required"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "end_time_unix_nano is before start_time_unix_nano"
    if span.end_time_unix_nano > MAX_UNIX_NANO:
        return f"end_time_unix_nano exceeds {MAX_UNIX_NANO}"
    return None


def _parent_id(span: Span) -> str | None:
    # An all-zero parent is the invalid span id, which some senders use to mean "no parent".
    return span.parent_span_id.hex() if any(span.parent_span_id) else None


def _events(span: Span) -> list[dict[str, Any]]:
    return [
        {
            "name": text(event.name),
            "time_unix_nano": event.time_unix_nano,
            "attributes": attributes_to_json(event.attributes),
        }
        for event in span.events
    ]


def span_row(
    span: Span, service_name: str, resource_attributes: dict[str, JSONValue]
) -> dict[str, Any]:
    """The ``spans`` row of a span that passed :func:`span_problem` (received_at excluded)."""
    attributes = attributes_to_json(span.attributes)
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": _parent_id(span),
        "service_name": service_name,
        "name": text(span.name),
        "kind": KIND_FROM_OTLP.get(span.kind, SpanKind.UNSPECIFIED),
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "duration_nano": span.end_time_unix_nano - span.start_time_unix_nano,
        "status_code": STATUS_FROM_OTLP.get(span.status.code, SpanStatusCode.UNSET),
        "status_message": text(span.status.message),
        "attributes": attributes,
        "resource_attributes": resource_attributes,
        "events": _events(span),
        "tenant_id": tenant_of(attributes, resource_attributes),
    }


def _service_name(resource_attributes: Mapping[str, JSONValue]) -> str:
    value = resource_attributes.get(SERVICE_NAME_KEY)
    return value if isinstance(value, str) and value else UNKNOWN_SERVICE


def _row_or_problem(
    span: Span, service_name: str, resource_attributes: dict[str, JSONValue]
) -> dict[str, Any] | str:
    if problem := span_problem(span):
        return problem
    if len(service_name) > MAX_SERVICE_NAME:
        return f"resource attribute {SERVICE_NAME_KEY} exceeds {MAX_SERVICE_NAME} characters"
    row = span_row(span, service_name, resource_attributes)
    # Cutting a tenant id short would file the span under another tenant: refuse it instead.
    if len(row["tenant_id"] or "") > MAX_TENANT_ID:
        return f"tenant id exceeds {MAX_TENANT_ID} characters"
    return row


def convert_request(request: ExportTraceServiceRequest) -> Conversion:
    """Every span of an export as a row, or as a rejection naming its position and problem."""
    rows: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    for r, resource_spans in enumerate(request.resource_spans):
        resource_attributes = attributes_to_json(resource_spans.resource.attributes)
        service_name = _service_name(resource_attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope_spans.spans):
                outcome = _row_or_problem(span, service_name, resource_attributes)
                if isinstance(outcome, str):
                    position = f"resource_spans[{r}].scope_spans[{s}].spans[{i}]"
                    rejections.append(Rejection(position, outcome))
                else:
                    rows.append(outcome)
    return Conversion(rows, rejections)


def rejection_message(rejections: list[Rejection]) -> str:
    """The partial-success message: the first few rejections in full, then a count of the rest."""
    listed = "; ".join(str(r) for r in rejections[:MAX_LISTED_REJECTIONS])
    more = len(rejections) - MAX_LISTED_REJECTIONS
    suffix = f"; and {more} more" if more > 0 else ""
    noun = "span" if len(rejections) == 1 else "spans"
    return f"{len(rejections)} {noun} rejected: {listed}{suffix}"
