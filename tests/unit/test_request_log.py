"""The gateway's request log writer and the parts of its middleware that need no services: the
bounded queue drops and counts instead of waiting, batches go out by size or by time, shutdown
drains, a failing sink is counted and survived, and error bodies yield their reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from quarterdeck.telemetry.v1 import requests_pb2 as rpb
from services.gateway.request_log import (
    LoggedRequest,
    RequestLogWriter,
    credential_of,
    error_of,
)
from tests.support.waiting import DEFAULT_WAIT_SECONDS, eventually


def entry(number: int, credential: str | None = None) -> LoggedRequest:
    return LoggedRequest(
        request_id=f"req-{number}",
        method="GET",
        endpoint="/v1/things/{thing_id}",
        status_code=200,
        latency_ms=3,
        created_at=datetime.now(UTC),
        credential=credential,
    )


class Recorder:
    """A sink that keeps what it is sent, optionally failing or stalling first."""

    def __init__(self, fail: bool = False, stall: asyncio.Event | None = None) -> None:
        self.batches: list[list[rpb.AgentRequest]] = []
        self.fail = fail
        self.stall = stall

    async def __call__(self, rows: list[rpb.AgentRequest]) -> None:
        if self.stall is not None:
            await self.stall.wait()
        if self.fail:
            raise ConnectionError("telemetry is down")
        self.batches.append(rows)


async def by_tenant(item: LoggedRequest) -> tuple[str, str]:
    return ("tenant-1", "user-1") if item.credential == "good" else ("", "")


def writer(sink: Recorder, **overrides: float) -> RequestLogWriter:
    settings = {"max_queue": 100, "batch_size": 10, "flush_interval": 0.05, "drain_timeout": 2.0}
    settings.update(overrides)
    return RequestLogWriter(sink, by_tenant, **settings)  # type: ignore[arg-type]


async def test_batches_go_out_by_size_and_carry_the_attribution() -> None:
    sink = Recorder()
    log = writer(sink, batch_size=3, flush_interval=10)
    await log.start()
    for number in range(6):
        assert log.offer(entry(number, "good" if number == 0 else None))
    await asyncio.wait_for(log.flushed(), 2)
    assert [[row.request_id for row in batch] for batch in sink.batches] == [
        ["req-0", "req-1", "req-2"],
        ["req-3", "req-4", "req-5"],
    ]
    first = sink.batches[0][0]
    assert (first.tenant_id, first.principal_id, first.endpoint) == (
        "tenant-1",
        "user-1",
        "/v1/things/{thing_id}",
    )
    assert sink.batches[0][1].tenant_id == "" and log.sent == 6
    await log.stop()


def _received_any(sink: Recorder) -> Callable[[], Awaitable[bool]]:
    async def received() -> bool:
        return bool(sink.batches)

    return received


async def test_a_partial_batch_goes_out_after_the_flush_interval() -> None:
    sink = Recorder()
    log = writer(sink, batch_size=100, flush_interval=0.05)
    await log.start()
    log.offer(entry(1))
    await eventually(_received_any(sink), "the flush interval to send the partial batch")
    assert [[row.request_id for row in batch] for batch in sink.batches] == [["req-1"]]
    await log.stop()


async def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    stall = asyncio.Event()
    sink = Recorder(stall=stall)
    log = writer(sink, max_queue=5, batch_size=1)
    await log.start()
    # offer() is synchronous: with the sink stalled, a full queue can only drop, never wait.
    accepted = [log.offer(entry(number)) for number in range(50)]
    # One entry may already be in the stalled sink's hands; the queue holds five more.
    assert accepted.count(True) <= 6 and log.dropped == accepted.count(False) >= 44
    stall.set()
    await asyncio.wait_for(log.flushed(), 2)
    assert log.sent == accepted.count(True)
    await log.stop()


async def test_a_failing_sink_is_counted_and_the_writer_carries_on() -> None:
    sink = Recorder(fail=True)
    log = writer(sink, batch_size=2)
    await log.start()
    for number in range(4):
        log.offer(entry(number))
    await asyncio.wait_for(log.flushed(), 2)
    assert log.failed == 4 and log.sent == 0
    sink.fail = False
    log.offer(entry(9))
    await asyncio.wait_for(log.flushed(), 2)
    assert log.sent == 1
    await log.stop()


async def test_stop_drains_what_is_queued_and_then_takes_nothing() -> None:
    sink = Recorder()
    log = writer(sink, batch_size=1000, flush_interval=60)
    await log.start()
    for number in range(25):
        log.offer(entry(number))
    await asyncio.wait_for(log.stop(), 2)
    assert sum(len(batch) for batch in sink.batches) == 25
    assert not log.accepting


async def test_stop_gives_up_after_the_drain_timeout() -> None:
    sink = Recorder(stall=asyncio.Event())  # never answers
    log = writer(sink, drain_timeout=0.1)
    await log.start()
    log.offer(entry(1))
    # The sink never answers, so stop() returning at all means it gave up.
    await asyncio.wait_for(log.stop(), DEFAULT_WAIT_SECONDS)


async def test_the_credential_is_forgotten_once_attributed() -> None:
    sink = Recorder()
    log = writer(sink)
    await log.start()
    item = entry(1, "good")
    log.offer(item)
    await asyncio.wait_for(log.flushed(), 2)
    assert item.credential is None
    assert "good" not in repr(item) and "good" not in str(sink.batches)
    await log.stop()


def error_body(reason: str | None) -> bytes:
    details = (
        []
        if reason is None
        else [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    )
    body = {"error": {"code": 404, "status": "NOT_FOUND", "message": "no such thing"}}
    body["error"]["details"] = details  # type: ignore[index]
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (error_body("TENANT_NOT_FOUND"), ("TENANT_NOT_FOUND", "no such thing")),
        (error_body(None), ("NOT_FOUND", "no such thing")),
        (b"<html>bad gateway</html>", ("", "")),
        (b'{"detail": "x"}', ("", "")),
        (b'["error"]', ("", "")),
    ],
)
def test_the_error_code_comes_from_the_error_bodys_reason(
    body: bytes, expected: tuple[str, str]
) -> None:
    assert error_of(body) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"authorization", b"Bearer abc.def.ghi")], "abc.def.ghi"),
        ([(b"authorization", b"bearer qdk_key")], "qdk_key"),
        ([(b"x-api-key", b"qdk_other")], "qdk_other"),
        ([(b"authorization", b"Basic dXNlcjpwYXNz")], None),
        ([], None),
    ],
)
def test_the_credential_of_a_request(
    headers: list[tuple[bytes, bytes]], expected: str | None
) -> None:
    assert credential_of({"type": "http", "headers": headers}) == expected


def test_the_writer_asks_telemetry_not_to_record_its_own_calls() -> None:
    from services.gateway.request_log import _unsampled_traceparent

    name, value = _unsampled_traceparent()
    version, trace_id, span_id, flags = value.split("-")
    assert (name, version, flags) == ("traceparent", "00", "00")  # flags 00: not sampled
    assert len(trace_id) == 32 and len(span_id) == 16
    assert _unsampled_traceparent() != (name, value)  # a fresh trace each call
