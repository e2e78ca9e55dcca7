"""One service calling another with its internal token, written once.

* :class:`InternalToken`: where call metadata with the caller's internal access token comes from
  (``IdentityLink`` exchanges the service's internal key for it; identity mints its own).
* :func:`call_internal`: one call with that metadata; refused as UNAUTHENTICATED (the token was
  signed by a key retired since), it drops the cached token and tries once more with a fresh one.
* :func:`domain_error_of`: a failed call turned back into the domain error it carries (code,
  message, ErrorInfo reason and metadata, BadRequest field violations), so a service can restate
  or pass on another service's refusal in its own terms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from shared.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

#: gRPC call metadata: (key, value) pairs.
CallMetadata = Sequence[tuple[str, str]]
ResponseT = TypeVar("ResponseT")


class InternalToken(Protocol):
    async def internal_metadata(self) -> CallMetadata:
        """Call metadata carrying the caller's internal access token, renewed before expiry."""
        ...

    def forget_internal_token(self) -> None:
        """Drop the cached token (a call refused it), so the next call gets a fresh one."""
        ...


async def call_internal(
    method: Callable[..., Awaitable[ResponseT]],
    request: Any,
    token: InternalToken,
    *,
    call_timeout: float,
    extra_metadata: CallMetadata = (),
) -> ResponseT:
    """``method(request)`` with ``token``'s metadata; once more with a fresh token when refused
    as UNAUTHENTICATED. Raises the call's ``grpc.aio.AioRpcError`` otherwise."""
    for attempt in (1, 2):
        try:
            return await method(
                request,
                metadata=[*await token.internal_metadata(), *extra_metadata],
                timeout=call_timeout,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAUTHENTICATED or attempt == 2:
                raise
            token.forget_internal_token()  # signed by a key retired since: get a new one
    raise AssertionError("unreachable")


_ERRORS_BY_CODE: dict[grpc.StatusCode, type[DomainError]] = {
    error.code: error
    for error in (
        NotFound,
        AlreadyExists,
        Aborted,
        FailedPrecondition,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
    )
}


def domain_error_of(error: grpc.aio.AioRpcError) -> DomainError:
    """The domain error a failed call carries; a failure without one (the service was away, a
    deadline passed) keeps its code, with ``reason`` the code's name."""
    code = error.code()
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # a details trailer contradicting the call's code: trust neither
        status = None
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    for detail in status.details if status is not None else []:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(bad_request.DESCRIPTOR):
            detail.Unpack(bad_request)
    message = status.message if status is not None else (error.details() or code.name)
    reason = info.reason or code.name
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
        return InvalidArgument(violations, reason=reason, message=message)
    error_type = _ERRORS_BY_CODE.get(code)
    if error_type is not None:
        return error_type(message, reason=reason, metadata=dict(info.metadata))
    carried = DomainError(message, reason=reason, metadata=dict(info.metadata))
    carried.code = code
    return carried
