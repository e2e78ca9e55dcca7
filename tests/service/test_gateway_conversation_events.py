"""The gateway's server-sent events of a conversation and its stream tickets, over a real
in-process conversation service and the gateway served by uvicorn on 127.0.0.1 (streamed for
real, disconnects seen for real), on SQLite and on PostgreSQL.

Every follower gets the replay after its cursor and then the live events, ``id:`` being the
ledger cursor; a follower that drops and comes back with Last-Event-ID misses nothing and sees
nothing twice; idle streams carry heartbeats; a client that goes away ends its FollowEvents
call in the service; a stream ticket opens the stream with no Authorization header."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from services.conversation.events.handlers import EventHandlers
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from tests.support.asgi_server import served
from tests.support.conversation import ConversationStack, conversation_service, say
from tests.support.sse import SseEvent, sse_items
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually

ISSUER = TestIssuer()
#: Events must flow without a heartbeat's wake-up: the main gateway's are rare.
QUIET_HEARTBEAT_SECONDS = 120
#: Short, so the heartbeat test sees them soon; it waits for them, never for time.
HEARTBEAT_SECONDS = 0.2


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[ConversationStack]:
    # Followers are woken by appends in the process, never by the poll.
    async with conversation_service(
        databases, backend, "gateway-events", ISSUER, follow_poll_seconds=60
    ) as service:
        yield service


@asynccontextmanager
async def gateway_for(
    stack: ConversationStack, heartbeat_seconds: float
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        GatewaySettings(
            conversation_target=stack.running.target,
            request_timeout_seconds=10,
            sse_heartbeat_seconds=heartbeat_seconds,
        )
    )
    async with (
        served(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None)) as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def gateway(stack: ConversationStack) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_for(stack, QUIET_HEARTBEAT_SECONDS) as client:
        yield client


@pytest.fixture
def following(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many FollowEvents calls the conversation service is serving right now."""
    active = [0]
    original = EventHandlers.follow_events

    async def counted(self: EventHandlers, request: Any) -> AsyncIterator[Any]:
        active[0] += 1
        try:
            async for response in original(self, request):
                yield response
        finally:
            active[0] -= 1

    monkeypatch.setattr(EventHandlers, "follow_events", counted)
    return active


class Tenant:
    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self.member_metadata = ISSUER.member(self.id, "member")
        self.member = {k.title(): v for k, v in self.member_metadata}
        self.viewer = {k.title(): v for k, v in ISSUER.member(self.id, "viewer")}


async def new_conversation(gateway: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await gateway.post("/v1/conversations", json={}, headers=tenant.member)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class Follower:
    """One GET .../events read in the background until :meth:`stop` (the client leaving)."""

    def __init__(
        self,
        gateway: httpx.AsyncClient,
        conversation_id: str,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.events: list[SseEvent] = []
        self.comments: list[str] = []
        self.response: httpx.Response | None = None
        self._task = asyncio.ensure_future(
            self._read(gateway, f"/v1/conversations/{conversation_id}/events", headers, params)
        )

    async def _read(
        self,
        gateway: httpx.AsyncClient,
        url: str,
        headers: dict[str, str] | None,
        params: dict[str, Any] | None,
    ) -> None:
        async with gateway.stream("GET", url, headers=headers, params=params) as response:
            self.response = response
            assert response.status_code == 200, (await response.aread()).decode()
            async for item in sse_items(response):
                if item.event is not None:
                    self.events.append(item.event)
                elif item.comment is not None:
                    self.comments.append(item.comment)

    async def has(self, count: int) -> bool:
        if self._task.done():
            self._task.result()  # a failed read fails the test at once
        return len(self.events) >= count

    async def refused(self) -> bool:
        """Whether the route answered with an error instead of a stream (the read then ended
        with it)."""
        response = await self.answered()
        if response.status_code == 200:
            return False
        with contextlib.suppress(AssertionError):
            await self._task
        return True

    async def ended(self) -> bool:
        """Whether the stream closed on the server's side (a failed read fails the test)."""
        if self._task.done():
            self._task.result()
            return True
        return False

    async def answered(self) -> httpx.Response:
        await eventually(self._answered, "the events route to answer")
        assert self.response is not None
        return self.response

    async def _answered(self) -> bool:
        return self.response is not None

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def cursors(self) -> list[int]:
        return [event.cursor for event in self.events]


async def test_every_follower_gets_the_replay_then_the_live_events_with_the_cursor_as_id(
    gateway: httpx.AsyncClient, stack: ConversationStack, following: list[int]
) -> None:
    tenant = Tenant()
    conversation_id = await new_conversation(gateway, tenant)
    await say(stack, tenant.member_metadata, conversation_id, "before anyone followed")
    followers = [
        Follower(gateway, conversation_id, tenant.viewer),
        Follower(gateway, conversation_id, tenant.member, params={"after": 1}),
        Follower(gateway, conversation_id, tenant.viewer, params={"after": 2}),
    ]
    response = await followers[0].answered()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    await eventually(lambda: followers[0].has(2), "the replay of two events")
    await eventually(lambda: followers[1].has(1), "the replay after cursor 1")
    await eventually(lambda: following_is(following, 3), "three FollowEvents calls")
    for i in range(4):
        await say(stack, tenant.member_metadata, conversation_id, f"live {i}")
    for follower, wanted in zip(followers, (6, 5, 4), strict=True):
        await eventually(lambda f=follower, n=wanted: f.has(n), f"{wanted} events")
    for follower in followers:
        await follower.stop()
    assert followers[0].cursors == [1, 2, 3, 4, 5, 6]
    assert followers[1].cursors == [2, 3, 4, 5, 6]
    assert followers[2].cursors == [3, 4, 5, 6]

    created, message, *_ = followers[0].events
    assert created.event == "conversation.created"
    assert created.data["type"] == "conversation.created"
    assert created.data["sequence_number"] == 1
    assert created.data["schema_version"] == "public_sse_v1"
    assert created.data["conversation_id"] == conversation_id
    assert message.event == "conversation.message.created"
    assert message.data["text"] == "before anyone followed" and message.data["position"] == 0
    assert message.data["created_at"].endswith("Z")
    assert [e.data["text"] for e in followers[0].events[2:]] == [f"live {i}" for i in range(4)]
    await eventually(lambda: following_is(following, 0), "every FollowEvents call to end")


async def following_is(following: list[int], count: int) -> bool:
    return following[0] == count


async def test_a_dropped_follower_resumes_with_last_event_id_without_gap_or_duplicate(
    gateway: httpx.AsyncClient, stack: ConversationStack, following: list[int]
) -> None:
    tenant = Tenant()
    conversation_id = await new_conversation(gateway, tenant)
    seen: list[SseEvent] = []
    first = Follower(gateway, conversation_id, tenant.viewer)
    for i in range(3):
        await say(stack, tenant.member_metadata, conversation_id, f"first {i}")
    await eventually(lambda: first.has(4), "four events before the drop")
    await first.stop()
    seen.extend(first.events)
    await eventually(lambda: following_is(following, 0), "the dropped call to end")
    for i in range(3):
        await say(stack, tenant.member_metadata, conversation_id, f"while away {i}")
    # As an EventSource reconnects: the same URL (here with a stale ?after=), and the header.
    second = Follower(
        gateway,
        conversation_id,
        {**tenant.viewer, "Last-Event-ID": seen[-1].id or ""},
        params={"after": 1},
    )
    await eventually(lambda: second.has(3), "the events appended while away")
    await say(stack, tenant.member_metadata, conversation_id, "after the return")
    await eventually(lambda: second.has(4), "the live event after resuming")
    await second.stop()
    seen.extend(second.events)
    assert [e.cursor for e in seen] == list(range(1, 9))
    assert [e.data["text"] for e in seen[1:]] == [
        *(f"first {i}" for i in range(3)),
        *(f"while away {i}" for i in range(3)),
        "after the return",
    ]


async def test_a_follower_resuming_from_before_a_truncation_gets_no_hidden_event(
    gateway: httpx.AsyncClient, stack: ConversationStack, following: list[int]
) -> None:
    tenant = Tenant()
    conversation_id = await new_conversation(gateway, tenant)
    first = Follower(gateway, conversation_id, tenant.viewer)
    await say(stack, tenant.member_metadata, conversation_id, "kept")
    await eventually(lambda: first.has(2), "two events before the drop")
    await first.stop()
    await eventually(lambda: following_is(following, 0), "the dropped call to end")
    # While away: two messages, then a truncation that hides them (a member's, by the gateway).
    for text in ("hidden one", "hidden two"):
        await say(stack, tenant.member_metadata, conversation_id, text)
    truncated = await gateway.post(
        f"/v1/conversations/{conversation_id}:truncate",
        json={"keep_through_position": 0},
        headers=tenant.member,
    )
    assert truncated.status_code == 200, truncated.text
    await say(stack, tenant.member_metadata, conversation_id, "after the truncation")
    second = Follower(
        gateway, conversation_id, {**tenant.viewer, "Last-Event-ID": first.events[-1].id or ""}
    )
    await eventually(lambda: second.has(2), "the visible events appended while away")
    await say(stack, tenant.member_metadata, conversation_id, "live")
    await eventually(lambda: second.has(3), "the live event after resuming")
    await second.stop()
    # Cursors 3 and 4 (the hidden messages) are skipped; every visible one comes once, in order.
    assert first.cursors == [1, 2]
    assert second.cursors == [5, 6, 7]
    assert [e.event for e in second.events] == [
        "conversation.truncated",
        "conversation.message.created",
        "conversation.message.created",
    ]
    assert [e.data["text"] for e in second.events[1:]] == ["after the truncation", "live"]
    # The same visible events as the JSON ledger lists after that cursor.
    page = await gateway.get(
        f"/v1/conversations/{conversation_id}/ledger", params={"after": 2}, headers=tenant.viewer
    )
    assert page.status_code == 200, page.text
    assert [e["sequence_number"] for e in page.json()["events"]] == second.cursors


async def test_an_idle_stream_carries_heartbeats_and_ends_its_call_when_the_client_leaves(
    stack: ConversationStack, following: list[int]
) -> None:
    tenant = Tenant()
    async with gateway_for(stack, HEARTBEAT_SECONDS) as gateway:
        conversation_id = await new_conversation(gateway, tenant)
        follower = Follower(gateway, conversation_id, tenant.viewer, params={"after": 1})
        await eventually(lambda: following_is(following, 1), "the FollowEvents call")

        async def heartbeats() -> bool:
            return len(follower.comments) >= 2

        await eventually(heartbeats, "two heartbeats on an idle stream")
        assert set(follower.comments) == {"heartbeat"} and follower.events == []
        await say(stack, tenant.member_metadata, conversation_id, "between heartbeats")
        await eventually(lambda: follower.has(1), "the live event between heartbeats")
        await follower.stop()
        await eventually(lambda: following_is(following, 0), "the call to end with the client")


async def test_a_stream_ticket_opens_the_events_without_an_authorization_header(
    gateway: httpx.AsyncClient, stack: ConversationStack, following: list[int]
) -> None:
    tenant = Tenant()
    conversation_id = await new_conversation(gateway, tenant)
    other_id = await new_conversation(gateway, tenant)
    created = await gateway.post(
        f"/v1/conversations/{conversation_id}/stream-tickets",
        json={"ttl_seconds": 120, "session_key": "browser-tab"},
        headers=tenant.viewer,
    )
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert ticket.startswith("qdst_")
    assert created.json()["stream_ticket"]["conversation_id"] == conversation_id
    assert created.json()["stream_ticket"]["use_count"] == 0

    follower = Follower(gateway, conversation_id, params={"ticket": ticket})
    await eventually(lambda: follower.has(1), "the replay through the ticket")
    await say(stack, tenant.member_metadata, conversation_id, "seen by the browser")
    await eventually(lambda: follower.has(2), "a live event through the ticket")
    await follower.stop()
    assert follower.cursors == [1, 2]

    for conversation, presented in (
        (other_id, ticket),
        (conversation_id, "qdst_" + "x" * 43),
    ):
        response = await gateway.get(
            f"/v1/conversations/{conversation}/events", params={"ticket": presented}
        )
        assert response.status_code == 401
        assert "STREAM_TICKET_INVALID" in response.text
    await eventually(lambda: following_is(following, 0), "every call to end")


async def test_a_ticket_stream_ends_at_the_ticket_expiry_with_a_last_event_saying_where_to_resume(
    gateway: httpx.AsyncClient, stack: ConversationStack, following: list[int]
) -> None:
    tenant = Tenant()
    conversation_id = await new_conversation(gateway, tenant)
    await say(stack, tenant.member_metadata, conversation_id, "before")
    # A short-lived ticket; on a machine too slow to open the stream before it expires (the
    # GET is refused), again with one living twice as long.
    for ttl_seconds in (2, 4, 8, 16):
        created = await gateway.post(
            f"/v1/conversations/{conversation_id}/stream-tickets",
            json={"ttl_seconds": ttl_seconds},
            headers=tenant.viewer,
        )
        assert created.status_code == 201, created.text
        ticket = created.json()["ticket"]
        follower = Follower(gateway, conversation_id, params={"ticket": ticket})
        if not await follower.refused():
            break
    else:
        raise AssertionError("no stream opened before its ticket expired, even at 16 s")
    # Nothing is appended and the service's poll is 60 s: only the expiry can end the stream.
    await eventually(follower.ended, "the stream to close at the ticket's expiry")
    *events, last = follower.events
    # The replay (both events, unless the machine was too slow to send them before the expiry).
    assert [(e.cursor, e.event) for e in events] == [
        (1, "conversation.created"),
        (2, "conversation.message.created"),
    ][: len(events)]
    assert last.event == "stream.end" and last.id is None
    assert last.data["reason"] == "STREAM_TICKET_EXPIRED"
    assert last.data["resume_after"] == (events[-1].cursor if events else 0)
    await eventually(lambda: following_is(following, 0), "the service's call to end")
    # An EventSource reconnecting with the expired ticket is refused, so it stops; the client
    # follows on with a token (or a new ticket) from the cursor it was given.
    again = await gateway.get(
        f"/v1/conversations/{conversation_id}/events", params={"ticket": ticket}
    )
    assert again.status_code == 401 and "STREAM_TICKET_INVALID" in again.text
    await say(stack, tenant.member_metadata, conversation_id, "after")
    resumed = Follower(
        gateway,
        conversation_id,
        headers={**tenant.viewer, "Last-Event-ID": str(last.data["resume_after"])},
    )
    expected = list(range(last.data["resume_after"] + 1, 4))
    await eventually(lambda: resumed.has(len(expected)), "the events after the cursor")
    await resumed.stop()
    assert resumed.cursors == expected


async def test_refusals_are_error_responses_before_any_stream_starts(
    gateway: httpx.AsyncClient, following: list[int]
) -> None:
    tenant, stranger = Tenant(), Tenant()
    conversation_id = await new_conversation(gateway, tenant)
    url = f"/v1/conversations/{conversation_id}/events"
    cases = [
        ({}, {}, 401),
        (stranger.viewer, {}, 404),
        ({**tenant.viewer, "Last-Event-ID": "not-a-number"}, {}, 400),
        (tenant.viewer, {"after": -1}, 400),
    ]
    for headers, params, status in cases:
        response = await gateway.get(url, headers=headers, params=params)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
    missing = await gateway.get(f"/v1/conversations/{uuid.uuid4()}/events", headers=tenant.viewer)
    assert missing.status_code == 404
    stranger_ticket = await gateway.post(
        f"/v1/conversations/{conversation_id}/stream-tickets", headers=stranger.viewer
    )
    assert stranger_ticket.status_code == 404
    assert following[0] == 0
