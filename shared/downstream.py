"""A handler's failed call to another service, answered in the caller's own terms.

A call that fails inside a handler raises ``grpc.aio.AioRpcError``; left alone it would reach
the caller as UNKNOWN with the exception's text. Every channel :func:`shared.grpc_client.open_channel`
opens (:mod:`shared.traced_channel`) notes which method failed, in the record
the server's error layer opens per call (:func:`watch_downstream_calls`), so
:func:`downstream_error` can name the dependency: a dependency that is away or too slow is
UNAVAILABLE or DEADLINE_EXCEEDED naming it; a refusal carrying a domain error is passed on.
"""

from __future__ import annotations

from contextvars import ContextVar

import grpc

from shared.errors import DeadlineExceeded, DomainError, Unavailable
from shared.internal_client import domain_error_of

#: One server call's failed outgoing calls: method and code (when known), latest last.
FailedCalls = list[tuple[str, grpc.StatusCode | None]]
#: The current server call's record (None outside one).
_failed_methods: ContextVar[FailedCalls | None] = ContextVar(
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


def failed_calls_record() -> FailedCalls | None:
    """The current server call's record, captured when an outgoing call starts (its done-callback
    runs outside the call's context)."""
    return _failed_methods.get()


def note_failed_call(method: str, failed: FailedCalls, code: grpc.StatusCode | None) -> None:
    failed.append((method, code))
