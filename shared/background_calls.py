"""Calls one service makes to another in the background with its internal token (activity
appends, tool usage records), written once.

:meth:`BackgroundCalls.send` returns at once: the call runs in a task that copies the caller's
context (so it carries the request's trace context), is retried with backoff on transient
failures, and is dropped (logged) when it cannot be delivered. It never delays or fails the
request that caused it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from shared.background import TaskSet
from shared.internal_client import InternalToken, call_internal

log = logging.getLogger("quarterdeck.background_calls")

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
        delay = self._first_backoff
        for attempt in range(1, self._max_attempts + 1):
            try:
                await call_internal(method, request, self._token, call_timeout=self._timeout)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE:
                    self._log.warning("%s: %s refused: %s", self._service, what, exc.details())
                    return
                if attempt == self._max_attempts:
                    self._log.warning(
                        "%s: %s dropped after %d attempts: %s",
                        self._service,
                        what,
                        attempt,
                        exc.details(),
                    )
                    return
            except RuntimeError as exc:  # no internal_secret: retrying cannot help
                self._log.warning("%s: %s not sent: %s", self._service, what, exc)
                return
            except Exception as exc:  # noqa: BLE001 - retried, and never raised to the caller
                if attempt == self._max_attempts:
                    self._log.warning(
                        "%s: %s dropped after %d attempts: %s", self._service, what, attempt, exc
                    )
                    return
            await asyncio.sleep(delay)
            delay *= 2

    async def drain(self, within_seconds: float | None = None) -> None:
        """Wait for the calls in flight (tests; shutdown), at most ``within_seconds``."""
        await self._pending.drain(within_seconds)

    async def close(self) -> None:
        """Give the calls in flight one call's time to land and drop the rest."""
        await self._pending.close(self._timeout)
