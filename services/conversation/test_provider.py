"""A deterministic, local OpenAI-compatible model provider: always labelled a test provider,
never a real tenant's silent default.

``POST /v1/chat/completions`` answers like OpenAI's Chat Completions, streamed as server-sent
events (``stream: true``) or as one JSON body, with tool calls and token usage. What it says
depends only on the request:

* the last message is a user message ``/tool <name> <JSON arguments>`` and the request offers
  that tool: a tool call of it (id ``call_<n>``, ``n`` counting calls in the conversation);
* the last message is a tool result: ``Tool <name> returned: <content>``;
* anything else: ``Echo: <last user text>``.

Tokens are words (split on white space); prompt tokens count every message's words. Latency and
failures are set on :class:`ProviderBehaviour` by whoever runs it: a delay before the reply and
between chunks, HTTP statuses to answer the next requests with, a stream cut after its first
chunk, a malformed chunk, and the API keys it accepts (any when empty).

Run it with :func:`running_test_provider` (tests, on 127.0.0.1 and port 0), or
``python -m services.conversation.test_provider --port 8089`` for a keyless first try.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

#: How the test provider's models are named in the catalogue and in requests.
TEST_PROVIDER = "quarterdeck-test"


@dataclass
class ProviderBehaviour:
    #: Seconds before the first byte of a reply.
    latency_seconds: float = 0.0
    #: Seconds between streamed chunks.
    chunk_delay_seconds: float = 0.0
    #: Statuses to answer the next requests with, one each, before answering normally.
    fail_next: list[int] = field(default_factory=list)
    #: Cut the next stream after its first content chunk (an upstream reset).
    reset_next_stream: bool = False
    #: Send a chunk that is not JSON in the next stream.
    malformed_next_stream: bool = False
    #: Bearer keys accepted; any key (or none) when empty.
    api_keys: set[str] = field(default_factory=set)
    #: Every request body received, in order.
    requests: list[dict[str, Any]] = field(default_factory=list)


def _words(text: str) -> list[str]:
    return text.split()


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


@dataclass
class Answer:
    text: str = ""
    tool_call: dict[str, Any] | None = None
    prompt_tokens: int = 0


def answer_for(body: dict[str, Any]) -> Answer:
    """What the provider replies to a request, and how many prompt tokens it counts."""
    messages: list[dict[str, Any]] = list(body.get("messages") or [])
    prompt_tokens = sum(len(_words(_content_text(m.get("content")))) for m in messages)
    if not messages:
        return Answer(text="Echo:", prompt_tokens=prompt_tokens)
    last = messages[-1]
    if last.get("role") == "tool":
        name = next(
            (
                call["function"]["name"]
                for m in messages
                for call in m.get("tool_calls") or []
                if call.get("id") == last.get("tool_call_id")
            ),
            "unknown",
        )
        return Answer(
            text=f"Tool {name} returned: {_content_text(last.get('content'))}",
            prompt_tokens=prompt_tokens,
        )
    text = _content_text(last.get("content"))
    offered = {tool["function"]["name"] for tool in body.get("tools") or [] if "function" in tool}
    if last.get("role") == "user" and text.startswith("/tool "):
        _, _, rest = text.partition(" ")
        name, _, arguments = rest.partition(" ")
        if name in offered:
            earlier = sum(len(m.get("tool_calls") or []) for m in messages)
            return Answer(
                tool_call={
                    "id": f"call_{earlier + 1}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments.strip() or "{}"},
                },
                prompt_tokens=prompt_tokens,
            )
    return Answer(text=f"Echo: {text}", prompt_tokens=prompt_tokens)


def build_app(behaviour: ProviderBehaviour) -> Starlette:
    async def chat_completions(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_request_error", "the body is not JSON")
        behaviour.requests.append(body)
        if behaviour.latency_seconds:
            await asyncio.sleep(behaviour.latency_seconds)
        if behaviour.fail_next:
            status = behaviour.fail_next.pop(0)
            return _error(status, "test_failure", f"failing with {status} as asked")
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if behaviour.api_keys and key not in behaviour.api_keys:
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        if not isinstance(body.get("messages"), list) or not body.get("model"):
            return _error(400, "invalid_request_error", "model and messages are required")
        answer = answer_for(body)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        usage = {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": len(_words(answer.text)) + (1 if answer.tool_call else 0),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
            if answer.tool_call:
                message["tool_calls"] = [answer.tool_call]
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if answer.tool_call else "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        return StreamingResponse(
            _stream(behaviour, body, answer, completion_id, usage),
            media_type="text/event-stream",
        )

    return Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": kind}}, status)


async def _stream(
    behaviour: ProviderBehaviour,
    body: dict[str, Any],
    answer: Answer,
    completion_id: str,
    usage: dict[str, int],
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    if answer.tool_call:
        call = answer.tool_call
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""},
                    }
                ]
            }
        )
        arguments = call["function"]["arguments"]
        for start in range(0, len(arguments), 8):
            yield chunk(
                {
                    "tool_calls": [
                        {"index": 0, "function": {"arguments": arguments[start : start + 8]}}
                    ]
                }
            )
        finish = "tool_calls"
    else:
        for i, word in enumerate(_words(answer.text)):
            if behaviour.chunk_delay_seconds:
                await asyncio.sleep(behaviour.chunk_delay_seconds)
            yield chunk({"content": word if i == 0 else f" {word}"})
            if behaviour.reset_next_stream:
                behaviour.reset_next_stream = False
                raise ConnectionResetError("the test provider cut the stream as asked")
            if behaviour.malformed_next_stream:
                behaviour.malformed_next_stream = False
                yield b"data: {not json\n\n"
        finish = "stop"
    yield chunk({}, finish)
    if (body.get("stream_options") or {}).get("include_usage", True):
        usage_chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [],
            "usage": usage,
        }
        yield f"data: {json.dumps(usage_chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


@dataclass
class RunningProvider:
    behaviour: ProviderBehaviour
    port: int

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL: ``{base_url}/chat/completions`` answers."""
        return f"http://127.0.0.1:{self.port}/v1"


@asynccontextmanager
async def running_test_provider(
    behaviour: ProviderBehaviour | None = None, port: int = 0, host: str = "127.0.0.1"
) -> AsyncIterator[RunningProvider]:
    """Serve the test provider on ``host`` (127.0.0.1) in this event loop until the block
    ends."""
    behaviour = behaviour or ProviderBehaviour()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(
        uvicorn.Config(build_app(behaviour), log_level="warning", lifespan="off")
    )
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
            await asyncio.sleep(0.01)
        yield RunningProvider(behaviour, int(sock.getsockname()[1]))
    finally:
        server.should_exit = True
        await task
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="the local test model provider")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    async def serve() -> None:
        async with running_test_provider(port=args.port, host=args.host) as provider:
            print(f"test provider ({TEST_PROVIDER}) at {provider.base_url}", flush=True)
            await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
