"""grpc.aio's method handlers, typed as the aio server uses them, and the one way a server
interceptor wraps each method's handler.

grpc's type stubs (types-grpcio) describe ``RpcMethodHandler`` for the synchronous server: each
behaviour a plain function over an ``Iterator`` and a ``grpc.ServicerContext``. Under grpc.aio the
same fields hold coroutine functions (one response) or async generator functions (a streamed
response) taking the aio context; :func:`unary_behaviour` and :func:`stream_behaviour` read them
as such, once, for the interceptors that wrap them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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


class PerMethodInterceptor(ServerInterceptor):
    """Serves each method through :meth:`wrap` of its handler, wrapped on the method's first
    call and reused for every later one, so a call allocates no handler and no closures."""

    def __init__(self) -> None:
        self._wrapped: dict[
            str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]
        ] = {}

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
        method = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self.wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped
