"""Requests checked at the edge, once, before any handler sees them.

gRPC turns an exception in a request deserializer into UNKNOWN carrying the exception's text,
and logs a traceback per call. :class:`DecodingInterceptor` wraps every method's deserializer
instead: a message that does not parse (truncated, invalid UTF-8, wrong wire types, nesting past
protobuf's recursion limit) or that holds a timestamp or duration outside the range the protobuf
types define becomes INVALID_ARGUMENT, naming the field when there is one and never the parser's
internals. Refusals are logged once per caller per interval, with a count, not once per call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from shared.errors import FieldViolation, InvalidArgument
from shared.method_handlers import PerMethodInterceptor, stream_behaviour, unary_behaviour
from shared.proto_descriptors import MessageDescriptor

log = logging.getLogger("quarterdeck.decoding")

#: google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
#: google.protobuf.Duration's documented range: about +-10,000 years.
MAX_DURATION_SECONDS = 315_576_000_000
NANOS_PER_SECOND = 1_000_000_000
_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"
_CHECKED_TYPES = frozenset({_TIMESTAMP, _DURATION})


@dataclass(frozen=True)
class Undecodable:
    """What a wrapped deserializer returns in place of a message it refused."""

    violation: FieldViolation

    def error(self) -> InvalidArgument:
        return InvalidArgument(self.violation, reason="MALFORMED_REQUEST")


_UNPARSABLE = Undecodable(FieldViolation("request", "is not a valid message of this method"))

# Per message type: does it hold (at any depth) a field of a type checked here? Decided once,
# so messages without one (an OTLP export, most requests) are not walked at all.
_holds_checked: dict[str, bool] = {}


def _needs_walk(descriptor: MessageDescriptor) -> bool:
    name = descriptor.full_name
    known = _holds_checked.get(name)
    if known is not None:
        return known
    _holds_checked[name] = False  # a recursive type is answered by its other fields
    found = False
    for field in descriptor.fields:
        kind = field.message_type
        if kind is not None and (kind.full_name in _CHECKED_TYPES or _needs_walk(kind)):
            found = True
            break
    _holds_checked[name] = found
    return found


def _time_problem(message: Timestamp | Duration) -> str | None:
    seconds, nanos = message.seconds, message.nanos
    if message.DESCRIPTOR.full_name == _TIMESTAMP:
        if not 0 <= nanos < NANOS_PER_SECOND:
            return "nanos must be between 0 and 999,999,999"
        if not MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS:
            return "must lie between the years 1 and 9999"
        return None
    if not -NANOS_PER_SECOND < nanos < NANOS_PER_SECOND or (seconds and nanos * seconds < 0):
        return "nanos must be within one second and carry the sign of seconds"
    if abs(seconds) > MAX_DURATION_SECONDS:
        return f"must be at most {MAX_DURATION_SECONDS} seconds either way"
    return None


def out_of_range_field(message: Message, path: str = "") -> FieldViolation | None:
    """The first timestamp or duration in ``message`` outside its type's range, by field path."""
    descriptor = message.DESCRIPTOR
    if descriptor.full_name in _CHECKED_TYPES:
        # The descriptor's name said which of the two types the message is.
        problem = _time_problem(cast("Timestamp | Duration", message))
        return FieldViolation(path or "request", problem) if problem else None
    if not _needs_walk(descriptor):
        return None
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        name = f"{path}.{field.name}" if path else field.name
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is None:
                continue
            items: Any = ((f"{name}[{key!r}]", item) for key, item in value.items())
        elif field.is_repeated:
            items = ((f"{name}[{index}]", item) for index, item in enumerate(value))
        else:
            items = ((name, value),)
        for item_path, item in items:
            if violation := out_of_range_field(item, item_path):
                return violation
    return None


def _message_type_of(deserialize: Callable[[bytes], Any]) -> MessageDescriptor | None:
    """The descriptor of the message a generated deserializer (``Message.FromString``, a class
    method) makes, when it is one."""
    owner = getattr(deserialize, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, Message):
        return owner.DESCRIPTOR
    return None


def checked_deserializer(
    deserialize: Callable[[bytes], Any] | None,
) -> Callable[[bytes], Any] | None:
    """``deserialize`` returning :class:`Undecodable` instead of raising or passing bad times."""
    if deserialize is None:
        return None
    descriptor = _message_type_of(deserialize)
    if (
        descriptor is not None
        and descriptor.full_name not in _CHECKED_TYPES
        and not _needs_walk(descriptor)
    ):
        # No timestamp or duration at any depth (most requests): nothing to check once parsed.
        def parsed(data: bytes) -> Any:
            try:
                return deserialize(data)
            except Exception:  # noqa: BLE001 - whatever the parser raises, the bytes are unreadable
                return _UNPARSABLE

        return parsed

    def checked(data: bytes) -> Any:
        try:
            message = deserialize(data)
        except Exception:  # noqa: BLE001 - whatever the parser raises, the bytes are unreadable
            return _UNPARSABLE
        if isinstance(message, Message) and (violation := out_of_range_field(message)):
            return Undecodable(violation)
        return message

    return checked


class RefusalLog:
    """Logs a refused request once per caller per ``interval``, counting the ones in between."""

    _MAX_CALLERS = 10_000

    def __init__(self, interval_seconds: float = 60.0) -> None:
        self._interval = interval_seconds
        self._callers: dict[str, tuple[float, int]] = {}

    def refused(self, caller: str, method: str, refusal: Undecodable) -> bool:
        """Records one refusal; True when it was logged."""
        now = time.monotonic()
        last, suppressed = self._callers.get(caller, (float("-inf"), 0))
        if now - last < self._interval:
            self._callers[caller] = (last, suppressed + 1)
            return False
        if len(self._callers) >= self._MAX_CALLERS:
            self._callers.clear()  # a flood of callers must not grow this without bound
        self._callers[caller] = (now, 0)
        log.warning(
            "undecodable request from %s to %s: %s: %s (%d more from this caller since last)",
            caller,
            method,
            refusal.violation.field,
            refusal.violation.description,
            suppressed,
        )
        return True


def caller_of(context: grpc.aio.ServicerContext) -> str:
    """The caller's address without its port: one caller may open many connections."""
    peer = context.peer() or "unknown"
    host, _, port = peer.rpartition(":")
    return host if host and port.isdigit() else peer


class DecodingInterceptor(PerMethodInterceptor):
    """Installs :func:`checked_deserializer` on every method and refuses what it marks."""

    def __init__(self, refusals: RefusalLog | None = None) -> None:
        super().__init__()
        self._refusals = refusals or RefusalLog()

    async def _refuse(
        self, method: str, refusal: Undecodable, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        self._refusals.refused(caller_of(context), method, refusal)
        await context.abort_with_status(refusal.error().to_status())

    def wrap(  # noqa: C901 - one wrapper per gRPC handler kind (unary/stream, request/response)
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        deserializer = checked_deserializer(handler.request_deserializer)
        unary, streaming = unary_behaviour(handler), stream_behaviour(handler)
        if handler.request_streaming:

            def requests(
                iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                async def checked() -> AsyncIterator[Any]:
                    async for item in iterator:
                        if isinstance(item, Undecodable):
                            self._refusals.refused(caller_of(context), method, item)
                            raise item.error()
                        yield item

                return checked()

            if unary is not None:
                answer = unary

                async def stream_unary(
                    iterator: Any, context: grpc.aio.ServicerContext[Any, Any]
                ) -> Any:
                    return await answer(requests(iterator, context), context)

                return grpc.stream_unary_rpc_method_handler(
                    stream_unary, deserializer, handler.response_serializer
                )

            assert streaming is not None  # a handler has one behaviour of the four
            answers = streaming

            async def stream_stream(
                iterator: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                async for item in answers(requests(iterator, context), context):
                    yield item

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, deserializer, handler.response_serializer
            )
        if unary is not None:
            answer = unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                if isinstance(request, Undecodable):
                    await self._refuse(method, request, context)
                return await answer(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, deserializer, handler.response_serializer
            )
        assert streaming is not None  # a handler has one behaviour of the four
        answers = streaming

        async def unary_stream(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            if isinstance(request, Undecodable):
                await self._refuse(method, request, context)
            async for item in answers(request, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(
            unary_stream, deserializer, handler.response_serializer
        )
