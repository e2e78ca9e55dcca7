"""The local test provider and the Chat Completions client the run worker uses, against each
other on 127.0.0.1: streamed text and usage, tool calls, retries of 429/5xx before anything
streamed, a rejected key, a stream cut mid-way and a malformed chunk each as a clear error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from services.conversation.config import ConversationSettings
from services.conversation.provider import ChatProvider, ProviderError
from services.conversation.test_provider import (
    TEST_PROVIDER,
    ProviderBehaviour,
    RunningProvider,
    running_test_provider,
)

LOOKUP_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_debt",
        "description": "finds a customer's debt",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


@pytest.fixture
async def provider() -> AsyncIterator[RunningProvider]:
    async with running_test_provider(ProviderBehaviour(api_keys={"sk-test"})) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[ChatProvider]:
    async with httpx.AsyncClient() as http:
        yield ChatProvider(http, max_attempts=3, backoff_seconds=0)


async def test_text_streams_piece_by_piece_with_usage(
    provider: RunningProvider, client: ChatProvider
) -> None:
    pieces: list[str] = []

    async def on_text(text: str) -> None:
        pieces.append(text)

    reply = await client.complete(
        base_url=provider.base_url,
        api_key="sk-test",
        model="echo-1",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "what do I owe"},
        ],
        on_text=on_text,
    )
    assert reply.text == "Echo: what do I owe" and pieces == ["Echo:", " what", " do", " I", " owe"]
    assert reply.finish_reason == "stop" and reply.response_id.startswith("chatcmpl-")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (6, 5)
    assert reply.attempts == 1 and reply.tool_calls == []


async def test_a_tool_call_and_the_answer_to_its_result(
    provider: RunningProvider, client: ChatProvider
) -> None:
    asked = [{"role": "user", "content": '/tool lookup_debt {"q": "0123456789"}'}]
    call = await client.complete(
        base_url=provider.base_url,
        api_key="sk-test",
        model="echo-1",
        messages=asked,
        tools=[LOOKUP_TOOL],
    )
    assert call.finish_reason == "tool_calls" and call.text == ""
    [tool_call] = call.tool_calls
    assert (tool_call.id, tool_call.name) == ("call_1", "lookup_debt")
    assert json.loads(tool_call.arguments) == {"q": "0123456789"}
    answer = await client.complete(
        base_url=provider.base_url,
        api_key="sk-test",
        model="echo-1",
        messages=[
            *asked,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup_debt", "arguments": tool_call.arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "owes 42 EUR"},
        ],
        tools=[LOOKUP_TOOL],
    )
    assert answer.text == "Tool lookup_debt returned: owes 42 EUR"
    # A tool the request does not offer is never called.
    unoffered = await client.complete(
        base_url=provider.base_url, api_key="sk-test", model="echo-1", messages=asked
    )
    assert unoffered.tool_calls == [] and unoffered.text.startswith("Echo: /tool")


async def test_429_and_5xx_are_retried_before_anything_streamed(
    provider: RunningProvider, client: ChatProvider
) -> None:
    provider.behaviour.fail_next = [429, 503]
    reply = await client.complete(
        base_url=provider.base_url,
        api_key="sk-test",
        model="echo-1",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert reply.text == "Echo: hi" and reply.attempts == 3
    provider.behaviour.fail_next = [500, 500, 500]
    with pytest.raises(ProviderError) as caught:
        await client.complete(
            base_url=provider.base_url,
            api_key="sk-test",
            model="echo-1",
            messages=[{"role": "user", "content": "hi"}],
        )
    assert caught.value.reason == "PROVIDER_UNAVAILABLE" and caught.value.status == 500


async def test_a_rejected_key_is_not_retried(
    provider: RunningProvider, client: ChatProvider
) -> None:
    before = len(provider.behaviour.requests)
    with pytest.raises(ProviderError) as caught:
        await client.complete(
            base_url=provider.base_url,
            api_key="sk-wrong",
            model="echo-1",
            messages=[{"role": "user", "content": "hi"}],
        )
    assert caught.value.reason == "PROVIDER_KEY_REJECTED"
    assert len(provider.behaviour.requests) == before + 1


async def test_a_stream_cut_mid_way_or_malformed_fails_without_a_fake_stop(
    provider: RunningProvider, client: ChatProvider
) -> None:
    pieces: list[str] = []

    async def on_text(text: str) -> None:
        pieces.append(text)

    provider.behaviour.reset_next_stream = True
    with pytest.raises(ProviderError) as cut:
        await client.complete(
            base_url=provider.base_url,
            api_key="sk-test",
            model="echo-1",
            messages=[{"role": "user", "content": "tell me everything"}],
            on_text=on_text,
        )
    assert cut.value.reason == "PROVIDER_STREAM_BROKEN"
    assert pieces == ["Echo:"]  # what streamed before the cut, and nothing more
    provider.behaviour.malformed_next_stream = True
    with pytest.raises(ProviderError) as malformed:
        await client.complete(
            base_url=provider.base_url,
            api_key="sk-test",
            model="echo-1",
            messages=[{"role": "user", "content": "hello there"}],
        )
    assert malformed.value.reason == "PROVIDER_MALFORMED_REPLY"
    # The provider itself is fine afterwards.
    reply = await client.complete(
        base_url=provider.base_url,
        api_key="sk-test",
        model="echo-1",
        messages=[{"role": "user", "content": "still there?"}],
    )
    assert reply.text == "Echo: still there?"


async def test_an_unreachable_provider_is_unavailable(client: ChatProvider) -> None:
    async with running_test_provider() as gone:
        base_url = gone.base_url
    with pytest.raises(ProviderError) as caught:
        await client.complete(
            base_url=base_url, api_key="k", model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.reason == "PROVIDER_UNAVAILABLE"


@pytest.mark.parametrize(
    "pairs",
    [
        "openai=http://127.0.0.1:8080/v1",
        "openai=http://localhost/v1",
        "acme=http://[::1]:9000/v1",
        "acme=http://10.0.0.7/v1",
        "acme=http://169.254.169.254/latest",
        "https://api.openai.com/v1",
    ],
)
def test_a_real_providers_endpoint_may_not_be_local_or_private(pairs: str) -> None:
    with pytest.raises(ValueError, match="provider_base_urls"):
        ConversationSettings(provider_base_urls=pairs)


def test_provider_endpoints_are_found_by_provider() -> None:
    settings = ConversationSettings(
        provider_base_urls="openai=https://api.openai.com/v1, Acme = https://llm.acme.example/v1",
        test_provider_base_url="http://127.0.0.1:8089/v1",
    )
    assert settings.provider_base_url("acme") == "https://llm.acme.example/v1"
    assert settings.provider_base_url(TEST_PROVIDER) == "http://127.0.0.1:8089/v1"
    assert settings.provider_base_url("anthropic") is None
