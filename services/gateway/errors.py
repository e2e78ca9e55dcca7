"""The gateway's one error model: gRPC statuses to HTTP statuses, and one JSON error body.

Every error response has Google's JSON error shape::

    {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "...", "details": [...]}}

where ``details`` are the ``google.rpc`` detail messages (ErrorInfo, BadRequest, ...) in their
JSON form with an ``@type``. Errors from a service keep the details that service sent; errors the
gateway raises itself (validation, routing, failures) carry the same kinds of details.
This module is pure logic; :mod:`services.gateway.error_handlers` plugs it into FastAPI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.json_format import MessageToDict
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from shared.errors import ERROR_DOMAIN, RETRY_AFTER_MS, FieldViolation, InvalidArgument

HTTP_STATUS_BY_CODE: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

#: The canonical code named in the body of an error the HTTP layer raises itself (routing, body
#: parsing), so such bodies still carry a ``status`` a client can switch on.
_CODE_BY_HTTP_STATUS: Mapping[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

#: Messages for statuses that arrive without a service's own google.rpc.Status: those come from
#: the transport, and their text (addresses, connection errors) is not for API clients.
_TRANSPORT_MESSAGES: Mapping[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "the service is unavailable; retry later",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the request did not complete in time",
    grpc.StatusCode.CANCELLED: "the request was cancelled",
    grpc.StatusCode.UNIMPLEMENTED: "this operation is not implemented",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "the request exceeded a limit",
}
INTERNAL_MESSAGE = "internal error"

#: Request parts FastAPI names first in a validation error's location.
_REQUEST_PARTS = frozenset({"body", "query", "path", "header", "cookie"})


def http_status_for(code: grpc.StatusCode) -> int:
    return HTTP_STATUS_BY_CODE.get(code, 500)


def code_for_http_status(http_status: int) -> grpc.StatusCode:
    if http_status in _CODE_BY_HTTP_STATUS:
        return _CODE_BY_HTTP_STATUS[http_status]
    return grpc.StatusCode.INVALID_ARGUMENT if http_status < 500 else grpc.StatusCode.INTERNAL


def error_info(reason: str, metadata: Mapping[str, str] | None = None) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(
        error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata or {})
    )
    return packed


def detail_to_json(detail: any_pb2.Any) -> dict[str, Any]:
    try:
        return MessageToDict(detail)
    except TypeError:  # a detail type this process has no descriptor for: name it, no more
        return {"@type": detail.type_url}


def error_body(
    http_status: int, code: grpc.StatusCode, message: str, details: Iterable[any_pb2.Any] = ()
) -> dict[str, Any]:
    return {
        "error": {
            "code": http_status,
            "status": code.name,
            "message": message,
            "details": [detail_to_json(detail) for detail in details],
        }
    }


def _service_status(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status a service attached, or None when the failure has none."""
    try:
        return rpc_status.from_call(error)
    except ValueError:  # a details trailer contradicting the call's code: trust neither
        return None


def retry_after_seconds(error: grpc.aio.AioRpcError) -> int | None:
    """Whole seconds (rounded up, at least 1) from the ErrorInfo's ``retry_after_ms``, if any:
    the Retry-After of a refusal a service says may succeed later."""
    status = _service_status(error)
    for detail in status.details if status is not None else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):  # False, untouched, for a detail of another type
            value = info.metadata.get(RETRY_AFTER_MS, "")
            if value.isdigit():
                return max(1, math.ceil(int(value) / 1000))
    return None


def rpc_error_body(error: grpc.aio.AioRpcError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body for a failed gRPC call."""
    code = error.code()
    http_status = http_status_for(code)
    status = _service_status(error)
    if status is not None:
        return http_status, error_body(http_status, code, status.message, status.details)
    message = _TRANSPORT_MESSAGES.get(code, INTERNAL_MESSAGE if http_status >= 500 else code.name)
    return http_status, error_body(http_status, code, message, [error_info(code.name)])


def _field_of(location: Sequence[str | int], error_type: str) -> str:
    """``("body", "plan", 0, "x")`` -> ``plan[0].x``; a bare request part names itself."""
    parts = list(location)
    part = str(parts.pop(0)) if parts and parts[0] in _REQUEST_PARTS else "request"
    if error_type == "json_invalid":  # its location ends in a character offset, not a field
        return part
    field = ""
    for item in parts:
        if isinstance(item, int):
            field += f"[{item}]"
        else:
            field += f".{item}" if field else str(item)
    return field or part


def validation_error_body(errors: Sequence[Mapping[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The body for request validation errors: one BadRequest field violation per error."""
    invalid = InvalidArgument(
        [
            FieldViolation(_field_of(err.get("loc", ()), str(err.get("type", ""))), err["msg"])
            for err in errors
        ]
        or [FieldViolation("request", "is invalid")]
    )
    return 400, error_body(
        400, grpc.StatusCode.INVALID_ARGUMENT, invalid.message, invalid.details()
    )


def http_error_body(http_status: int, message: str) -> dict[str, Any]:
    """The body for an error the HTTP layer raised itself, such as an unknown path."""
    code = code_for_http_status(http_status)
    return error_body(http_status, code, message, [error_info(code.name)])


def internal_error_body() -> tuple[int, dict[str, Any]]:
    code = grpc.StatusCode.INTERNAL
    return 500, error_body(500, code, INTERNAL_MESSAGE, [error_info(code.name)])
