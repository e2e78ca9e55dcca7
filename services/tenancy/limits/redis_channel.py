"""One pipelined connection to Redis for the hot path's two scripts (Reserve's take and Settle's
adjustment), beside redis-py's client for everything else.

redis-py spends 65-110 us of CPU per script call here (a pool checkout, a retry wrapper, a
stream reader awaited piece by piece, a timeout scope per read); this connection writes the
command in one go and answers calls in order from one ``data_received``: 13-20 us. It is used
for plain TCP and Unix-socket URLs; TLS ones go through redis-py only.

Failures raise redis-py's exceptions, so callers treat them alike: a connection that cannot be
made or is lost fails every call waiting on it with ``ConnectionError`` (the caller retries
once, on a new connection: the scripts are idempotent by reservation id), a call unanswered
within the timeout fails with ``TimeoutError`` and closes the connection (later answers could
no longer be matched to their calls), and an error reply raises ``ResponseError`` (or
``NoScriptError`` for a script Redis does not know, which the caller loads).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_CRLF = b"\r\n"


class _Incomplete(Exception):
    """The buffer does not hold a whole reply yet."""


def _reply(buffer: bytearray, at: int) -> tuple[Any, int]:
    """The RESP2 reply starting at ``at`` and where the next one starts; raises
    :class:`_Incomplete` when it has not all arrived."""
    end = buffer.find(_CRLF, at)
    if end < 0:
        raise _Incomplete
    kind, line, after = buffer[at], bytes(buffer[at + 1 : end]), end + 2
    if kind == 0x3A:  # ':' integer
        return int(line), after
    if kind == 0x24:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2A:  # '*' array
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _reply(buffer, after)
            items.append(item)
        return items, after
    if kind == 0x2B:  # '+' simple string
        return line, after
    if kind == 0x2D:  # '-' error
        message = line.decode(errors="replace")
        if message.startswith("NOSCRIPT"):
            return NoScriptError(message), after
        return ResponseError(message), after
    raise RedisConnectionError(f"unexpected reply from Redis: {bytes(buffer[at:end])[:40]!r}")


def _command(args: tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self._buffer = bytearray()
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        taken = 0
        try:
            while self.waiting and taken < len(self._buffer):
                value, taken = _reply(self._buffer, taken)
                future = self.waiting.popleft()
                if not future.done():
                    if isinstance(value, RedisError):
                        future.set_exception(value)
                    else:
                        future.set_result(value)
        except _Incomplete:
            pass
        except RedisError as error:
            self.fail(error)
            return
        del self._buffer[:taken]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to Redis lost ({exc or 'closed'})"))

    def fail(self, error: RedisError) -> None:
        if self.lost is None:
            self.lost = error
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()


class ScriptChannel:
    """See the module's docstring; made by :meth:`for_client`, closed by :meth:`close`."""

    def __init__(self, kwargs: dict[str, Any], timeout: float | None) -> None:
        self._kwargs = kwargs
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    @classmethod
    def for_client(cls, client: aioredis.Redis) -> ScriptChannel | None:
        """A channel to the server ``client`` talks to, or None where this one cannot go
        (TLS)."""
        pool = client.connection_pool
        if pool.connection_class not in (aioredis.Connection, aioredis.UnixDomainSocketConnection):
            return None
        kwargs = pool.connection_kwargs
        return cls(dict(kwargs), kwargs.get("socket_timeout"))

    async def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        """``EVALSHA sha len(keys) *keys *args``'s reply, retried once on a new connection if
        the connection failed."""
        command = _command(("EVALSHA", sha, len(keys), *keys, *args))
        try:
            return await self._call(command)
        except RedisConnectionError:
            return await self._call(command)

    async def _call(self, command: bytes) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        return await self._send(protocol, command)

    async def _send(self, protocol: _Protocol, command: bytes) -> Any:
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        protocol.waiting.append(future)
        protocol.transport.write(command)
        if self._timeout is None:
            return await future
        timer = loop.call_later(self._timeout, self._expire, protocol, future)
        try:
            return await future
        finally:
            timer.cancel()

    @staticmethod
    def _expire(protocol: _Protocol, future: asyncio.Future[Any]) -> None:
        if not future.done():
            protocol.fail(RedisTimeoutError("Redis did not answer in time"))

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_future()
            try:
                protocol = await self._open()
            except BaseException as error:
                connecting, self._connecting = self._connecting, None
                connecting.set_exception(error)
                connecting.exception()  # retrieved: the callers waiting on it raise it
                raise
            self._protocol = protocol
            connecting, self._connecting = self._connecting, None
            connecting.set_result(protocol)
            return protocol
        return await asyncio.shield(self._connecting)

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        kwargs = self._kwargs
        timeout = kwargs.get("socket_connect_timeout") or self._timeout
        try:
            async with asyncio.timeout(timeout):
                if "path" in kwargs:
                    _, protocol = await loop.create_unix_connection(_Protocol, kwargs["path"])
                else:
                    _, protocol = await loop.create_connection(
                        _Protocol, kwargs.get("host", "localhost"), kwargs.get("port", 6379)
                    )
        except TimeoutError:
            raise RedisTimeoutError("timed out connecting to Redis") from None
        except OSError as error:
            raise RedisConnectionError(f"cannot connect to Redis ({error})") from None
        try:
            if kwargs.get("password") is not None:
                credentials = [kwargs["password"]]
                if kwargs.get("username"):
                    credentials.insert(0, kwargs["username"])
                await self._send(protocol, _command(("AUTH", *credentials)))
            if kwargs.get("db"):
                await self._send(protocol, _command(("SELECT", kwargs["db"])))
        except BaseException:
            protocol.fail(RedisConnectionError("Redis refused the connection's setup"))
            raise
        return protocol

    def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.fail(RedisConnectionError("closed"))
