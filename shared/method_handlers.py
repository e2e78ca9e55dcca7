"""grpc.aio's method handlers, typed as the aio server uses them, and the one way a server
interceptor wraps each method's handler.

grpc's type stubs (types-grpcio) describe ``RpcMethodHandler`` for the synchronous server: each
behaviour a plain function over an ``Iterator`` and a ``grpc.ServicerContext``. Under grpc.aio the
same fields hold coroutine functions (one response) or async generator functions (a streamed
response) taking the aio context; :func:`unary_behaviour` and :func:`stream_behaviour` read them
as such, once, for the interceptors that wrap them.

A served process wraps them without a server interceptor at all (:func:`serve_wrapped`): grpc.aio
runs its interceptors per call, each through a coroutine of its own and one of grpc's, before
the method's handler is even known.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, cast

import grpc
from grpc.aio import ServerInterceptor

#: The next step of a call: the handler itself, or the layers inside this one.
UnaryCall = Callable[[Any, "grpc.aio.ServicerContext[Any, Any]"], Awaitable[Any]]
StreamCall = Callable[[Any, "grpc.aio.ServicerContext[Any, Any]"], AsyncIterator[Any]]
#: What a server interceptor's continuation answers: the method's handler, or None (unknown).
Continuation = Callable[
    [grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]
]


def unary_behaviour(handler: grpc.RpcMethodHandler[Any, Any]) -> UnaryCall | None:
    """The behaviour of a method answering once (unary_unary or stream_unary), if it is one."""
    return cast("UnaryCall | None", handler.unary_unary or handler.stream_unary)


def stream_behaviour(handler: grpc.RpcMethodHandler[Any, Any]) -> StreamCall | None:
    """The behaviour of a method streaming its answer (unary_stream or stream_stream)."""
    return cast("StreamCall | None", handler.unary_stream or handler.stream_stream)


#: What wraps a method's handler (given its full name) in what every call of it goes through.
Wrap = Callable[["grpc.RpcMethodHandler[Any, Any]", str], "grpc.RpcMethodHandler[Any, Any]"]


class _WrappedHandlers:
    """Each method's handler through ``wrap``, wrapped on the method's first call and reused
    for every later one (while the method's handler stays the same), so a call allocates no
    handler and no closures."""

    def __init__(self, wrap: Wrap) -> None:
        self._wrap = wrap
        self._wrapped: dict[
            str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]
        ] = {}

    def of(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


class PerMethodInterceptor(ServerInterceptor):
    """Serves each method through :meth:`wrap` of its handler, as a server interceptor; a
    served process applies the same ``wrap`` with :func:`serve_wrapped` instead."""

    def __init__(self) -> None:
        self._handlers = _WrappedHandlers(self.wrap)

    def wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        raise NotImplementedError

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return self._handlers.of(handler, handler_call_details.method)


class _WrappingGenericHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, handlers: _WrappedHandlers) -> None:
        self._inner = inner
        self._handlers = handlers

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        return self._handlers.of(handler, handler_call_details.method)


def serve_wrapped(server: grpc.aio.Server, *wraps: Wrap) -> None:
    """Serve every method ``server`` is given later (generic handlers: the generated
    ``add_*_to_server``, health and reflection add theirs so) through ``wraps``, the first
    outermost, as server interceptors in that order would, but with no interceptor run per call:
    the wrapped handler is what grpc's own lookup finds."""

    def wrap(
        handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        for each in reversed(wraps):
            handler = each(handler, method)
        return handler

    handlers = _WrappedHandlers(wrap)
    add = server.add_generic_rpc_handlers

    def add_wrapped(generic_rpc_handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        add([_WrappingGenericHandler(inner, handlers) for inner in generic_rpc_handlers])

    # An instance attribute shadows the method for this server alone (on purpose: mypy refuses
    # assigning to a method).
    server.add_generic_rpc_handlers = add_wrapped  # type: ignore[method-assign]
