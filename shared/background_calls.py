"""Calls one service makes to another in the background with its internal token (activity
appends, tool usage records), written once.

:meth:`BackgroundCalls.send` returns at once: the call runs in a task that copies the caller's
context (so it carries the request's trace context), is retried with backoff on transient
failures, and is dropped (logged) when it cannot be delivered. It never delays or fails the
request that caused it.

:class:`BackgroundBatches` does the same for rows that a call carries many of (the receiver
stores a batch in one transaction): :meth:`BackgroundBatches.add` queues a row and returns at
once; one sender sends what has queued as one call, and while that call is out the next batch
gathers. Under load there are as many rows per call as arrived during one call, and no row waits
for a timer.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import grpc

from shared.background import TaskSet
from shared.internal_client import InternalToken, call_internal

log = logging.getLogger("quarterdeck.background_calls")

ItemT = TypeVar("ItemT")

#: Codes worth another attempt: the other service was away, slow, busy, or still working on
#: the same request_id.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)


class BackgroundCalls:
    def __init__(
        self,
        service: str,
        purpose: str,
        token: InternalToken,
        *,
        max_attempts: int = 4,
        first_backoff_seconds: float = 0.2,
        call_timeout_seconds: float = 5.0,
        max_pending: int = 1000,
        logger: logging.Logger = log,
    ) -> None:
        self._service = service
        self._purpose = purpose
        self._token = token
        self._max_attempts = max_attempts
        self._first_backoff = first_backoff_seconds
        self._timeout = call_timeout_seconds
        self._max_pending = max_pending
        self._log = logger
        self._pending = TaskSet(f"{service} {purpose}")

    def send(self, method: Callable[..., Awaitable[Any]], request: Any, what: str) -> None:
        """Queue ``method(request)``; ``what`` names it in logs. Dropped when too many wait."""
        if len(self._pending) >= self._max_pending:
            self._log.warning(
                "%s: %d %s in flight; %s dropped",
                self._service,
                len(self._pending),
                self._purpose,
                what,
            )
            return
        self._pending.spawn(self._send(method, request, what))

    async def _send(self, method: Callable[..., Awaitable[Any]], request: Any, what: str) -> None:
        await _deliver(
            method,
            request,
            what,
            token=self._token,
            service=self._service,
            max_attempts=self._max_attempts,
            first_backoff=self._first_backoff,
            call_timeout=self._timeout,
            logger=self._log,
        )

    async def drain(self, within_seconds: float | None = None) -> None:
        """Wait for the calls in flight (tests; shutdown), at most ``within_seconds``."""
        await self._pending.drain(within_seconds)

    async def close(self) -> None:
        """Give the calls in flight one call's time to land and drop the rest."""
        await self._pending.close(self._timeout)


async def _deliver(
    method: Callable[..., Awaitable[Any]],
    request: Any,
    what: str,
    *,
    token: InternalToken,
    service: str,
    max_attempts: int,
    first_backoff: float,
    call_timeout: float,
    logger: logging.Logger,
) -> bool:
    """``method(request)`` with the internal token, retried with backoff on transient failures;
    False (logged) when it was refused or could not be delivered."""
    delay = first_backoff
    for attempt in range(1, max_attempts + 1):
        try:
            await call_internal(method, request, token, call_timeout=call_timeout)
            return True
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRYABLE:
                logger.warning("%s: %s refused: %s", service, what, exc.details())
                return False
            if attempt == max_attempts:
                logger.warning(
                    "%s: %s dropped after %d attempts: %s",
                    service,
                    what,
                    attempt,
                    exc.details(),
                )
                return False
        except RuntimeError as exc:  # no internal_secret: retrying cannot help
            logger.warning("%s: %s not sent: %s", service, what, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - retried, and never raised to the caller
            if attempt == max_attempts:
                logger.warning("%s: %s dropped after %d attempts: %s", service, what, attempt, exc)
                return False
        await asyncio.sleep(delay)
        delay *= 2
    return False


class BackgroundBatches(Generic[ItemT]):
    """Rows sent many per call in the background: ``method(make_request(rows))`` with the
    internal token, retried like :class:`BackgroundCalls`. Rows past ``max_pending`` waiting are
    dropped (logged); a batch holds at most ``max_batch`` rows. With ``linger_seconds`` the
    sender waits that long after the first row of an idle spell before its first call."""

    def __init__(
        self,
        service: str,
        purpose: str,
        token: InternalToken,
        method: Callable[..., Awaitable[Any]],
        make_request: Callable[[list[ItemT]], Any],
        *,
        max_batch: int = 500,
        linger_seconds: float = 0.0,
        max_pending: int = 20_000,
        max_attempts: int = 4,
        first_backoff_seconds: float = 0.2,
        call_timeout_seconds: float = 5.0,
        logger: logging.Logger = log,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._service = service
        self._purpose = purpose
        self._token = token
        self._method = method
        self._make_request = make_request
        self._max_batch = max_batch
        self._linger = linger_seconds
        self._max_pending = max_pending
        self._max_attempts = max_attempts
        self._first_backoff = first_backoff_seconds
        self._timeout = call_timeout_seconds
        self._log = logger
        self._queue: deque[ItemT] = deque()
        self._sender: asyncio.Task[Any] | None = None
        self._tasks = TaskSet(f"{service} {purpose}")
        #: Rows delivered and rows given up on (refused, undeliverable or dropped when full).
        self.sent = 0
        self.lost = 0

    def __len__(self) -> int:
        """Rows queued, not yet in a call."""
        return len(self._queue)

    def add(self, row: ItemT) -> None:
        """Queue ``row``; returns at once."""
        if len(self._queue) >= self._max_pending:
            self.lost += 1
            self._log.warning(
                "%s: %d %s waiting; one more dropped",
                self._service,
                len(self._queue),
                self._purpose,
            )
            return
        self._queue.append(row)
        if self._sender is None:
            # In a context of its own: a batch is no part of the request that happened to start
            # its sender (each row carries its own trace and span ids).
            self._sender = contextvars.Context().run(self._tasks.spawn, self._send_all())

    async def _send_all(self) -> None:
        try:
            if self._linger > 0:
                # Rows that arrive meanwhile ride along: fewer, fuller calls at low rates.
                await asyncio.sleep(self._linger)
            while self._queue:
                count = min(len(self._queue), self._max_batch)
                rows = [self._queue.popleft() for _ in range(count)]
                delivered = await _deliver(
                    self._method,
                    self._make_request(rows),
                    f"{count} {self._purpose}",
                    token=self._token,
                    service=self._service,
                    max_attempts=self._max_attempts,
                    first_backoff=self._first_backoff,
                    call_timeout=self._timeout,
                    logger=self._log,
                )
                if delivered:
                    self.sent += count
                else:
                    self.lost += count
        finally:
            self._sender = None

    async def drain(self, within_seconds: float | None = None) -> None:
        """Wait until every queued row was sent or given up on, at most ``within_seconds``."""
        await self._tasks.drain(within_seconds)

    async def close(self) -> None:
        """Give the queued rows one call's time to land and drop the rest."""
        await self._tasks.close(self._timeout)
        if self._queue:
            self.lost += len(self._queue)
            self._log.warning(
                "%s: %d %s dropped at shutdown", self._service, len(self._queue), self._purpose
            )
            self._queue.clear()
