"""The tenant a call acts for is named on its span, which is how the telemetry store lets a
tenant read its own traces and nobody else's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.auth import PLATFORM_OPERATOR, Principal, require_tenant, reset_principal, set_principal
from shared.errors import PermissionDenied
from shared.tracing import TENANT_ATTRIBUTE, tag_tenant


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def as_principal(principal: Principal) -> object:
    return set_principal(principal)


def test_tag_tenant_names_the_tenant_on_the_current_span(recorded) -> None:  # type: ignore[no-untyped-def]
    provider, exporter = recorded
    with provider.get_tracer("test").start_as_current_span("call"):
        tag_tenant("tenant-a")
    with provider.get_tracer("test").start_as_current_span("anonymous"):
        tag_tenant(None)
    named, anonymous = exporter.get_finished_spans()
    assert named.attributes[TENANT_ATTRIBUTE] == "tenant-a"
    assert TENANT_ATTRIBUTE not in anonymous.attributes


def test_tag_tenant_on_a_span_that_is_not_recorded_does_nothing(recorded) -> None:  # type: ignore[no-untyped-def]
    provider, exporter = recorded
    with provider.get_tracer("test").start_as_current_span("parent"):
        tag_tenant("tenant-a")
        # An unsampled span (as the gateway's request-log flushes ask for) keeps no attributes.
        unsampled = trace.NonRecordingSpan(trace.get_current_span().get_span_context())
        with trace.use_span(unsampled):
            tag_tenant("tenant-b")
    [parent] = exporter.get_finished_spans()
    assert parent.attributes[TENANT_ATTRIBUTE] == "tenant-a"
    assert not unsampled.is_recording()


def test_an_operator_acting_for_a_tenant_files_the_span_under_it(recorded) -> None:  # type: ignore[no-untyped-def]
    provider, exporter = recorded
    token = as_principal(Principal(subject="op", kind="user", platform_role=PLATFORM_OPERATOR))
    try:
        with provider.get_tracer("test").start_as_current_span("call"):
            require_tenant("tenant-b")
    finally:
        reset_principal(token)
    assert exporter.get_finished_spans()[0].attributes[TENANT_ATTRIBUTE] == "tenant-b"


def test_a_refused_member_does_not_file_the_span_under_the_other_tenant(recorded) -> None:  # type: ignore[no-untyped-def]
    provider, exporter = recorded
    token = as_principal(Principal(subject="u", kind="user", tenant_id="tenant-a", role="owner"))
    try:
        with (
            provider.get_tracer("test").start_as_current_span("call"),
            pytest.raises(PermissionDenied),
        ):
            require_tenant("tenant-b")
    finally:
        reset_principal(token)
    assert TENANT_ATTRIBUTE not in exporter.get_finished_spans()[0].attributes
