"""What every service wraps around its handlers, outermost first: the call's server span
(:mod:`shared.server_spans`), the suppression of tracing for untraced methods, access log, error
mapping, auth context, deadline check. Each is a :class:`Layer`; :class:`LayeredInterceptor`
composes them once per method, for unary and streaming methods alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from opentelemetry.instrumentation.utils import suppress_instrumentation

from shared.auth import (
    Authenticator,
    Principal,
    PrincipalToken,
    current_principal,
    reset_principal,
    set_principal,
)
from shared.db_errors import input_error_of
from shared.downstream import downstream_error, watch_downstream_calls
from shared.errors import DomainError, PermissionDenied, Unauthenticated, internal_status
from shared.method_handlers import PerMethodInterceptor, stream_behaviour, unary_behaviour
from shared.method_handlers import StreamCall as StreamCall  # re-exported for the layers
from shared.method_handlers import UnaryCall as UnaryCall  # re-exported for the layers
from shared.security_events import SecurityEvent, SecurityEventSink
from shared.tracing import tag_tenant

log = logging.getLogger("quarterdeck.access")
#: A successful call slower than this is logged at INFO, like a failed one.
SLOW_CALL_SECONDS = 1.0
errors_log = logging.getLogger("quarterdeck.errors")


class Layer:
    """One concern wrapped around every call; subclasses define ``around_unary`` and
    ``around_stream`` and may leave methods out with ``applies_to``."""

    def applies_to(self, method: str) -> bool:
        return True

    async def around_unary(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: UnaryCall
    ) -> Any:
        return await call(request, context)

    async def around_stream(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: StreamCall
    ) -> AsyncIterator[Any]:
        async for item in call(request, context):
            yield item


def _unary_step(layer: Layer, method: str, inner: UnaryCall) -> UnaryCall:
    """``layer`` around ``inner``: a plain function handing back the layer's coroutine, so a
    layer adds one coroutine per call, not two (each costs its creation, a frame and a resumption
    on every await)."""
    around = layer.around_unary
    return lambda request, context: around(method, request, context, inner)


def _stream_step(layer: Layer, method: str, inner: StreamCall) -> StreamCall:
    around = layer.around_stream
    return lambda request, context: around(method, request, context, inner)


def _served_unary(inner: UnaryCall) -> UnaryCall:
    """The outermost step as grpc.aio wants a unary behaviour: a coroutine function (anything
    else is run on a thread of the executor)."""

    async def served(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await inner(request, context)

    return served


def _served_stream(inner: StreamCall) -> StreamCall:
    """The outermost step as grpc.aio wants a streaming behaviour: an async generator function
    (a plain function returning an async iterator is taken for a synchronous generator)."""

    async def served(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for item in inner(request, context):
            yield item

    return served


def _composed_handler(
    handler: grpc.RpcMethodHandler[Any, Any], method: str, layers: Sequence[Layer]
) -> grpc.RpcMethodHandler[Any, Any]:
    applied = [layer for layer in reversed(layers) if layer.applies_to(method)]
    behaviour: Callable[..., Any]
    if (unary := unary_behaviour(handler)) is not None:
        if applied:
            for layer in applied:
                unary = _unary_step(layer, method, unary)
            unary = _served_unary(unary)
        factory = (
            grpc.unary_unary_rpc_method_handler
            if handler.unary_unary
            else grpc.stream_unary_rpc_method_handler
        )
        behaviour = unary
    else:
        stream = stream_behaviour(handler)
        assert stream is not None  # a handler has one behaviour of the four
        for layer in applied:
            stream = _stream_step(layer, method, stream)
        stream = _served_stream(stream)
        factory = (
            grpc.unary_stream_rpc_method_handler
            if handler.unary_stream
            else grpc.stream_stream_rpc_method_handler
        )
        behaviour = stream
    return factory(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class LayeredInterceptor(PerMethodInterceptor):
    """Wraps every method's handler in ``layers`` (outermost first), composed once per method
    and reused for every later call, so a call allocates no handler and no closures."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        super().__init__()
        self._layers = tuple(layers)

    def wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        return _composed_handler(handler, method, self._layers)


class UntracedMethodsInterceptor(Layer):
    """Turns off every instrumentation (gRPC, SQL, ...) inside the given methods.

    The OTLP receiver's Export needs this: any span it recorded, its SQL ones included, would be
    exported back to it and stored, recording more, forever.
    """

    def __init__(self, methods: frozenset[str]) -> None:
        self._methods = methods

    def applies_to(self, method: str) -> bool:
        return method in self._methods

    async def around_unary(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: UnaryCall
    ) -> Any:
        with suppress_instrumentation():
            return await call(request, context)

    async def around_stream(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: StreamCall
    ) -> AsyncIterator[Any]:
        with suppress_instrumentation():
            async for item in call(request, context):
                yield item


class AccessLogInterceptor(Layer):
    """One line per call: method, final status code and duration (with the trace id). A call
    that failed, or took over :data:`SLOW_CALL_SECONDS`, is logged at INFO; a quick success at
    DEBUG (``QD_LOG_LEVEL=DEBUG`` shows every call): at INFO a line per call cost 7% of a
    service's CPU per call, for what the call's span already records."""

    @staticmethod
    def _log(method: str, context: grpc.aio.ServicerContext, started: float, failed: bool) -> None:
        elapsed = time.perf_counter() - started
        code = context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
        if isinstance(code, int):
            code = grpc.StatusCode(code) if code in grpc.StatusCode else code
        quiet = code is grpc.StatusCode.OK and elapsed < SLOW_CALL_SECONDS
        level = logging.DEBUG if quiet else logging.INFO
        if not log.isEnabledFor(level):
            return
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        log.log(level, "rpc %s %s %.1fms", method, name, elapsed * 1000)

    async def around_unary(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: UnaryCall
    ) -> Any:
        started, failed = time.perf_counter(), True
        try:
            result = await call(request, context)
            failed = False
            return result
        finally:
            self._log(method, context, started, failed)

    async def around_stream(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: StreamCall
    ) -> AsyncIterator[Any]:
        started, failed = time.perf_counter(), True
        try:
            async for item in call(request, context):
                yield item
            failed = False
        finally:
            self._log(method, context, started, failed)


class ErrorMappingInterceptor(Layer):
    """Turns domain errors into rich statuses, and anything unexpected into a bare INTERNAL.

    A call the handler made to another service that failed is answered as
    :func:`shared.downstream.downstream_error` says (the dependency's refusal, or UNAVAILABLE /
    DEADLINE_EXCEEDED naming it), never UNKNOWN.

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
        if isinstance(exc, grpc.aio.AioRpcError):
            exc = downstream_error(exc) or exc
        else:
            exc = input_error_of(exc) or exc
        if isinstance(exc, DomainError):
            if isinstance(exc, Unauthenticated | PermissionDenied):
                self._record_refusal(method, exc)
            await context.abort_with_status(exc.to_status())
        errors_log.exception("unhandled error in %s", method, exc_info=exc)
        await context.abort_with_status(internal_status())

    async def around_unary(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: UnaryCall
    ) -> Any:
        watch_downstream_calls()
        try:
            return await call(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to a status (INTERNAL, logged)
            await self._abort(method, context, exc)

    async def around_stream(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: StreamCall
    ) -> AsyncIterator[Any]:
        watch_downstream_calls()
        try:
            async for item in call(request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to a status (INTERNAL, logged)
            await self._abort(method, context, exc)


class AuthContextInterceptor(Layer):
    """Verifies the caller once per call and exposes the principal to the handler."""

    def __init__(self, authenticator: Authenticator, public_methods: frozenset[str]) -> None:
        self._authenticator = authenticator
        self._public = public_methods

    def _caller_metadata(
        self, method: str, context: grpc.aio.ServicerContext
    ) -> tuple[tuple[str, str | bytes], ...] | None:
        """The metadata to verify the caller from; None for a method anyone may call."""
        if method in self._public or method.startswith(_INFRASTRUCTURE_PREFIXES):
            return None
        return tuple(context.invocation_metadata() or ())

    @staticmethod
    def _enter(principal: Principal | None) -> PrincipalToken:
        tag_tenant(principal.tenant_id if principal else None)
        return set_principal(principal)

    # The caller is verified inline in each (not in a coroutine of its own: one less per call).
    # On failure the principal stays set while the error propagates, so the error interceptor can
    # record who was refused; each call runs in its own task, so it reaches no other call.
    async def around_unary(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: UnaryCall
    ) -> Any:
        metadata = self._caller_metadata(method, context)
        token = (
            set_principal(None)
            if metadata is None
            else self._enter(await self._authenticator.authenticate(method, metadata))
        )
        result = await call(request, context)
        reset_principal(token)
        return result

    async def around_stream(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: StreamCall
    ) -> AsyncIterator[Any]:
        metadata = self._caller_metadata(method, context)
        token = (
            set_principal(None)
            if metadata is None
            else self._enter(await self._authenticator.authenticate(method, metadata))
        )
        async for item in call(request, context):
            yield item
        reset_principal(token)


class DeadlineInterceptor(Layer):
    """Refuses work whose deadline has already passed; grpc.aio cancels the rest on expiry."""

    @staticmethod
    def _expired(context: grpc.aio.ServicerContext) -> bool:
        remaining = context.time_remaining()
        return remaining is not None and remaining <= 0

    @staticmethod
    async def _refuse(context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before start")

    def around_unary(  # type: ignore[override]  # hands back the call's own awaitable
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: UnaryCall
    ) -> Awaitable[Any]:
        """The call itself when there is time left (no coroutine of its own per call)."""
        if self._expired(context):
            return self._refuse(context)
        return call(request, context)

    async def around_stream(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: StreamCall
    ) -> AsyncIterator[Any]:
        if self._expired(context):
            await self._refuse(context)
        async for item in call(request, context):
            yield item


_INFRASTRUCTURE_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
