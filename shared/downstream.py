"""A handler's failed call to another service, answered in the caller's own terms.

A call that fails inside a handler raises ``grpc.aio.AioRpcError``; left alone it would reach
the caller as UNKNOWN with the exception's text. :class:`FailedCallsInterceptor` (on every
channel :func:`shared.grpc_client.open_channel` opens) notes which method failed, in the record
the server's error layer opens per call (:func:`watch_downstream_calls`), so
:func:`downstream_error` can name the dependency: a dependency that is away or too slow is
UNAVAILABLE or DEADLINE_EXCEEDED naming it; a refusal carrying a domain error is passed on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc

from shared.errors import DeadlineExceeded, DomainError, Unavailable
from shared.internal_client import domain_error_of

#: The methods called from the current server call that failed, latest last (None outside one).
#: A streaming call's code is not known when it is noted (it is read by awaiting), so it is None.
_failed_methods: ContextVar[list[tuple[str, grpc.StatusCode | None]] | None] = ContextVar(
    "quarterdeck_failed_downstream_calls", default=None
)

_AWAY = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})
#: Codes a dependency answers with on purpose (a domain error), passed on as they are.
_REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def watch_downstream_calls() -> None:
    """Open the current server call's record of failed outgoing calls (each call runs in its
    own task, so the record reaches no other call)."""
    _failed_methods.set([])


def _dependency(method: str) -> str:
    """``/quarterdeck.tenancy.v1.TenancyService/GetTenant`` -> ``TenancyService.GetTenant``."""
    service, _, name = method.lstrip("/").rpartition("/")
    return f"{service.rpartition('.')[2]}.{name}" if service else "a dependency"


def _failed_method(code: grpc.StatusCode) -> str:
    failed = _failed_methods.get() or []
    for method, failed_code in reversed(failed):
        if failed_code == code or failed_code is None:
            return _dependency(method)
    return "a dependency"


def downstream_error(error: grpc.aio.AioRpcError) -> DomainError | None:
    """The status a handler answers when a call it made failed with ``error``: the dependency's
    own refusal, UNAVAILABLE or DEADLINE_EXCEEDED naming it; None when the dependency failed
    unexpectedly itself (INTERNAL, UNKNOWN, ...), which is this call's internal error too."""
    code = error.code()
    if code in _REFUSALS:
        return domain_error_of(error)
    if code in _AWAY:
        dependency = _failed_method(code)
        return Unavailable(
            f"{dependency} is unavailable, try again",
            reason="DEPENDENCY_UNAVAILABLE",
            metadata={"dependency": dependency},
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        dependency = _failed_method(code)
        return DeadlineExceeded(
            f"{dependency} did not answer in time",
            reason="DEPENDENCY_DEADLINE_EXCEEDED",
            metadata={"dependency": dependency},
        )
    return None


#: The next step of an outgoing call: the channel, or the interceptors inside this one.
Continuation = Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]]


def _note(
    method: Any, failed: list[tuple[str, grpc.StatusCode | None]], code: grpc.StatusCode | None
) -> None:
    failed.append((method.decode() if isinstance(method, bytes) else str(method), code))


class FailedCallsInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Notes each failed outgoing call's method in the current server call's record."""

    async def intercept_unary_unary(
        self,
        continuation: Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        call = await continuation(client_call_details, request)
        failed = _failed_methods.get()
        if failed is not None:
            try:
                await call  # the caller awaits it next; a finished call answers again at once
            except grpc.aio.AioRpcError as error:
                _note(client_call_details.method, failed, error.code())
        return call

    async def _watched(
        self,
        continuation: Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        call = await continuation(client_call_details, request)
        failed = _failed_methods.get()
        if failed is not None:
            # Noted when it ends, failed or not: only a failure's error ever asks for it.
            call.add_done_callback(lambda _: _note(client_call_details.method, failed, None))
        return call

    intercept_unary_stream = _watched

    # Named as grpc names them: the stubs check an override's parameter names.
    async def intercept_stream_unary(
        self,
        continuation: Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await self._watched(continuation, client_call_details, request_iterator)

    intercept_stream_stream = intercept_stream_unary
