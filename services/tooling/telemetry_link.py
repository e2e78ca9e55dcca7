"""Every tool call tooling runs is appended to telemetry's ``mcp_tool_usage`` (RecordToolUsage)
with the trace and span it ran under, in the background with tooling's internal token: the
append never delays or fails the call. Appends are batched (:class:`BackgroundBatches`): the
calls that finished while one RecordToolUsage was out go in the next, up to telemetry's batch
size, so telemetry writes one transaction for many calls. Each row carries the tool call id as
its request_id, so telemetry stores a call once however often its append is sent. Without a
telemetry target (or without an identity service to get an internal token from) appends are
skipped."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from quarterdeck.telemetry.v1 import tool_usage_pb2 as pb
from quarterdeck.telemetry.v1.tool_usage_pb2_grpc import ToolUsageServiceStub
from shared.background_calls import BackgroundBatches
from shared.grpc_client import open_channel
from shared.internal_client import InternalToken
from shared.json_values import python_to_value
from shared.timestamps import to_timestamp

log = logging.getLogger("quarterdeck.tooling.telemetry_link")

_STATUSES = {
    "ok": pb.TOOL_CALL_STATUS_OK,
    "error": pb.TOOL_CALL_STATUS_ERROR,
    "timeout": pb.TOOL_CALL_STATUS_TIMEOUT,
}
#: telemetry keeps tool names of at most this length.
_MAX_TOOL_NAME = 100
#: Rows per RecordToolUsage (telemetry takes at most 1000).
MAX_BATCH = 500
#: How long the first call of an idle spell waits for others to join its RecordToolUsage.
LINGER_SECONDS = 0.05


def _request(rows: list[pb.ToolUsage]) -> pb.RecordToolUsageRequest:
    return pb.RecordToolUsageRequest(calls=rows)


class ToolUsageLink:
    def __init__(self, target: str | None, token: InternalToken | None) -> None:
        self._channel: grpc.aio.Channel | None = None
        self._stub: ToolUsageServiceStub | None = None
        self._calls: BackgroundBatches[pb.ToolUsage] | None = None
        if target and token is None:
            log.warning(
                "tool usage appends are off: telemetry needs an internal token, and no identity "
                "service is configured"
            )
        elif target and token is not None:
            self._channel = open_channel(target)
            self._stub = ToolUsageServiceStub(self._channel)
            self._calls = BackgroundBatches(
                "tooling",
                "tool usage rows",
                token,
                self._stub.RecordToolUsage,
                _request,
                max_batch=MAX_BATCH,
                linger_seconds=LINGER_SECONDS,
                logger=log,
            )

    @property
    def enabled(self) -> bool:
        return self._stub is not None

    def record(self, call: Any, result: Any) -> None:
        """Queue the finished ``call`` (a tool_calls row) with its result; returns at once."""
        if self._stub is None or self._calls is None:
            return
        usage = pb.ToolUsage(
            tenant_id=str(call.tenant_id),
            tool_name=call.tool_name[:_MAX_TOOL_NAME],
            status=_STATUSES.get(call.status.value, pb.TOOL_CALL_STATUS_ERROR),
            args=python_to_value(call.args or {}),
            error=call.error or "",
            create_time=to_timestamp(call.created_at),
            trace_id=call.trace_id or "",
            span_id=call.span_id or "",
            # The call's own id: a resent append (a retry after a lost answer) is skipped.
            request_id=str(call.id),
        )
        if call.latency_ms is not None:
            usage.latency_ms = call.latency_ms
        if result is not None:
            usage.result.CopyFrom(python_to_value(result))
        self._calls.add(usage)

    async def drain(self, within_seconds: float | None = None) -> None:
        if self._calls is not None:
            await self._calls.drain(within_seconds)

    async def close(self) -> None:
        if self._calls is not None:
            await self._calls.close()
        if self._channel is not None:
            await self._channel.close()
