"""A process stops promptly whatever its surroundings do: a child of `quarterdeck up` dies with
its supervisor (even one killed outright, or killed before the child was watching it), and the
spans still buffered at shutdown are given up when no receiver takes them, rather than keeping
the process alive through the exporter's retries."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.supervisor import _die_with
from shared import tracing
from tests.support.processes import alive
from tests.support.waiting import eventually_sync

ROOT = Path(__file__).resolve().parents[2]

#: A stand-in supervisor: starts one child the way `quarterdeck up` does, prints its pid, waits.
SUPERVISOR = """
import os, subprocess, sys, time
from services.supervisor import _die_with
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(600)"],
    start_new_session=True,
    preexec_fn=_die_with(os.getpid()),
)
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_child_dies_with_its_supervisor_killed_outright() -> None:
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert supervisor.stdout is not None
        child = int(supervisor.stdout.readline())
        assert alive(child)
    finally:
        supervisor.kill()
        supervisor.wait()
    eventually_sync(lambda: not alive(child), "the child to die with its SIGKILLed supervisor")


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_child_whose_supervisor_died_before_it_was_watched_exits_before_it_runs() -> None:
    # The watch is set between fork and exec; a supervisor that died before that is no longer
    # the child's parent, and the kernel would never send the signal.
    not_the_parent = os.getppid()
    started = subprocess.run(
        [sys.executable, "-c", "print('ran')"],
        preexec_fn=_die_with(not_the_parent),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (started.returncode, started.stdout) == (1, "")
    watched = subprocess.run(
        [sys.executable, "-c", "print('ran')"],
        preexec_fn=_die_with(os.getpid()),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (watched.returncode, watched.stdout) == (0, "ran\n")


class UnreachableReceiver(SpanExporter):
    """An exporter that keeps retrying until it is shut down, as the OTLP exporter does while
    its receiver is gone (it waits out its backoff on the same event)."""

    def __init__(self) -> None:
        self.given_up = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.given_up.wait()
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.given_up.set()


def _installed(monkeypatch: pytest.MonkeyPatch, exporter: SpanExporter) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    # Nothing leaves the queue on its own within the test: only a flush sends it.
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=600_000))
    monkeypatch.setattr(tracing, "_provider", provider)
    monkeypatch.setattr(tracing, "_exporter_in_use", exporter)
    return provider


def test_stopping_gives_up_on_spans_no_receiver_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Finding (e2e): with the supervisor killed, every child got SIGTERM at once; telemetry
    # stopped first, and the others' flushes retried it for 10 s per batch (the SDK's
    # force_flush ignores its timeout): a child outlived its supervisor by 24 s and more.
    exporter = UnreachableReceiver()
    provider = _installed(monkeypatch, exporter)
    with provider.get_tracer("test").start_as_current_span("buffered"):
        pass
    assert tracing.flush_tracing(timeout_millis=50) is False
    assert exporter.given_up.is_set()
    with provider.get_tracer("test").start_as_current_span("recorded while draining"):
        pass
    tracing.shutdown_tracing(timeout_millis=50)
    assert tracing._provider is None


def test_stopping_hands_buffered_spans_to_a_receiver_that_takes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    provider = _installed(monkeypatch, exporter)
    with provider.get_tracer("test").start_as_current_span("buffered"):
        pass
    assert tracing.flush_tracing() is True
    with provider.get_tracer("test").start_as_current_span("recorded while draining"):
        pass
    tracing.shutdown_tracing()
    assert [span.name for span in exporter.get_finished_spans()] == [
        "buffered",
        "recorded while draining",
    ]
