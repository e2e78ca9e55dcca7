"""Calling a model provider: any OpenAI-compatible Chat Completions endpoint, streamed.

:meth:`ChatProvider.complete` sends the conversation, hands each piece of text to ``on_text`` as
it arrives, and returns the whole reply (text, tool calls, usage). Failures are
:class:`ProviderError` with a stable reason:

* refused before anything streamed with 429, 5xx or a timeout: retried with exponential backoff,
  then ``PROVIDER_RATE_LIMITED`` / ``PROVIDER_UNAVAILABLE`` / ``PROVIDER_TIMEOUT``;
* 401/403: ``PROVIDER_KEY_REJECTED`` (never retried: the key is wrong);
* other 4xx: ``PROVIDER_REQUEST_REJECTED``;
* the stream cut once text flowed: ``PROVIDER_STREAM_BROKEN`` (not retried, since what was
  streamed is already out; never a fake "stop");
* a reply that is not Chat Completions: ``PROVIDER_MALFORMED_REPLY``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRIED_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class ProviderError(Exception):
    def __init__(self, reason: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass
class ChatReply:
    response_id: str = ""
    model: str = ""
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = ""
    usage: Usage = field(default_factory=Usage)
    #: Attempts made, 1 when the first one answered.
    attempts: int = 1


class _StreamStarted(Exception):
    """Text reached the caller: from here on a failure cannot be retried."""


class ChatProvider:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 60.0,
    ) -> None:
        self._client = client
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds

    async def complete(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        on_text: Callable[[str], Awaitable[None]] | None = None,
    ) -> ChatReply:
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = tools
        url = base_url.rstrip("/") + "/chat/completions"
        headers = {"authorization": f"Bearer {api_key}"}
        for attempt in range(1, self._max_attempts + 1):
            reply = ChatReply(attempts=attempt)
            try:
                await self._stream(url, headers, body, reply, on_text)
                return reply
            except ProviderError as error:
                retriable = error.status in RETRIED_STATUSES or error.reason == "PROVIDER_TIMEOUT"
                if not retriable or reply.text or attempt == self._max_attempts:
                    raise
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def _stream(
        self,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any],
        reply: ChatReply,
        on_text: Callable[[str], Awaitable[None]] | None,
    ) -> None:
        calls: dict[int, ToolCall] = {}
        try:
            async with self._client.stream(
                "POST", url, json=body, headers=headers, timeout=self._timeout
            ) as response:
                if response.status_code != 200:
                    raise _refusal(response.status_code, (await response.aread())[:500])
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    await self._take(data, reply, calls, on_text)
        except httpx.TimeoutException:
            if reply.text:
                raise ProviderError(
                    "PROVIDER_STREAM_BROKEN", "the provider stopped answering mid-stream"
                ) from None
            raise ProviderError("PROVIDER_TIMEOUT", "the provider did not answer in time") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise ProviderError(
                "PROVIDER_STREAM_BROKEN", f"the provider's stream broke: {type(exc).__name__}"
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                "PROVIDER_UNAVAILABLE", f"the provider could not be reached: {type(exc).__name__}"
            ) from None
        if not reply.finish_reason:
            raise ProviderError(
                "PROVIDER_STREAM_BROKEN", "the provider's stream ended without a finish reason"
            )
        reply.tool_calls = [calls[i] for i in sorted(calls)]

    @staticmethod
    async def _take(
        data: str,
        reply: ChatReply,
        calls: dict[int, ToolCall],
        on_text: Callable[[str], Awaitable[None]] | None,
    ) -> None:
        try:
            chunk = json.loads(data)
            reply.response_id = reply.response_id or str(chunk.get("id", ""))
            reply.model = reply.model or str(chunk.get("model", ""))
            usage = chunk.get("usage")
            if usage:
                details = usage.get("prompt_tokens_details") or {}
                completion_details = usage.get("completion_tokens_details") or {}
                reply.usage = Usage(
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0),
                    cached_tokens=int(details.get("cached_tokens") or 0),
                    reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
                )
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    reply.text += text
                    if on_text is not None:
                        await on_text(text)
                for part in delta.get("tool_calls") or []:
                    index = int(part.get("index", 0))
                    call = calls.setdefault(index, ToolCall(id="", name="", arguments=""))
                    call.id = part.get("id") or call.id
                    function = part.get("function") or {}
                    call.name = function.get("name") or call.name
                    call.arguments += function.get("arguments") or ""
                if choice.get("finish_reason"):
                    reply.finish_reason = str(choice["finish_reason"])
        except (ValueError, TypeError, AttributeError, KeyError):
            raise ProviderError(
                "PROVIDER_MALFORMED_REPLY", "the provider sent a chunk that is not Chat Completions"
            ) from None


def _refusal(status: int, body: bytes) -> ProviderError:
    detail = body.decode(errors="replace")
    if status in (401, 403):
        return ProviderError(
            "PROVIDER_KEY_REJECTED", f"the provider refused the key ({status})", status=status
        )
    if status == 429:
        return ProviderError(
            "PROVIDER_RATE_LIMITED", f"the provider is rate limiting: {detail}", status=status
        )
    if status >= 500 or status in RETRIED_STATUSES:
        return ProviderError(
            "PROVIDER_UNAVAILABLE", f"the provider failed ({status}): {detail}", status=status
        )
    return ProviderError(
        "PROVIDER_REQUEST_REJECTED",
        f"the provider refused the request ({status}): {detail}",
        status=status,
    )
