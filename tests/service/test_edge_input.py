"""Input no handler should ever see, sent to a real telemetry service on SQLite and PostgreSQL:
undecodable messages (truncated, invalid UTF-8, wrong wire types, a Struct nested past the
recursion limit, a bad message inside StreamUsage) and out-of-range timestamps are
INVALID_ARGUMENT naming the field, without the parser's internals, logged once per caller."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from quarterdeck.telemetry.v1 import activity_pb2 as apb
from quarterdeck.telemetry.v1 import metrics_pb2 as mpb
from quarterdeck.telemetry.v1 import requests_pb2 as rpb
from quarterdeck.telemetry.v1 import tool_usage_pb2 as tpb
from quarterdeck.telemetry.v1 import usage_pb2 as upb
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.errors import rich_error
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer

ISSUER = TestIssuer()
TENANT = str(uuid.uuid4())
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
APPEND = "/quarterdeck.telemetry.v1.ActivityService/AppendActivity"
STREAM_USAGE = "/quarterdeck.telemetry.v1.UsageService/StreamUsage"
FAR_FUTURE = 2**62


@pytest.fixture(scope="module")
async def telemetry(backend: str, databases: Databases) -> AsyncIterator[RunningService[Any, Any]]:
    url = await databases.url(backend, "telemetry", "edge")
    async with running_service("telemetry", url, authenticator=ISSUER.authenticator()) as running:
        yield running


async def _raw_unary(target: str, method: str, payload: bytes, metadata: Any = None) -> None:
    async with open_channel(target) as channel:
        call = channel.unary_unary(method)  # bytes in, bytes out: no client-side encoding
        await call(payload, metadata=metadata, timeout=10)


def _truncated() -> bytes:
    return bytes([0x0A, 0x20, 0x01])  # field 1, length 32, one byte follows


def _invalid_utf8() -> bytes:
    return bytes([0x0A, 0x02, 0x12, 0x02]) + b"\xff\xfe"  # event { tenant_id: <bad utf-8> }


def _wrong_wire_type() -> bytes:
    # Field 1 as an unterminated group (wire type 3); a mismatched but well-formed wire type
    # would be kept as an unknown field instead.
    return bytes([0x0B, 0x08, 0x01])


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _deep_struct(depth: int) -> bytes:
    """AppendActivity with a metadata Struct nested ``depth`` deep, encoded by hand: the protobuf
    runtime refuses to build one past its recursion limit."""
    value = _length_delimited(3, b"bottom")  # Value.string_value
    for _ in range(depth):
        entry = _length_delimited(1, b"n") + _length_delimited(2, value)  # map entry key, value
        value = _length_delimited(5, _length_delimited(1, entry))  # Value.struct_value.fields
    struct = _length_delimited(1, _length_delimited(1, b"deep") + _length_delimited(2, value))
    event = apb.ActivityEvent(tenant_id=TENANT, action="x.y").SerializeToString()
    return _length_delimited(1, event + _length_delimited(16, struct))


@pytest.mark.parametrize(
    ("method", "payload", "public"),
    [
        (EXPORT, _truncated(), True),
        (APPEND, _truncated(), False),
        (APPEND, _invalid_utf8(), False),
        (APPEND, _wrong_wire_type(), False),
        (APPEND, _deep_struct(150), False),
    ],
    ids=["export-truncated", "truncated", "invalid-utf8", "wrong-wire-type", "struct-150-deep"],
)
async def test_undecodable_requests_are_invalid_argument_without_internals(
    telemetry: RunningService[Any, Any], method: str, payload: bytes, public: bool
) -> None:
    metadata = None if public else ISSUER.internal()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw_unary(telemetry.target, method, payload, metadata)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.field_violations == {"request": "is not a valid message of this method"}
    for leak in ("DecodeError", "Unexpected", "Error parsing", "class"):
        assert leak not in error.message


async def test_an_undecodable_message_inside_stream_usage_is_invalid_argument(
    telemetry: RunningService[Any, Any],
) -> None:
    good = upb.StreamUsageRequest(tenant_id=TENANT).SerializeToString()
    async with open_channel(telemetry.target) as channel:
        call = channel.stream_unary(STREAM_USAGE)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(iter([good, _truncated()]), metadata=ISSUER.internal(), timeout=10)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "request" in error.field_violations


def _with_time(make: Callable[[], Message], field: str) -> Message:
    message = make()
    getattr(message, field).seconds = FAR_FUTURE
    return message


@pytest.mark.parametrize(
    ("method", "request_message", "field"),
    [
        (
            "/quarterdeck.telemetry.v1.ActivityService/ListActivity",
            _with_time(lambda: apb.ListActivityRequest(tenant_id=TENANT), "since"),
            "since",
        ),
        (
            "/quarterdeck.telemetry.v1.AgentMetricsService/GetAgentStatistics",
            _with_time(lambda: mpb.GetAgentStatisticsRequest(tenant_id=TENANT), "start_time"),
            "start_time",
        ),
        (
            "/quarterdeck.telemetry.v1.RequestLogService/ListRequests",
            _with_time(lambda: rpb.ListRequestsRequest(tenant_id=TENANT), "end_time"),
            "end_time",
        ),
        (
            "/quarterdeck.telemetry.v1.ToolUsageService/GetToolUsageAnalytics",
            _with_time(lambda: tpb.GetToolUsageAnalyticsRequest(tenant_id=TENANT), "start_time"),
            "start_time",
        ),
        (
            APPEND,
            apb.AppendActivityRequest(
                event=_with_time(lambda: apb.ActivityEvent(tenant_id=TENANT), "create_time")  # type: ignore[arg-type]
            ),
            "event.create_time",
        ),
    ],
    ids=["ListActivity", "GetAgentStatistics", "ListRequests", "GetToolUsageAnalytics", "nested"],
)
async def test_out_of_range_timestamps_are_invalid_argument_naming_the_field(
    telemetry: RunningService[Any, Any], method: str, request_message: Message, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw_unary(
            telemetry.target, method, request_message.SerializeToString(), ISSUER.internal()
        )
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.field_violations


async def test_refusals_are_logged_once_per_caller_not_per_call(
    telemetry: RunningService[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # A fresh interval for this caller: earlier tests of the module logged already.
    interceptor_log = logging.getLogger("quarterdeck.decoding")
    with caplog.at_level(logging.INFO):
        caplog.clear()
        for _ in range(20):
            with pytest.raises(grpc.aio.AioRpcError):
                await _raw_unary(telemetry.target, EXPORT, _truncated())
    refusals = [r for r in caplog.records if r.name == interceptor_log.name]
    assert len(refusals) <= 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
