"""The one error model: domain exceptions, mapped in one place to gRPC statuses with rich details.

Handlers raise these; the error interceptor turns them into a ``google.rpc.Status`` carrying an
``ErrorInfo`` (reason, domain, metadata) and, for bad input, a ``BadRequest`` with one field
violation per bad field (AIP-193). Anything else becomes INTERNAL with no internals leaked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "quarterdeck.dev"
#: The ErrorInfo metadata key saying, in milliseconds, when a refused request may succeed.
RETRY_AFTER_MS = "retry_after_ms"
#: The trailer carrying a RetryInfo on its own (Google's per-detail convention), which clients
#: such as the OpenTelemetry OTLP exporter read to time their retry.
RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"


class _Status(grpc.Status):
    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        trailing_metadata: tuple[tuple[str, str | bytes], ...],
    ) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a handler raises on purpose."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    default_reason = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})

    def details(self) -> list[any_pb2.Any]:
        info = any_pb2.Any()
        info.Pack(
            error_details_pb2.ErrorInfo(
                reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
            )
        )
        return [info]

    def to_status(self) -> grpc.Status:
        proto = status_pb2.Status(
            code=self.code.value[0], message=self.message, details=self.details()
        )
        return rpc_status.to_status(proto)


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        violations: Sequence[FieldViolation] | FieldViolation,
        *,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        self.violations = (
            [violations] if isinstance(violations, FieldViolation) else list(violations)
        )
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message or f"invalid argument: {summary}", reason=reason)

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls(FieldViolation(field, description))

    def details(self) -> list[any_pb2.Any]:
        bad_request = any_pb2.Any()
        bad_request.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in self.violations
                ]
            )
        )
        return [*super().details(), bad_request]


class NotFound(DomainError):
    """A missing row, or another tenant's row: the caller cannot tell the two apart."""

    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class Aborted(DomainError):
    """A concurrency conflict such as a stale optimistic version; the caller should re-read."""

    code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        """``retry_after_seconds``: when trying again may succeed, sent as a RetryInfo detail
        and as the ErrorInfo's ``retry_after_ms`` (which the gateway answers as Retry-After)."""
        if retry_after_seconds is not None:
            metadata = {
                **(metadata or {}),
                RETRY_AFTER_MS: str(math.ceil(retry_after_seconds * 1000)),
            }
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_seconds = retry_after_seconds

    def _retry_info(self) -> error_details_pb2.RetryInfo | None:
        if self.retry_after_seconds is None:
            return None
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(math.ceil(self.retry_after_seconds * 1000))
        return error_details_pb2.RetryInfo(retry_delay=delay)

    def details(self) -> list[any_pb2.Any]:
        details = super().details()
        if (info := self._retry_info()) is not None:
            retry = any_pb2.Any()
            retry.Pack(info)
            details.append(retry)
        return details

    def to_status(self) -> grpc.Status:
        """The status, with the RetryInfo also in a trailer of its own when there is one."""
        status = super().to_status()
        if (info := self._retry_info()) is None:
            return status
        return _Status(
            status.code,
            status.details,
            (*status.trailing_metadata, (RETRY_INFO_TRAILER, info.SerializeToString())),
        )


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(DomainError):
    """A dependency did not answer within the time this call allowed it."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


def internal_status() -> grpc.Status:
    """The status for an unexpected failure: nothing about its cause reaches the caller."""
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message="internal error"))
