"""A conversation's ledger as server-sent events: the FollowEvents stream, framed.

Each ledger event is one SSE event whose ``id:`` is the ledger cursor (the event's
``sequence_number``), ``event:`` its kind and ``data:`` one line of JSON in the
``public_sse_v1`` shape (:func:`event_data`). While nothing arrives, a comment line
(``: heartbeat``) goes out every ``heartbeat_seconds``, so proxies keep the connection and a
vanished client is noticed. A stream the service ends (opened with a stream ticket, which
expired) closes after a last ``event: stream.end`` whose ``data:`` says why and after which
cursor to resume (with a new ticket); an EventSource that reconnects with the expired ticket
is refused (401) and stops.

:class:`EventStreamResponse` owns the gRPC call: it reads the stream into a bounded queue (a
slow client slows the stream, through gRPC's flow control, instead of growing memory), watches
for the client's disconnect, and on any way out (the client left, the stream ended or failed,
the server stops) cancels the call, so no FollowEvents outlives its HTTP request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from quarterdeck.conversation.v1 import events_pb2 as epb
from shared.json_values import struct_to_dict
from shared.timestamps import from_timestamp

log = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
HEARTBEAT = b": heartbeat\n\n"
#: Events read ahead of a slow client, at most.
READ_AHEAD = 256
_END = object()


def event_data(event: epb.LedgerEvent) -> dict[str, Any]:
    """The ``public_sse_v1`` JSON of a ledger event: its payload's fields (``delta``,
    ``tool_call_id``...) with the envelope's beside them: always ``type`` (the kind),
    ``sequence_number`` (the cursor), ``schema_version``, ``conversation_id``, ``segment_id``
    and ``created_at``; where set and the payload has none of its own, ``run_id``,
    ``response_id``, ``agent``, ``item_id``, ``output_index``, ``content_index`` and
    ``tool_call_id`` (a run.requires_action's payload names tooling's call id)."""
    data = struct_to_dict(event.payload)
    data.update(
        {
            "type": event.kind,
            "sequence_number": event.sequence_number,
            "schema_version": event.schema_version,
            "conversation_id": event.conversation_id,
            "segment_id": event.segment_id,
            "created_at": from_timestamp(event.server_time).isoformat().replace("+00:00", "Z"),
        }
    )
    optional = {
        "run_id": event.run_id,
        "response_id": event.response_id,
        "agent": event.agent,
        "item_id": event.item_id,
        "tool_call_id": event.tool_call_id,
    }
    for name, value in optional.items():
        if value:
            data.setdefault(name, value)
    if event.item_id:
        data.setdefault("output_index", event.output_index)
        data.setdefault("content_index", event.content_index)
    return data


def frame(event: epb.LedgerEvent) -> bytes:
    """One SSE event: ``id:``, ``event:`` and a one-line ``data:``."""
    data = json.dumps(event_data(event), separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.sequence_number}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def end_frame(end: epb.StreamEnd) -> bytes:
    """The last SSE event of a stream the service ended (its ticket expired): ``event:
    stream.end``, no ``id:`` (the client's Last-Event-ID stays the last ledger cursor), and the
    reason and the cursor to resume after in ``data:``."""
    data = json.dumps(
        {
            "type": "stream.end",
            "reason": end.reason,
            "message": end.message,
            "resume_after": end.resume_after_sequence_number,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return f"event: stream.end\ndata: {data}\n\n".encode()


class EventStreamResponse(Response):
    media_type = MEDIA_TYPE

    def __init__(
        self, call: Any, heartbeat_seconds: float, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(
            status_code=200,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})},
            media_type=MEDIA_TYPE,
        )
        # No Content-Length: the body lasts as long as the client stays.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._call = call
        self._heartbeat = heartbeat_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        queue: asyncio.Queue[object] = asyncio.Queue(READ_AHEAD)
        pump = asyncio.ensure_future(self._pump(queue))
        gone = asyncio.ensure_future(_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self._chunks(queue, gone):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not gone.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._call.cancel()
            for task in (pump, gone):
                task.cancel()
            for task in (pump, gone):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _chunks(
        self, queue: asyncio.Queue[object], gone: asyncio.Future[None]
    ) -> AsyncIterator[bytes]:
        while True:
            get: asyncio.Future[Any] = asyncio.ensure_future(queue.get())
            waiting: set[asyncio.Future[Any]] = {get, gone}
            done, _ = await asyncio.wait(
                waiting, timeout=self._heartbeat, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                get.cancel()
                return
            if get not in done:
                get.cancel()
                yield HEARTBEAT
                continue
            item = get.result()
            if item is _END:
                return
            assert isinstance(item, bytes)
            yield item

    async def _pump(self, queue: asyncio.Queue[object]) -> None:
        try:
            async for response in self._call:
                if response.WhichOneof("item") == "end":
                    await queue.put(end_frame(response.end))
                    break
                await queue.put(frame(response.event))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                # The client reconnects with its Last-Event-ID and misses nothing.
                log.info("event stream ended by the service: %s", error.code().name)
                await queue.put(f": stream ended ({error.code().name})\n\n".encode())
        finally:
            await queue.put(_END)


async def _disconnect(receive: Receive) -> None:
    """Returns when the client has gone."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
