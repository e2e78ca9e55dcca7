"""The OTLP-to-row conversion on plain messages: values, id rules, tenants, partial rejection."""

from __future__ import annotations

import base64
import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from services.telemetry.traces.models import SpanKind, SpanStatusCode
from services.telemetry.traces.otlp import (
    INGESTED_BY_TENANT,
    JSON_COLUMNS,
    SPAN_COLUMNS,
    UNKNOWN_SERVICE,
    any_value_to_json,
    attributes_to_json,
    check_request,
    convert_request,
    rejection_message,
    span_problem,
    tenant_of,
)

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
START = 1_700_000_000_123_456_789


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def s(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def make_span(number: int = 1, **fields: object) -> Span:
    """A valid span whose span_id is ``number``; ``fields`` override any part of it."""
    fields.setdefault("trace_id", TRACE_ID)
    fields.setdefault("span_id", number.to_bytes(8, "big"))
    fields.setdefault("name", f"span-{number}")
    fields.setdefault("start_time_unix_nano", START)
    fields.setdefault("end_time_unix_nano", START + 2_500)
    return Span(**fields)  # type: ignore[arg-type]


def request_of(*spans: Span, resource: list[KeyValue] | None = None) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=resource or [kv("service.name", s("agent"))]),
                scope_spans=[ScopeSpans(spans=list(spans))],
            )
        ]
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(string_value="héllo"), "héllo"),
        (AnyValue(bool_value=True), True),
        (AnyValue(bool_value=False), False),
        (AnyValue(int_value=-(2**63)), -(2**63)),
        (AnyValue(double_value=0.25), 0.25),
        (AnyValue(double_value=float("nan")), "NaN"),
        (AnyValue(double_value=float("-inf")), "-Infinity"),
        (AnyValue(bytes_value=b"\x00\xffbin"), base64.b64encode(b"\x00\xffbin").decode()),
        (AnyValue(), None),
        (AnyValue(string_value="nul\x00byte"), "nul\ufffdbyte"),
    ],
)
def test_scalar_any_values_become_json(value: AnyValue, expected: object) -> None:
    assert any_value_to_json(value) == expected


def test_arrays_and_kvlists_nest() -> None:
    value = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                kv(
                    "list", AnyValue(array_value=ArrayValue(values=[s("a"), AnyValue(int_value=2)]))
                ),
                kv(
                    "inner",
                    AnyValue(
                        kvlist_value=KeyValueList(values=[kv("ok", AnyValue(bool_value=True))])
                    ),
                ),
                kv("empty", AnyValue(array_value=ArrayValue())),
            ]
        )
    )
    assert any_value_to_json(value) == {"list": ["a", 2], "inner": {"ok": True}, "empty": []}


def test_a_repeated_attribute_key_keeps_its_last_value() -> None:
    assert attributes_to_json([kv("k", s("first")), kv("k", s("second"))]) == {"k": "second"}


def test_a_good_span_becomes_a_full_row() -> None:
    span = make_span(
        7,
        parent_span_id=(3).to_bytes(8, "big"),
        kind=Span.SPAN_KIND_CLIENT,
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
        attributes=[kv("http.status", AnyValue(int_value=503))],
        events=[
            Span.Event(
                name="retry", time_unix_nano=START + 10, attributes=[kv("n", AnyValue(int_value=1))]
            )
        ],
    )
    resource = [kv("service.name", s("agent")), kv("host.name", s("box"))]
    conversion = convert_request(request_of(span, resource=resource))
    assert conversion.rejections == []
    assert conversion.rows == [
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "0000000000000007",
            "parent_span_id": "0000000000000003",
            "service_name": "agent",
            "name": "span-7",
            "kind": SpanKind.CLIENT,
            "start_time_unix_nano": START,
            "end_time_unix_nano": START + 2_500,
            "duration_nano": 2_500,
            "status_code": SpanStatusCode.ERROR,
            "status_message": "boom",
            "attributes": {"http.status": 503},
            "resource_attributes": {"service.name": "agent", "host.name": "box"},
            "events": [{"name": "retry", "time_unix_nano": START + 10, "attributes": {"n": 1}}],
            "tenant_id": None,
        }
    ]


def test_root_spans_and_all_zero_parents_have_no_parent() -> None:
    rows = convert_request(request_of(make_span(1), make_span(2, parent_span_id=bytes(8)))).rows
    assert [row["parent_span_id"] for row in rows] == [None, None]


def test_a_resource_without_service_name_is_the_unknown_service() -> None:
    rows = convert_request(request_of(make_span(), resource=[kv("host.name", s("box"))])).rows
    assert rows[0]["service_name"] == UNKNOWN_SERVICE


def test_an_unknown_kind_is_stored_as_unspecified() -> None:
    rows = convert_request(request_of(make_span(kind=42))).rows  # type: ignore[arg-type]
    assert rows[0]["kind"] == SpanKind.UNSPECIFIED


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"trace_id": TRACE_ID[:15]}, "trace_id must be 16 bytes, got 15"),
        ({"trace_id": b""}, "trace_id must be 16 bytes, got 0"),
        ({"trace_id": bytes(16)}, "trace_id must not be all zeros"),
        ({"span_id": b"\x01" * 9}, "span_id must be 8 bytes, got 9"),
        ({"span_id": bytes(8)}, "span_id must not be all zeros"),
        ({"parent_span_id": b"\x01" * 4}, "parent_span_id must be empty or 8 bytes, got 4"),
        ({"start_time_unix_nano": 0}, "start_time_unix_nano is required"),
        ({"end_time_unix_nano": START - 1}, "end_time_unix_nano is before start_time_unix_nano"),
        ({"end_time_unix_nano": 2**64 - 1}, "end_time_unix_nano exceeds"),
    ],
)
def test_malformed_spans_are_named(fields: dict[str, object], problem: str) -> None:
    found = span_problem(make_span(**fields))
    assert found is not None and found.startswith(problem)


def test_a_bad_span_is_rejected_by_position_and_the_good_ones_kept() -> None:
    request = request_of(make_span(1), make_span(2))
    bad = request.resource_spans.add(resource=Resource(attributes=[kv("service.name", s("x"))]))
    bad.scope_spans.add()
    bad.scope_spans.add(spans=[make_span(3), make_span(4, trace_id=TRACE_ID[:15])])
    conversion = convert_request(request)
    assert [row["span_id"] for row in conversion.rows] == [
        "0000000000000001",
        "0000000000000002",
        "0000000000000003",
    ]
    assert [str(r) for r in conversion.rejections] == [
        "resource_spans[1].scope_spans[1].spans[1]: trace_id must be 16 bytes, got 15"
    ]


def test_overlong_service_names_and_tenant_ids_are_rejected_not_cut() -> None:
    long_service = request_of(make_span(), resource=[kv("service.name", s("s" * 256))])
    assert "service.name exceeds 255" in convert_request(long_service).rejections[0].problem
    long_tenant = request_of(make_span(attributes=[kv("tenant.id", s("t" * 256))]))
    assert "tenant id exceeds 255" in convert_request(long_tenant).rejections[0].problem


def test_the_rejection_message_counts_and_caps_the_list() -> None:
    request = request_of(*(make_span(i, span_id=bytes(8)) for i in range(12)))
    message = rejection_message(convert_request(request).rejections)
    assert message.startswith("12 spans rejected: resource_spans[0].scope_spans[0].spans[0]: ")
    assert message.count("span_id must not be all zeros") == 10
    assert message.endswith("; and 2 more")


@pytest.mark.parametrize(
    ("span", "resource", "tenant"),
    [
        ({"quarterdeck.tenant_id": "t-q", "tenant.id": "t-t"}, {"tenant.id": "t-r"}, "t-q"),
        ({"tenant.id": "t-t"}, {"quarterdeck.tenant_id": "t-r"}, "t-t"),
        ({}, {"quarterdeck.tenant_id": "t-rq", "tenant.id": "t-rt"}, "t-rq"),
        ({}, {"tenant.id": "t-rt"}, "t-rt"),
        ({"quarterdeck.tenant_id": ""}, {"tenant.id": "t-r"}, "t-r"),
        ({"quarterdeck.tenant_id": 42}, {}, None),
        ({}, {}, None),
    ],
)
def test_the_tenant_comes_from_the_span_then_its_resource(
    span: dict[str, object], resource: dict[str, object], tenant: str | None
) -> None:
    assert tenant_of(span, resource) == tenant  # type: ignore[arg-type]


def test_rows_carry_the_tenant_of_the_resource_when_the_span_has_none() -> None:
    resource = [kv("service.name", s("agent")), kv("tenant.id", s("acme"))]
    span_with_own = make_span(2, attributes=[kv("quarterdeck.tenant_id", s("globex"))])
    rows = convert_request(request_of(make_span(1), span_with_own, resource=resource)).rows
    assert [row["tenant_id"] for row in rows] == ["acme", "globex"]


def test_the_fast_attribute_path_matches_the_reference_conversion() -> None:
    """The per-span hot path inlines the common kinds; every kind converts as any_value_to_json
    says (empty strings, NUL, nesting, bytes, doubles, nulls included)."""
    values = [
        s(""),
        s("plain"),
        s("nul\x00inside"),
        AnyValue(int_value=0),
        AnyValue(int_value=-7),
        AnyValue(bool_value=False),
        AnyValue(bool_value=True),
        AnyValue(double_value=0.0),
        AnyValue(double_value=float("inf")),
        AnyValue(bytes_value=b""),
        AnyValue(bytes_value=b"\x00\x01"),
        AnyValue(),
        AnyValue(array_value=ArrayValue(values=[s("a"), AnyValue(int_value=1)])),
        AnyValue(kvlist_value=KeyValueList(values=[kv("k\x00", s("v"))])),
    ]
    attributes = [kv(f"key-{n}", value) for n, value in enumerate(values)]
    attributes.append(kv("nul\x00key", s("x")))
    (row,) = convert_request(request_of(make_span(attributes=attributes))).rows
    assert row["attributes"] == attributes_to_json(attributes)


def test_records_are_in_column_order_with_json_as_text() -> None:
    event = Span.Event(name="e", time_unix_nano=START, attributes=[kv("n", s("é"))])
    span = make_span(attributes=[kv("quarterdeck.tenant_id", s("acme"))], events=[event])
    (record,) = convert_request(request_of(span)).records
    by_column = dict(zip(SPAN_COLUMNS, record, strict=True))
    assert by_column["tenant_id"] == "acme" and by_column["kind"] == "unspecified"
    for name in JSON_COLUMNS:
        assert isinstance(by_column[name], str)
    assert json.loads(by_column["events"]) == [
        {"name": "e", "time_unix_nano": START, "attributes": {"n": "é"}}
    ]
    assert json.loads(by_column["resource_attributes"]) == {"service.name": "agent"}


def test_checking_a_request_rejects_exactly_what_converting_it_does() -> None:
    request = request_of(
        make_span(1),
        make_span(2, span_id=bytes(8)),
        make_span(3, attributes=[kv("tenant.id", s("t" * 256))]),
        make_span(4, attributes=[kv("tenant.id", s("t" * 256)), kv("tenant.id", s("short"))]),
        make_span(5, attributes=[kv("quarterdeck.tenant_id", AnyValue(int_value=7))]),
        make_span(6, end_time_unix_nano=START - 1),
    )
    long_service = request.resource_spans.add(
        resource=Resource(attributes=[kv("service.name", s("s" * 256))])
    )
    long_service.scope_spans.add(spans=[make_span(7)])
    long_tenant = request.resource_spans.add(
        resource=Resource(attributes=[kv("service.name", s("x")), kv("tenant.id", s("t" * 256))])
    )
    long_tenant.scope_spans.add(
        spans=[make_span(8), make_span(9, attributes=[kv("tenant.id", s("ok"))])]
    )
    rejections = convert_request(request).rejections
    assert len(rejections) == 5
    assert check_request(request) == rejections


def test_a_tenant_export_names_that_tenant_on_every_span_whatever_the_span_claims() -> None:
    resource = [kv("service.name", s("agent")), kv("tenant.id", s("acme"))]
    claims_another = make_span(2, attributes=[kv("quarterdeck.tenant_id", s("globex"))])
    plain = make_span(1, attributes=[kv("n", AnyValue(int_value=1))])
    request = request_of(plain, claims_another, resource=resource)
    rows = convert_request(request, exported_by="initech").rows
    assert [row["tenant_id"] for row in rows] == ["initech", "initech"]
    # The claim is overwritten where it stood; the exporter's mark comes after.
    assert rows[0]["attributes"] == {
        "n": 1,
        "quarterdeck.tenant_id": "initech",
        INGESTED_BY_TENANT: "initech",
    }
    assert list(rows[1]["attributes"]) == ["quarterdeck.tenant_id", INGESTED_BY_TENANT]
    assert rows[1]["attributes"]["quarterdeck.tenant_id"] == "initech"
    # A platform export (no exporting tenant) keeps what the spans say, unmarked.
    unstamped = convert_request(request).rows
    assert [row["tenant_id"] for row in unstamped] == ["acme", "globex"]
    assert all(INGESTED_BY_TENANT not in row["attributes"] for row in unstamped)
    # The exporter's stamp does not let a span with a malformed tenant claim through.
    too_long = make_span(3, attributes=[kv("tenant.id", s("t" * 256))])
    assert convert_request(request_of(too_long), exported_by="initech").rejections
