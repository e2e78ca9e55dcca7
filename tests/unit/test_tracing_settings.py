"""What tracing records by default: a span per call, SQL statement spans only when asked for,
sampling as the standard OTEL_TRACES_SAMPLER variables say."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from shared.config import TracingSettings, load_settings
from shared.db import Database
from shared.tracing import build_tracer_provider, instrument_engine


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    SQLAlchemyInstrumentor().uninstrument()


async def _select_inside_a_span(database: Database, provider: TracerProvider) -> None:
    with provider.get_tracer("test").start_as_current_span("call"):
        async with database.reading() as session:
            await session.execute(text("SELECT 1"))


@pytest.mark.parametrize("setting", [None, "false", "true"])
async def test_sql_spans_are_recorded_only_when_qd_trace_sql_is_on(
    setting: str | None,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider, exporter = recorded
    if setting is None:
        monkeypatch.delenv("QD_TRACE_SQL", raising=False)
    else:
        monkeypatch.setenv("QD_TRACE_SQL", setting)
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}")
    try:
        instrumented = instrument_engine(database.engine, provider)
        await _select_inside_a_span(database, provider)
    finally:
        await database.dispose()
    sql_spans = [s for s in exporter.get_finished_spans() if s.name != "call"]
    assert instrumented == (setting == "true")
    if setting == "true":
        assert any((s.attributes or {}).get("db.statement") == "SELECT 1" for s in sql_spans)
    else:
        assert sql_spans == []
    assert [s.name for s in exporter.get_finished_spans()].count("call") == 1


def test_the_sampler_follows_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    provider = build_tracer_provider("test", load_settings(TracingSettings))
    with provider.get_tracer("test").start_as_current_span("never sampled") as span:
        assert not span.is_recording()

    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG")
    provider = build_tracer_provider("test", load_settings(TracingSettings))
    with provider.get_tracer("test").start_as_current_span("sampled by default") as span:
        assert span.is_recording()
