"""Server interceptors every service installs, outermost first: tracing (and its suppression for
untraced methods), access log, error mapping, auth context, deadline check. Each wraps the handler's behaviour the same way, for
unary and streaming methods alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import ServerInterceptor
from opentelemetry.instrumentation.utils import suppress_instrumentation

from shared.auth import Authenticator, current_principal, reset_principal, set_principal
from shared.errors import DomainError, PermissionDenied, Unauthenticated, internal_status
from shared.security_events import SecurityEvent, SecurityEventSink
from shared.tracing import tag_tenant

log = logging.getLogger("quarterdeck.access")
errors_log = logging.getLogger("quarterdeck.errors")

Behaviour = Callable[..., Any]
#: (method, request-or-iterator, context, call-next) for unary responses.
UnaryWrap = Callable[
    [str, Any, grpc.aio.ServicerContext, Callable[[], Awaitable[Any]]], Awaitable[Any]
]
#: Wraps the opening of a streamed response: runs before the first message, with the same shape.
StreamWrap = Callable[
    [str, Any, grpc.aio.ServicerContext, Callable[[], AsyncIterator[Any]]], AsyncIterator[Any]
]


def _wrapped_handler(
    handler: grpc.RpcMethodHandler, method: str, unary: UnaryWrap, stream: StreamWrap
) -> grpc.RpcMethodHandler:
    if handler.unary_unary or handler.stream_unary:
        inner = handler.unary_unary or handler.stream_unary

        async def call_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await unary(method, request, context, lambda: inner(request, context))

        factory = (
            grpc.unary_unary_rpc_method_handler
            if handler.unary_unary
            else grpc.stream_unary_rpc_method_handler
        )
        return factory(
            call_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    inner_stream = handler.unary_stream or handler.stream_stream

    async def call_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for item in stream(method, request, context, lambda: inner_stream(request, context)):
            yield item

    factory = (
        grpc.unary_stream_rpc_method_handler
        if handler.unary_stream
        else grpc.stream_stream_rpc_method_handler
    )
    return factory(
        call_stream,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _WrappingInterceptor(ServerInterceptor):
    """Base: subclasses define ``around_unary`` and ``around_stream``."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _wrapped_handler(
            handler, handler_call_details.method, self.around_unary, self.around_stream
        )

    async def around_unary(
        self,
        method: str,
        request: Any,
        context: grpc.aio.ServicerContext,
        call: Callable[[], Awaitable[Any]],
    ) -> Any:
        return await call()

    async def around_stream(
        self,
        method: str,
        request: Any,
        context: grpc.aio.ServicerContext,
        call: Callable[[], AsyncIterator[Any]],
    ) -> AsyncIterator[Any]:
        async for item in call():
            yield item


class UntracedMethodsInterceptor(_WrappingInterceptor):
    """Turns off every instrumentation (gRPC, SQL, ...) inside the given methods.

    The OTLP receiver's Export needs this: any span it recorded, its SQL ones included, would be
    exported back to it and stored, recording more, forever.
    """

    def __init__(self, methods: frozenset[str]) -> None:
        self._methods = methods

    async def around_unary(self, method, request, context, call):  # type: ignore[no-untyped-def]
        if method not in self._methods:
            return await call()
        with suppress_instrumentation():
            return await call()

    async def around_stream(self, method, request, context, call):  # type: ignore[no-untyped-def]
        if method not in self._methods:
            async for item in call():
                yield item
            return
        with suppress_instrumentation():
            async for item in call():
                yield item


class AccessLogInterceptor(_WrappingInterceptor):
    """One line per call: method, final status code and duration (with the trace id)."""

    @staticmethod
    def _log(method: str, context: grpc.aio.ServicerContext, started: float, failed: bool) -> None:
        code = context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
        if isinstance(code, int):
            code = grpc.StatusCode(code) if code in grpc.StatusCode else code
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        log.info("rpc %s %s %.1fms", method, name, (time.perf_counter() - started) * 1000)

    async def around_unary(self, method, request, context, call):  # type: ignore[no-untyped-def]
        started, failed = time.perf_counter(), True
        try:
            result = await call()
            failed = False
            return result
        finally:
            self._log(method, context, started, failed)

    async def around_stream(self, method, request, context, call):  # type: ignore[no-untyped-def]
        started, failed = time.perf_counter(), True
        try:
            async for item in call():
                yield item
            failed = False
        finally:
            self._log(method, context, started, failed)


class ErrorMappingInterceptor(_WrappingInterceptor):
    """Turns domain errors into rich statuses, and anything unexpected into a bare INTERNAL.

    Every refusal (UNAUTHENTICATED, PERMISSION_DENIED) is also handed to the security sink, so a
    forged token or a cross-tenant attempt is recorded wherever it is caught; reasons the
    service's handlers record themselves, with more detail, are left to them.
    """

    def __init__(
        self, source: str, sink: SecurityEventSink, self_recorded: frozenset[str] = frozenset()
    ) -> None:
        self._source = source
        self._sink = sink
        self._self_recorded = self_recorded

    def _record_refusal(self, method: str, exc: DomainError) -> None:
        if exc.reason in self._self_recorded:
            return
        principal = current_principal()
        self._sink(
            SecurityEvent(
                event_type=exc.reason.lower()[:32],
                source=self._source,
                tenant_id=principal.tenant_id if principal else None,
                user_id=principal.user_id if principal else None,
                metadata={"method": method, "code": exc.code.name, **exc.metadata},
            )
        )

    async def _abort(self, method: str, context: grpc.aio.ServicerContext, exc: Exception) -> None:
        if isinstance(exc, DomainError):
            if isinstance(exc, Unauthenticated | PermissionDenied):
                self._record_refusal(method, exc)
            await context.abort_with_status(exc.to_status())
        errors_log.exception("unhandled error in %s", method, exc_info=exc)
        await context.abort_with_status(internal_status())

    async def around_unary(self, method, request, context, call):  # type: ignore[no-untyped-def]
        try:
            return await call()
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception as exc:
            await self._abort(method, context, exc)

    async def around_stream(self, method, request, context, call):  # type: ignore[no-untyped-def]
        try:
            async for item in call():
                yield item
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception as exc:
            await self._abort(method, context, exc)


class AuthContextInterceptor(_WrappingInterceptor):
    """Verifies the caller once per call and exposes the principal to the handler."""

    def __init__(self, authenticator: Authenticator, public_methods: frozenset[str]) -> None:
        self._authenticator = authenticator
        self._public = public_methods

    async def _principal_token(self, method: str, context: grpc.aio.ServicerContext) -> object:
        if method in self._public or method.startswith(_INFRASTRUCTURE_PREFIXES):
            return set_principal(None)
        metadata = tuple(context.invocation_metadata() or ())
        principal = await self._authenticator.authenticate(method, metadata)
        tag_tenant(principal.tenant_id if principal else None)
        return set_principal(principal)

    # On failure the principal stays set while the error propagates, so the error interceptor can
    # record who was refused; each call runs in its own task, so it reaches no other call.
    async def around_unary(self, method, request, context, call):  # type: ignore[no-untyped-def]
        token = await self._principal_token(method, context)
        result = await call()
        reset_principal(token)
        return result

    async def around_stream(self, method, request, context, call):  # type: ignore[no-untyped-def]
        token = await self._principal_token(method, context)
        async for item in call():
            yield item
        reset_principal(token)


class DeadlineInterceptor(_WrappingInterceptor):
    """Refuses work whose deadline has already passed; grpc.aio cancels the rest on expiry."""

    @staticmethod
    async def _check(context: grpc.aio.ServicerContext) -> None:
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before start")

    async def around_unary(self, method, request, context, call):  # type: ignore[no-untyped-def]
        await self._check(context)
        return await call()

    async def around_stream(self, method, request, context, call):  # type: ignore[no-untyped-def]
        await self._check(context)
        async for item in call():
            yield item


_INFRASTRUCTURE_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
