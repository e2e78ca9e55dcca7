"""Pure conversion of an OTLP trace export into ``spans`` rows, rejecting malformed spans.

Rows come out as the bulk insert takes them: tuples in :data:`SPAN_COLUMNS` order, their JSON
columns encoded once here. Nothing here touches a database or the clock, so every rule can be
tested on plain messages.
A span that breaks a rule is rejected on its own, with its position in the request; the good
spans of the same request are still converted (OTLP partial success).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from services.telemetry.bulk_insert import encode_json
from services.telemetry.models import MAX_TENANT_ID
from services.telemetry.traces.models import MAX_SERVICE_NAME, SpanKind, SpanStatusCode
from shared.tracing import TENANT_ATTRIBUTE

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
NUL = "\x00"
#: Marks a span a tenant exported itself: it never decides who owns a trace.
INGESTED_BY_TENANT = "quarterdeck.ingested_by_tenant"

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
    #: The accepted spans, each in :data:`SPAN_COLUMNS` order with its JSON columns encoded.
    records: list[SpanValues]
    rejections: list[Rejection]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The accepted spans as rows by column name (JSON decoded): for reading, not storing."""
        return [span_row(record) for record in self.records]


def text(value: str) -> str:
    """PostgreSQL refuses NUL in text and in JSONB strings; one bad span must not fail a batch."""
    return value.replace(NUL, "\ufffd") if NUL in value else value


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
    return _tenant(span_attributes) or _tenant(resource_attributes)


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


#: The columns of a converted span's record, in its order; ``received_at`` is added on storing.
SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "service_name",
    "name",
    "kind",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "duration_nano",
    "status_code",
    "status_message",
    "attributes",
    "resource_attributes",
    "events",
    "tenant_id",
)
#: The record's columns that hold JSON text (encoded once, when converted).
JSON_COLUMNS = frozenset({"attributes", "resource_attributes", "events"})
#: A span's values in :data:`SPAN_COLUMNS` order: the row COPY and INSERT take.
SpanValues = tuple[Any, ...]

_NO_EVENTS = "[]"
_ZERO_TRACE_ID = bytes(TRACE_ID_BYTES)
_ZERO_SPAN_ID = bytes(SPAN_ID_BYTES)
#: Kind and status as the columns store them (plain strings, for COPY), by OTLP number.
_KIND_VALUES = {number: kind.value for number, kind in KIND_FROM_OTLP.items()}
_STATUS_VALUES = {number: status.value for number, status in STATUS_FROM_OTLP.items()}
_UNSPECIFIED_KIND = SpanKind.UNSPECIFIED.value
_UNSET_STATUS = SpanStatusCode.UNSET.value


def _events(span: Span) -> list[dict[str, Any]]:
    return [
        {
            "name": text(event.name),
            "time_unix_nano": event.time_unix_nano,
            "attributes": attributes_to_json(event.attributes),
        }
        for event in span.events
    ]


def _attributes(attributes: Iterable[KeyValue]) -> dict[str, JSONValue]:
    """:func:`attributes_to_json` with the common scalar kinds inline: the per-span hot path."""
    converted: dict[str, JSONValue] = {}
    for pair in attributes:
        value = pair.value
        string = value.string_value
        converted_value: JSONValue
        if string:  # only the oneof's string member can be a non-empty string
            converted_value = text(string) if NUL in string else string
        else:
            kind = value.WhichOneof("value")
            if kind == "int_value":
                converted_value = value.int_value
            elif kind == "bool_value":
                converted_value = value.bool_value
            else:
                converted_value = any_value_to_json(value)
        key = pair.key
        converted[text(key) if NUL in key else key] = converted_value
    return converted


def _tenant(attributes: Mapping[str, JSONValue]) -> str | None:
    for key in TENANT_KEYS:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _service_name(resource_attributes: Mapping[str, JSONValue]) -> str:
    value = resource_attributes.get(SERVICE_NAME_KEY)
    return value if isinstance(value, str) and value else UNKNOWN_SERVICE


def _problem(span: Span, service_problem: str | None) -> str:
    """Why a span the fast check refused cannot be stored (the rules in their named order)."""
    return span_problem(span) or service_problem or "is malformed"


def _tenant_attributes(attributes: Iterable[KeyValue]) -> dict[str, JSONValue]:
    """The span attributes :func:`_tenant` reads, as :func:`_attributes` would give them (a
    repeated key keeps its last value; a value that is not a string names no tenant)."""
    found: dict[str, JSONValue] = {}
    for pair in attributes:
        if pair.key in TENANT_KEYS:
            value = pair.value
            found[pair.key] = (
                text(value.string_value) if value.WhichOneof("value") == "string_value" else None
            )
    return found


def convert_request(
    request: ExportTraceServiceRequest, exported_by: str | None = None
) -> Conversion:
    """Every span of an export as a record, or as a rejection naming its position and problem.

    ``exported_by`` is the tenant that exported the request itself (a tenant credential, not a
    platform service): each of its spans then names that tenant and is marked as its own export
    (:data:`INGESTED_BY_TENANT`), whatever the span claimed.

    The hot path of span ingest: each field is read once, the id and time rules are checked
    with plain comparisons (:func:`span_problem` names the problem only for a span that fails
    them), and the JSON columns are encoded here, once per span (the resource's once per
    resource), with the exporting tenant's stamp already in.
    """
    return _convert(request, keep=True, exported_by=exported_by)


def check_request(request: ExportTraceServiceRequest) -> list[Rejection]:
    """The rejections :func:`convert_request` would make, without converting the good spans:
    what the receiver answers before the spans are stored (a fraction of the conversion's
    cost: the span attributes are only searched for the tenant)."""
    return _convert(request, keep=False, exported_by=None).rejections


def _convert(request: ExportTraceServiceRequest, keep: bool, exported_by: str | None) -> Conversion:
    records: list[SpanValues] = []
    rejections: list[Rejection] = []
    add = records.append
    kinds, statuses = _KIND_VALUES, _STATUS_VALUES
    for r, resource_spans in enumerate(request.resource_spans):
        resource_attributes = _attributes(resource_spans.resource.attributes)
        resource_json = encode_json(resource_attributes)
        resource_tenant = _tenant(resource_attributes)
        service_name = _service_name(resource_attributes)
        service_problem = None
        if len(service_name) > MAX_SERVICE_NAME:
            service_problem = (
                f"resource attribute {SERVICE_NAME_KEY} exceeds {MAX_SERVICE_NAME} characters"
            )
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope_spans.spans):
                trace_id, span_id = span.trace_id, span.span_id
                parent = span.parent_span_id
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if (
                    len(trace_id) != TRACE_ID_BYTES
                    or trace_id == _ZERO_TRACE_ID
                    or len(span_id) != SPAN_ID_BYTES
                    or span_id == _ZERO_SPAN_ID
                    or (parent and len(parent) != SPAN_ID_BYTES)
                    or not start
                    or end < start
                    or end > MAX_UNIX_NANO
                    or service_problem
                ):
                    position = f"resource_spans[{r}].scope_spans[{s}].spans[{i}]"
                    rejections.append(Rejection(position, _problem(span, service_problem)))
                    continue
                if keep:
                    attributes = _attributes(span.attributes)
                    tenant_id = (_tenant(attributes) if attributes else None) or resource_tenant
                else:
                    tenant_id = _tenant(_tenant_attributes(span.attributes)) or resource_tenant
                if tenant_id is not None and len(tenant_id) > MAX_TENANT_ID:
                    # Cutting a tenant id short would file the span under another tenant.
                    position = f"resource_spans[{r}].scope_spans[{s}].spans[{i}]"
                    rejections.append(
                        Rejection(position, f"tenant id exceeds {MAX_TENANT_ID} characters")
                    )
                    continue
                if not keep:
                    continue
                if exported_by is not None:
                    attributes[TENANT_ATTRIBUTE] = exported_by
                    attributes[INGESTED_BY_TENANT] = exported_by
                    tenant_id = exported_by
                status = span.status
                name = span.name
                message = status.message
                add(
                    (
                        trace_id.hex(),
                        span_id.hex(),
                        # An all-zero parent is the invalid span id: some senders mean "none".
                        parent.hex() if parent and parent != _ZERO_SPAN_ID else None,
                        service_name,
                        text(name) if NUL in name else name,
                        kinds.get(span.kind, _UNSPECIFIED_KIND),
                        start,
                        end,
                        end - start,
                        statuses.get(status.code, _UNSET_STATUS),
                        text(message) if NUL in message else message,
                        encode_json(attributes),
                        resource_json,
                        encode_json(_events(span)) if span.events else _NO_EVENTS,
                        tenant_id,
                    )
                )
    return Conversion(records, rejections)


def span_row(record: SpanValues) -> dict[str, Any]:
    """A converted span as a ``spans`` row by column name, its JSON columns decoded."""
    return {
        name: json.loads(value) if name in JSON_COLUMNS else value
        for name, value in zip(SPAN_COLUMNS, record, strict=True)
    }


def rejection_message(rejections: list[Rejection]) -> str:
    """The partial-success message: the first few rejections in full, then a count of the rest."""
    listed = "; ".join(str(r) for r in rejections[:MAX_LISTED_REJECTIONS])
    more = len(rejections) - MAX_LISTED_REJECTIONS
    suffix = f"; and {more} more" if more > 0 else ""
    noun = "span" if len(rejections) == 1 else "spans"
    return f"{len(rejections)} {noun} rejected: {listed}{suffix}"
