"""A conversation held through the gateway on the shared platform (`quarterdeck up
--test-provider`): an owner signs up, the operator lists a test-provider model with a price and
sets it as the tenant's model, the owner makes an HTTP tool that needs approval (answering on
127.0.0.1) and an agent with it, and talks: the agent calls the tool, the run waits, the owner
approves, the tool runs once and the agent answers with its result. The conversation's events
are followed over SSE; the connection is dropped while the run waits and resumed with
Last-Event-ID, and the two connections together hold every event once, in cursor order, as a
replay from the start does. The run's usage rows are priced and, with the spans of the
conversation and tooling services, found in telemetry under the run's one trace."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import httpx

from services.conversation.test_provider import TEST_PROVIDER
from services.tooling.tools.seed_catalogue import base_tool_id
from tests.e2e.conftest import E2E_MARKS, Platform, wait_for_trace
from tests.support.http_server import local_http_server
from tests.support.sse import SseEvent, sse_items
from tests.support.waiting import eventually

pytestmark = E2E_MARKS

PASSWORD = "Harbour-Evening-Swell-47"


async def call(
    client: httpx.AsyncClient, method: str, path: str, status: int, **kwargs: Any
) -> Any:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, f"{method} {path}: {response.text}"
    return response.json() if response.content else None


async def read_events(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    until: Callable[[SseEvent], bool],
) -> list[SseEvent]:
    """The events of one SSE connection until ``until`` holds for one; then the connection is
    closed (the client goes away)."""
    events: list[SseEvent] = []

    async def read() -> None:
        async with client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200, (await response.aread()).decode()
            async for item in sse_items(response):
                if item.event is not None:
                    events.append(item.event)
                    if until(item.event):
                        return

    try:
        await asyncio.wait_for(read(), 120)
    except TimeoutError:
        raise AssertionError(f"{url}: the awaited event never came; got {events}") from None
    return events


async def test_a_conversation_with_an_approved_tool_call_and_a_resumed_event_stream(
    platform: Platform, operator_token: str
) -> None:
    suffix = secrets.token_hex(4)
    operator = {"authorization": f"Bearer {operator_token}"}
    with local_http_server() as tool_server:
        async with httpx.AsyncClient(
            base_url=platform.gateway, timeout=httpx.Timeout(60, read=None)
        ) as gateway:
            tokens = (
                await call(
                    gateway,
                    "POST",
                    "/v1/auth/signup",
                    201,
                    json={
                        "email": f"owner-{suffix}@example.com",
                        "password": PASSWORD,
                        "tenant_name": "Harbour Support",
                        "tenant_slug": f"support-{suffix}",
                    },
                )
            )["tokens"]
            tenant_id = tokens["tenant_id"]
            owner = {"authorization": f"Bearer {tokens['access_token']}"}

            # The operator lists the test provider's model with a price; the tenant uses it.
            model = await call(
                gateway,
                "POST",
                "/v1/models",
                201,
                headers=operator,
                json={
                    "provider": TEST_PROVIDER,
                    "model_name": f"echo-{suffix}",
                    "display_name": "Echo (test provider)",
                    "context_window": 8192,
                    "supports_tools": True,
                },
            )
            await call(
                gateway,
                "POST",
                f"/v1/models/{model['id']}/prices",
                201,
                headers=operator,
                json={"tier": "standard", "input_per_mtok": "3", "output_per_mtok": "15"},
            )
            await call(
                gateway,
                "PUT",
                f"/v1/tenants/{tenant_id}/model-config",
                200,
                headers=operator,
                json={"llm_model_id": model["id"], "api_key": f"sk-e2e-{suffix}"},
            )

            # An HTTP tool on 127.0.0.1 that needs an admin's approval, and an agent with it.
            tool = await call(
                gateway,
                "POST",
                "/v1/tools",
                201,
                headers=owner,
                json={
                    "name": f"lookup-{suffix}",
                    "base_tool_id": str(base_tool_id("HTTP_GET")),
                    "config": {"endpoint": f"{tool_server.base}/echo/{{q}}", "timeout": 5},
                    "input_schema": {
                        "type": "object",
                        "properties": {"q": {"type": "string"}},
                        "required": ["q"],
                    },
                    "requires_approval": True,
                },
            )
            agent = await call(
                gateway,
                "POST",
                "/v1/agents",
                201,
                headers=owner,
                json={
                    "name": f"Concierge {suffix}",
                    "role_name": "support",
                    "tools": [{"tool_id": tool["id"], "priority": 1}],
                },
            )
            conversation = await call(
                gateway,
                "POST",
                "/v1/conversations",
                201,
                headers=owner,
                json={"agent_id": agent["agent"]["id"], "display_name": "Parcel 77"},
            )
            conversation_id = conversation["id"]
            events_url = f"/v1/conversations/{conversation_id}/events"

            # The user asks; the agent calls the tool, which waits for approval.
            query = f"parcel-{suffix}"
            posted = await call(
                gateway,
                "POST",
                f"/v1/conversations/{conversation_id}/messages",
                201,
                headers=owner,
                json={"text": f'/tool {tool["name"]} {{"q": "{query}"}}'},
            )
            run_id = posted["run"]["id"]

            def ends(kinds: tuple[str, ...]) -> Callable[[SseEvent], bool]:
                return lambda event: event.event in kinds and event.data.get("run_id") == run_id

            # First connection: followed until the run waits, then dropped.
            first = await read_events(gateway, events_url, owner, ends(("run.requires_action",)))
            waiting = first[-1].data
            assert tool_server.hits(f"/echo/{query}") == 0
            approved = await call(
                gateway,
                "POST",
                f"/v1/runs/{run_id}/tool-calls/{waiting['tool_call_id']}:approve",
                200,
                headers=owner,
            )
            assert approved["status"] == "queued"

            # Second connection: resumed with Last-Event-ID, as an EventSource reconnects.
            second = await read_events(
                gateway,
                events_url,
                {**owner, "Last-Event-ID": first[-1].id or ""},
                ends(("run.completed", "run.failed")),
            )
            assert second[-1].event == "run.completed", second[-1].data
            seen = [*first, *second]
            cursors = [event.cursor for event in seen]
            assert cursors == list(range(1, len(cursors) + 1)), cursors  # no gap, no duplicate
            replay = await read_events(
                gateway, events_url, owner, lambda event: event.cursor == cursors[-1]
            )
            assert [(e.id, e.event, e.data) for e in replay] == [
                (e.id, e.event, e.data) for e in seen
            ]
            kinds = [event.event for event in seen]
            for kind in ("run.queued", "run.requires_action", "run.resumed", "run.completed"):
                assert kind in kinds, kinds
            answer = "".join(
                event.data["delta"]
                for event in second
                if event.event == "response.output_text.delta"
            )
            assert answer.startswith(f"Tool {tool['name']} returned: ")
            assert tool_server.hits(f"/echo/{query}") == 1

            messages = (
                await call(
                    gateway,
                    "GET",
                    f"/v1/conversations/{conversation_id}/messages",
                    200,
                    headers=owner,
                )
            )["messages"]
            assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
            assert f"/echo/{query}" in messages[2]["text"]
            assert messages[3]["text"] == answer

            # The run's usage (one row per model call), priced, under the run's one trace.
            run = await call(gateway, "GET", f"/v1/runs/{run_id}", 200, headers=owner)
            assert run["status"] == "completed" and run["trace_id"]
            trace_id = run["trace_id"]
            rows: list[dict[str, Any]] = []

            async def usage_recorded() -> bool:
                listed = await call(
                    gateway,
                    "GET",
                    "/v1/telemetry/usage",
                    200,
                    headers=owner,
                    params={"trace_id": trace_id},
                )
                rows[:] = listed["records"]
                return len(rows) >= 2

            await eventually(usage_recorded, "the run's two usage rows", within=120)
            assert {row["trace_id"] for row in rows} == {trace_id}
            assert {row["model_used"] for row in rows} == {f"echo-{suffix}"}
            for row in rows:
                assert row["cost_status"] == "priced", row
                assert float(row["computed_cost_usd"]) > 0, row

    usage_spans = {row["span_id"] for row in rows}

    def complete(spans: list[Any]) -> bool:
        services = {span.service_name for span in spans}
        return {"conversation", "tooling"} <= services and usage_spans <= {
            span.span_id for span in spans
        }

    spans = await asyncio.to_thread(wait_for_trace, platform, operator_token, trace_id, complete)
    assert complete(spans), sorted({(s.service_name, s.name) for s in spans})
    assert [s.name for s in spans].count("conversation.run") == 2  # the lease, and the resumption
