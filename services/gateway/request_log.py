"""Every external request, written to telemetry's agent_requests without slowing the request.

:class:`RequestLogMiddleware` notes each request's method, route template, status, latency, the
error of a failed one (from the JSON error body), client address, user agent, trace and span ids
into a bounded in-memory queue and returns at once. :class:`RequestLogWriter` drains the queue in
the background: it attributes each request to a tenant and principal only from a token it
verifies itself (never from unverified claims), then sends batches through RecordRequests with
the gateway's own internal token. A full queue drops the entry and counts it; a failed batch is
counted and dropped; nothing here ever blocks or fails a request. Shutdown drains the queue.

The credential is kept in memory only until the entry is attributed; no row carries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.instrumentation.utils import suppress_instrumentation
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quarterdeck.telemetry.v1 import requests_pb2 as rpb
from services.gateway.clients import GatewayClients
from services.gateway.config import GatewaySettings
from services.gateway.device import client_address
from shared.api_key_tokens import API_KEY_PREFIX
from shared.auth import Principal
from shared.errors import DomainError
from shared.identity_link import IdentityLink
from shared.internal_client import call_internal
from shared.tokens import JwtVerifier
from shared.tracing import current_trace_ids

log = logging.getLogger("quarterdeck.gateway.request_log")

#: Paths never logged: liveness probes and the API's own description would drown real traffic.
UNLOGGED_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/redoc", "/favicon.ico"})
#: The endpoint of a request no route matched (its raw path could be anything, even a secret).
NO_ROUTE = "(no route)"
#: Most bytes of a failed response's body read for its error; error bodies are far smaller.
MAX_ERROR_BODY = 16 * 1024
#: Longest user agent and error message sent (telemetry's limit).
MAX_TEXT = 4096
MAX_ENDPOINT = 255
MAX_ERROR_CODE = 50
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_BEARER = "bearer "

Attribution = tuple[str, str]  # (tenant_id, principal_id), "" where unknown
Sink = Callable[[list[rpb.AgentRequest]], Awaitable[None]]
Attribute = Callable[["LoggedRequest"], Awaitable[Attribution]]


@dataclass
class LoggedRequest:
    """One request as the middleware saw it, before the writer attributes it."""

    request_id: str
    method: str
    endpoint: str
    status_code: int | None
    latency_ms: int
    created_at: datetime
    ip: str = ""
    user_agent: str = ""
    error_code: str = ""
    error_message: str = ""
    trace_id: str = ""
    span_id: str = ""
    #: The bearer token or API key presented; used for attribution, never sent or logged.
    credential: str | None = field(default=None, repr=False)

    def to_proto(self, tenant_id: str, principal_id: str) -> rpb.AgentRequest:
        created = Timestamp()
        created.FromDatetime(self.created_at)
        return rpb.AgentRequest(
            request_id=self.request_id,
            tenant_id=tenant_id,
            principal_id=principal_id,
            endpoint=self.endpoint,
            method=self.method,
            ip=self.ip,
            user_agent=self.user_agent,
            status_code=self.status_code,
            latency_ms=self.latency_ms,
            error_code=self.error_code,
            error_message=self.error_message,
            create_time=created,
            trace_id=self.trace_id,
            span_id=self.span_id,
        )


def error_of(body: bytes) -> tuple[str, str]:
    """(error code, message) of the gateway's JSON error body; empty when it is not one."""
    try:
        error = json.loads(body)["error"]
        message = str(error.get("message", ""))
        code = str(error.get("status", ""))
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("@type") == _ERROR_INFO:
                code = str(detail.get("reason") or code)
                break
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", ""
    return code[:MAX_ERROR_CODE], message[:MAX_TEXT]


def _header(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key == name]


def credential_of(scope: Scope) -> str | None:
    """The bearer token or API key the request presented, if any."""
    api_keys = _header(scope, b"x-api-key")
    if api_keys:
        return api_keys[0].strip() or None
    authorizations = _header(scope, b"authorization")
    if authorizations and authorizations[0][: len(_BEARER)].lower() == _BEARER:
        return authorizations[0][len(_BEARER) :].strip() or None
    return None


class RequestLogMiddleware:
    """Notes every HTTP request for the writer on ``app.state.request_log``; runs inside the
    tracing middleware, so the request's span is current, and outside the error middleware, so
    an unhandled error is seen as the 500 the client got."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLOGGED_PATHS:
            await self.app(scope, receive, send)
            return
        writer: RequestLogWriter | None = getattr(scope["app"].state, "request_log", None)
        if writer is None or not writer.accepting:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        created_at = datetime.now(UTC)
        status: list[int] = []
        error_body = bytearray()

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            elif message["type"] == "http.response.body" and status and status[0] >= 400:
                room = MAX_ERROR_BODY - len(error_body)
                if room > 0:
                    error_body.extend(message.get("body", b"")[:room])
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            self._note(scope, writer, started, created_at, status, bytes(error_body))

    @staticmethod
    def _note(
        scope: Scope,
        writer: RequestLogWriter,
        started: float,
        created_at: datetime,
        status: list[int],
        error_body: bytes,
    ) -> None:
        try:
            trace_id, span_id = current_trace_ids()
            template = getattr(scope.get("route"), "path_format", None)
            error_code, error_message = error_of(error_body) if error_body else ("", "")
            client = scope.get("client")
            app_state = scope["app"].state
            entry = LoggedRequest(
                request_id=uuid.uuid4().hex,
                method=str(scope.get("method", ""))[:10],
                endpoint=(template or NO_ROUTE)[:MAX_ENDPOINT],
                status_code=status[0] if status else None,
                latency_ms=round((time.perf_counter() - started) * 1000),
                created_at=created_at,
                ip=client_address(
                    client[0] if client else None,
                    _header(scope, b"x-forwarded-for"),
                    getattr(app_state, "trusted_proxies", ()),
                )[:45],
                user_agent=(_header(scope, b"user-agent") or [""])[0][:MAX_TEXT],
                error_code=error_code,
                error_message=error_message,
                trace_id=trace_id,
                span_id=span_id,
                credential=credential_of(scope),
            )
            writer.offer(entry)
        except Exception:  # logging a request must never fail it
            log.exception("could not note a request for the request log")


class RequestLogWriter:
    """A bounded queue of noted requests and the background task that sends them in batches."""

    def __init__(
        self,
        sink: Sink,
        attribute: Attribute,
        *,
        max_queue: int,
        batch_size: int,
        flush_interval: float,
        drain_timeout: float,
        enabled: bool = True,
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._enabled = enabled
        self._on_stop = on_stop
        self._sink = sink
        self._attribute = attribute
        # asyncio.Queue(0) would be unbounded: the queue always has a bound.
        self._queue: asyncio.Queue[LoggedRequest] = asyncio.Queue(max(max_queue, 1))
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._drain_timeout = drain_timeout
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: Set when an entry arrives or shutdown begins, so the writer never polls.
        self._wake = asyncio.Event()
        #: Requests not logged because the queue was full.
        self.dropped = 0
        #: Requests not logged because sending their batch failed.
        self.failed = 0
        #: Requests telemetry accepted (stored, or already stored).
        self.sent = 0

    @property
    def accepting(self) -> bool:
        return self._task is not None and not self._closing

    def offer(self, entry: LoggedRequest) -> bool:
        """Queue ``entry`` without waiting; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(entry)
            self._wake.set()
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("request log queue full: %d requests dropped so far", self.dropped)
            return False
        return True

    async def start(self) -> None:
        if self._enabled:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="request-log")

    async def stop(self) -> None:
        """Stop taking requests and send what is queued, for at most drain_timeout seconds."""
        self._closing = True
        self._wake.set()
        try:
            await self._drain()
        finally:
            if self._on_stop is not None:
                await self._on_stop()

    async def _drain(self) -> None:
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._drain_timeout)
        except TimeoutError:
            log.warning("request log: %d requests unsent at shutdown", self._queue.qsize())
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def flushed(self) -> None:
        """Returns once everything queued so far has been sent or given up on (tests, drains)."""
        await self._queue.join()

    async def _next_batch(self) -> list[LoggedRequest]:
        """Up to batch_size entries; the first one waits at most flush_interval for the rest."""
        batch: list[LoggedRequest] = []
        deadline: float | None = None
        while len(batch) < self._batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                if deadline is None:
                    deadline = time.monotonic() + self._flush_interval
                continue
            if self._closing:
                break
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while not (self._closing and self._queue.empty()):
            batch = await self._next_batch()
            if not batch:
                continue
            try:
                await self._send(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _send(self, batch: list[LoggedRequest]) -> None:
        try:
            rows = []
            for entry in batch:
                tenant_id, principal_id = await self._attribute(entry)
                entry.credential = None  # attributed: the credential is no longer kept
                rows.append(entry.to_proto(tenant_id, principal_id))
            await self._sink(rows)
            self.sent += len(rows)
        except Exception as exc:  # noqa: BLE001 - telemetry or identity down: count, drop, carry on
            self.failed += len(batch)
            log.warning("request log: a batch of %d requests was not sent: %s", len(batch), exc)


class TokenAttribution:
    """The tenant and principal of a request, from a token this gateway verifies itself.

    A bearer token is verified against identity's JWKS; an API key is attributed from the access
    token the gateway exchanged it for (from the cache the request itself filled; a key whose
    request was refused with 401 is not exchanged again). Anything unverifiable is unattributed.
    """

    def __init__(self, verifier: JwtVerifier, clients: GatewayClients) -> None:
        self._verifier = verifier
        self._clients = clients

    async def __call__(self, entry: LoggedRequest) -> Attribution:
        credential = entry.credential
        if not credential:
            return "", ""
        try:
            if credential.startswith(API_KEY_PREFIX):
                if entry.status_code == 401:
                    return "", ""
                credential = await self._clients.api_keys.access_token(credential)
            principal: Principal = await self._verifier.verify(credential)
        except (DomainError, grpc.aio.AioRpcError):
            return "", ""
        return principal.tenant_id or "", principal.subject


def _unsampled_traceparent() -> tuple[str, str]:
    """A W3C traceparent whose sampled flag is off: the callee records no span for the call."""
    return ("traceparent", f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00")


def writer_for_gateway(settings: GatewaySettings, clients: GatewayClients) -> RequestLogWriter:
    """The writer as the gateway runs it: the clients' token verifier, identity for the
    internal token, telemetry's RecordRequests as the sink. Without an internal secret nothing could be sent, so the writer
    stays off (and says so once) and the middleware notes nothing."""
    identity = IdentityLink(
        settings.identity_target,
        "gateway",
        settings.internal_secret.get_secret_value() if settings.internal_secret else None,
        settings.identity_jwks_cache_seconds,
    )
    attribute = TokenAttribution(clients.tokens, clients)

    async def record(rows: list[rpb.AgentRequest]) -> None:
        # The gateway's own calls are not traced: a flush would otherwise start a trace per
        # batch, whose spans are exported to telemetry and say nothing about any request. The
        # call says so to telemetry too, with a parent that is not sampled, so its server and
        # SQL spans are not recorded either (each row already carries its request's trace).
        with suppress_instrumentation():
            reply = await call_internal(
                clients.request_log.RecordRequests,
                rpb.RecordRequestsRequest(requests=rows),
                identity,
                call_timeout=settings.request_log_timeout_seconds,
                extra_metadata=[_unsampled_traceparent()],
            )
        for rejected in reply.rejected:
            log.warning(
                "request log: telemetry refused %s: %s", rejected.field, rejected.description
            )

    enabled = settings.internal_secret is not None and settings.request_log_queue_size > 0
    if settings.internal_secret is None:
        log.warning("QD_GATEWAY_INTERNAL_SECRET is not set: requests are not logged to telemetry")
    return RequestLogWriter(
        record,
        attribute,
        max_queue=settings.request_log_queue_size,
        batch_size=settings.request_log_batch_size,
        flush_interval=settings.request_log_flush_seconds,
        drain_timeout=settings.request_log_drain_seconds,
        enabled=enabled,
        on_stop=identity.close,
    )
