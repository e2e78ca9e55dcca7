"""The gateway's conversation, message and run routes over a real in-process conversation
service (no worker: runs stay queued), on SQLite and on PostgreSQL: JSON mapped from the
messages, the update mask, idempotent posts, the roles the service enforces (viewers read,
members talk, admins decide and speak for others) and another tenant's rows answered 404."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from tests.support.conversation import ConversationStack, conversation_service
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer

ISSUER = TestIssuer()


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[ConversationStack]:
    async with conversation_service(databases, backend, "gateway", ISSUER) as service:
        yield service


@pytest.fixture(scope="module")
async def gateway(stack: ConversationStack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        GatewaySettings(conversation_target=stack.running.target, request_timeout_seconds=10)
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
    ):
        yield client


def headers(tenant_id: str, role: str) -> dict[str, str]:
    return {key.title(): value for key, value in ISSUER.member(tenant_id, role)}


class Tenant:
    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self.viewer = headers(self.id, "viewer")
        self.member = headers(self.id, "member")
        self.admin = headers(self.id, "admin")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int, reason: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if reason is not None:
        [info] = [d for d in error["details"] if d["@type"].endswith("ErrorInfo")]
        assert info["reason"] == reason
    return dict(error)


async def test_a_conversation_is_created_read_listed_patched_and_archived(
    gateway: httpx.AsyncClient,
) -> None:
    tenant = Tenant()
    agent_id = str(uuid.uuid4())
    body = {
        "agent_id": agent_id,
        "display_name": "Refund for order 1182",
        "source_channel": "web",
        "memory": {"strategy": "window", "max_turns": 20},
        "metadata": {"order": 1182, "vip": True},
    }
    created = await gateway.post(
        "/v1/conversations", json=body, headers={**tenant.member, "Idempotency-Key": "c-1"}
    )
    conversation = ok(created, 201)
    assert created.headers["Location"] == f"/v1/conversations/{conversation['id']}"
    assert conversation["status"] == "active" and conversation["agent_id"] == agent_id
    assert conversation["memory"]["strategy"] == "window"
    assert conversation["memory"]["max_turns"] == 20
    assert conversation["memory"]["keep_last_turns"] is None
    assert conversation["metadata"] == {"order": 1182, "vip": True}
    assert conversation["usage"]["cost_usd"] == "0.000000000000"
    assert conversation["topic_hint"] is None and conversation["last_run_id"] is None
    assert conversation["last_event_sequence"] == 1  # conversation.created
    again = ok(
        await gateway.post(
            "/v1/conversations", json=body, headers={**tenant.member, "Idempotency-Key": "c-1"}
        ),
        201,
    )
    assert again["id"] == conversation["id"]

    path = f"/v1/conversations/{conversation['id']}"
    assert ok(await gateway.get(path, headers=tenant.viewer)) == conversation
    listed = ok(await gateway.get("/v1/conversations", headers=tenant.viewer))
    assert [c["id"] for c in listed["conversations"]] == [conversation["id"]]
    assert listed["next_page_token"] == ""

    patched = ok(
        await gateway.patch(
            path,
            json={"version": conversation["version"], "display_name": "Refund (done)"},
            headers=tenant.member,
        )
    )
    assert patched["display_name"] == "Refund (done)" and patched["source_channel"] == "web"
    assert patched["version"] == conversation["version"] + 1
    masked = ok(
        await gateway.patch(
            path,
            params={"update_mask": "topic_hint"},
            json={"version": patched["version"], "topic_hint": "refunds", "model": "ignored"},
            headers=tenant.member,
        )
    )
    assert masked["topic_hint"] == "refunds" and masked["model"] is None
    stale = await gateway.patch(
        path, json={"version": patched["version"], "topic_hint": "x"}, headers=tenant.member
    )
    refused(stale, 409, "VERSION_MISMATCH")
    refused(
        await gateway.patch(
            path, json={"version": masked["version"], "topic_hint": "x"}, headers=tenant.viewer
        ),
        403,
    )

    archived = ok(await gateway.post(f"{path}:archive", headers=tenant.member))
    assert archived["status"] == "archived"
    assert ok(await gateway.post(f"{path}:archive", headers=tenant.member))["status"] == "archived"
    only_active = ok(
        await gateway.get("/v1/conversations", params={"status": "active"}, headers=tenant.viewer)
    )
    assert only_active["conversations"] == []
    closed = await gateway.post(
        f"{path}/messages", json={"text": "still there?"}, headers=tenant.member
    )
    refused(closed, 400, "CONVERSATION_ARCHIVED")


async def test_a_user_message_returns_its_run_which_is_listed_read_and_cancelled(
    gateway: httpx.AsyncClient,
) -> None:
    tenant = Tenant()
    conversation = ok(
        await gateway.post(
            "/v1/conversations", json={"agent_id": str(uuid.uuid4())}, headers=tenant.member
        ),
        201,
    )
    messages = f"/v1/conversations/{conversation['id']}/messages"
    posted = ok(
        await gateway.post(
            messages,
            json={"text": "Where is my parcel 77?"},
            headers={**tenant.member, "Idempotency-Key": "m-1"},
        ),
        201,
    )
    message, run = posted["message"], posted["run"]
    assert message["role"] == "user" and message["text"] == "Where is my parcel 77?"
    assert message["position"] == 0 and message["tokens"] == {
        "prompt": 0,
        "completion": 0,
        "reasoning": 0,
    }
    assert isinstance(message["attachments"], list) and message["tool_call_id"] is None
    assert run["status"] == "queued" and run["conversation_id"] == conversation["id"]
    assert run["error"] is None and run["start_time"] is None
    repeat = ok(
        await gateway.post(
            messages,
            json={"text": "Where is my parcel 77?"},
            headers={**tenant.member, "Idempotency-Key": "m-1"},
        ),
        201,
    )
    assert repeat == posted

    note = ok(
        await gateway.post(
            messages,
            json={"text": "no run for this", "start_run": False, "attachments": [{"n": 1}]},
            headers=tenant.member,
        ),
        201,
    )
    assert note["run"] is None and note["message"]["attachments"] == [{"n": 1}]
    busy = await gateway.post(
        messages,
        json={"text": "again", "multitask_strategy": "reject"},
        headers=tenant.member,
    )
    refused(busy, 400, "RUN_IN_PROGRESS")
    refused(await gateway.post(messages, json={"text": "hi"}, headers=tenant.viewer), 403)
    refused(
        await gateway.post(
            messages, json={"role": "assistant", "text": "I am the agent"}, headers=tenant.member
        ),
        403,
    )
    spoken = ok(
        await gateway.post(
            messages,
            json={"role": "system", "text": "Be brief.", "agent_type": "router"},
            headers=tenant.admin,
        ),
        201,
    )
    assert spoken["message"]["role"] == "system" and spoken["run"] is None

    listed = ok(await gateway.get(messages, headers=tenant.viewer))
    assert [m["position"] for m in listed["messages"]] == [0, 1, 2]
    users = ok(await gateway.get(messages, params={"role": "user"}, headers=tenant.viewer))
    assert len(users["messages"]) == 2
    found = ok(
        await gateway.get(
            "/v1/messages:search",
            params={"query": "parcel 77", "conversation_id": conversation["id"]},
            headers=tenant.viewer,
        )
    )
    assert [m["id"] for m in found["messages"]] == [message["id"]]

    runs = ok(
        await gateway.get(f"/v1/conversations/{conversation['id']}/runs", headers=tenant.viewer)
    )
    assert [r["id"] for r in runs["runs"]] == [run["id"]]
    assert ok(await gateway.get(f"/v1/runs/{run['id']}", headers=tenant.viewer)) == run
    refused(await gateway.post(f"/v1/runs/{run['id']}:cancel", headers=tenant.viewer), 403)
    cancelled = ok(
        await gateway.post(
            f"/v1/runs/{run['id']}:cancel", json={"reason": "sorted"}, headers=tenant.member
        )
    )
    assert cancelled["status"] == "cancelled" and cancelled["cancel_time"] is not None
    still = ok(await gateway.post(f"/v1/runs/{run['id']}:cancel", headers=tenant.member))
    assert still["status"] == "cancelled"
    # The run's task record: cancelled with it, the run's own (no parent), no subtask.
    [task] = ok(await gateway.get(f"/v1/runs/{run['id']}/tasks", headers=tenant.viewer))["tasks"]
    assert task["run_id"] == run["id"] and task["parent_task_id"] is None
    assert task["status"] == "cancelled" and task["task_type"] == "conversation_run"
    assert task["cost_usd"] == "0.000000000000" and task["complete_time"] is not None
    queued = ok(
        await gateway.get(
            f"/v1/conversations/{conversation['id']}/runs",
            params={"status": "queued"},
            headers=tenant.viewer,
        )
    )
    assert queued["runs"] == []


async def test_deciding_a_tool_call_needs_an_admin_and_a_run_awaiting_one(
    gateway: httpx.AsyncClient,
) -> None:
    tenant = Tenant()
    conversation = ok(
        await gateway.post(
            "/v1/conversations", json={"agent_id": str(uuid.uuid4())}, headers=tenant.member
        ),
        201,
    )
    posted = ok(
        await gateway.post(
            f"/v1/conversations/{conversation['id']}/messages",
            json={"text": "hello"},
            headers=tenant.member,
        ),
        201,
    )
    call = f"/v1/runs/{posted['run']['id']}/tool-calls/{uuid.uuid4()}"
    refused(await gateway.post(f"{call}:approve", headers=tenant.member), 403)
    refused(await gateway.post(f"{call}:deny", headers=tenant.member), 403)
    # This service has no tooling (the turn's tests decide real calls through the gateway).
    refused(await gateway.post(f"{call}:approve", headers=tenant.admin), 400)
    refused(
        await gateway.post(f"{call}:deny", json={"reason": "r" * 501}, headers=tenant.admin), 400
    )


async def test_another_tenants_rows_are_404_and_bad_input_names_the_field(
    gateway: httpx.AsyncClient,
) -> None:
    owner, stranger = Tenant(), Tenant()
    conversation = ok(await gateway.post("/v1/conversations", json={}, headers=owner.member), 201)
    posted = ok(
        await gateway.post(
            f"/v1/conversations/{conversation['id']}/messages",
            json={"text": "hi", "start_run": False},
            headers=owner.member,
        ),
        201,
    )
    assert posted["run"] is None
    path = f"/v1/conversations/{conversation['id']}"
    for method, url, body in (
        ("GET", path, None),
        ("PATCH", path, {"version": 1, "topic_hint": "x"}),
        ("POST", f"{path}:archive", None),
        ("GET", f"{path}/messages", None),
        ("POST", f"{path}/messages", {"text": "hi"}),
        ("GET", f"{path}/runs", None),
    ):
        response = await gateway.request(method, url, json=body, headers=stranger.admin)
        refused(response, 404, "CONVERSATION_NOT_FOUND")
    assert (
        ok(await gateway.get("/v1/conversations", headers=stranger.viewer))["conversations"] == []
    )
    refused(await gateway.get(path), 401)
    refused(await gateway.get("/v1/runs/not-a-uuid", headers=owner.viewer), 400)
    refused(await gateway.get(f"/v1/runs/{uuid.uuid4()}", headers=owner.viewer), 404)
    refused(await gateway.get(f"/v1/runs/{uuid.uuid4()}/tasks", headers=owner.viewer), 404)
    refused(await gateway.get("/v1/runs/not-a-uuid/tasks", headers=owner.viewer), 400)
    bad = refused(
        await gateway.post(f"{path}/messages", json={"text": ""}, headers=owner.member), 400
    )
    assert "message.text" in str(bad["details"])
    unknown = await gateway.post(f"{path}/messages", json={"txt": "typo"}, headers=owner.member)
    refused(unknown, 400)
    empty_query = await gateway.get(
        "/v1/messages:search", params={"query": "   "}, headers=owner.viewer
    )
    refused(empty_query, 400)


async def test_a_conversation_is_read_with_its_messages_its_ledger_paged_and_it_is_truncated(
    gateway: httpx.AsyncClient,
) -> None:
    tenant, stranger = Tenant(), Tenant()
    session_key = f"s-{uuid.uuid4().hex[:8]}"
    conversation = ok(
        await gateway.post(
            "/v1/conversations", json={"session_key": session_key}, headers=tenant.member
        ),
        201,
    )
    path = f"/v1/conversations/{conversation['id']}"
    for text in ("first", "second", "third"):
        ok(
            await gateway.post(
                f"{path}/messages", json={"text": text, "start_run": False}, headers=tenant.member
            ),
            201,
        )

    whole = ok(await gateway.get(f"{path}:withMessages", headers=tenant.viewer))
    assert whole["conversation"]["id"] == conversation["id"]
    assert whole["conversation"]["message_count"] == 3
    assert [m["text"] for m in whole["messages"]] == ["first", "second", "third"]
    assert whole["truncated"] is False
    first_two = ok(
        await gateway.get(f"{path}:withMessages", params={"max_messages": 2}, headers=tenant.viewer)
    )
    assert [m["position"] for m in first_two["messages"]] == [0, 1] and first_two["truncated"]
    by_session = ok(
        await gateway.get(
            "/v1/conversations:withMessages",
            params={"session_key": session_key},
            headers=tenant.viewer,
        )
    )
    assert by_session == whole

    # The ledger, page by page: every event once, in cursor order, up to the conversation's last.
    seen: list[dict[str, Any]] = []
    after = 0
    while True:
        page = ok(
            await gateway.get(
                f"{path}/ledger", params={"after": after, "page_size": 2}, headers=tenant.viewer
            )
        )
        if not page["events"]:
            assert page["next_after_sequence_number"] == after
            break
        assert len(page["events"]) <= 2
        seen += page["events"]
        after = page["next_after_sequence_number"]
        assert after == page["events"][-1]["sequence_number"]
    cursors = [e["sequence_number"] for e in seen]
    assert (
        cursors == sorted(set(cursors))
        and cursors[-1]
        == (ok(await gateway.get(path, headers=tenant.viewer))["last_event_sequence"])
    )
    assert [e["kind"] for e in seen].count("conversation.message.created") == 3
    assert all(e["conversation_id"] == conversation["id"] for e in seen)

    # Truncated after the first message: a new segment, the others hidden, nothing deleted.
    refused(
        await gateway.post(
            f"{path}:truncate", json={"keep_through_position": 0}, headers=tenant.viewer
        ),
        403,
    )
    truncated = ok(
        await gateway.post(
            f"{path}:truncate", json={"keep_through_position": 0}, headers=tenant.member
        )
    )
    segment = truncated["segment"]
    assert segment["segment_index"] == 1 and segment["parent_segment_id"]
    assert segment["visible_through_message_position"] == 0
    # The ledger kept ends before the first hidden message ("second") was appended.
    [second] = [e for e in seen if e["payload"].get("text") == "second"]
    assert segment["visible_through_event_id"] == second["sequence_number"] - 1
    assert truncated["conversation"]["id"] == conversation["id"]
    after_truncation = ok(await gateway.get(f"{path}:withMessages", headers=tenant.viewer))
    assert [m["text"] for m in after_truncation["messages"]] == ["first"]

    # Bad input names the field; another tenant's conversation is not found.
    too_far = refused(
        await gateway.post(
            f"{path}:truncate", json={"keep_through_position": 2}, headers=tenant.member
        ),
        400,
    )
    assert "keep_through_position" in str(too_far["details"])
    below = refused(
        await gateway.post(
            f"{path}:truncate", json={"keep_through_position": -2}, headers=tenant.member
        ),
        400,
    )
    assert "keep_through_position" in str(below["details"])
    refused(await gateway.post(f"{path}:truncate", json={}, headers=tenant.member), 400)
    refused(await gateway.get(f"{path}/ledger", params={"after": -1}, headers=tenant.viewer), 400)
    refused(await gateway.get("/v1/conversations:withMessages", headers=tenant.viewer), 400)
    for method, url, body in (
        ("GET", f"{path}:withMessages", None),
        ("GET", f"{path}/ledger", None),
        ("POST", f"{path}:truncate", {"keep_through_position": 0}),
    ):
        response = await gateway.request(method, url, json=body, headers=stranger.admin)
        refused(response, 404, "CONVERSATION_NOT_FOUND")
    missing = await gateway.get(
        "/v1/conversations:withMessages",
        params={"session_key": session_key},
        headers=stranger.viewer,
    )
    refused(missing, 404)


async def test_an_edit_replaces_a_message_and_hidden_history_is_found_only_when_asked_for(
    gateway: httpx.AsyncClient,
) -> None:
    tenant, stranger = Tenant(), Tenant()
    marker = uuid.uuid4().hex[:8]
    conversation = ok(await gateway.post("/v1/conversations", json={}, headers=tenant.member), 201)
    path = f"/v1/conversations/{conversation['id']}"
    for text in (f"keep {marker}", f"typo {marker}", f"later {marker}"):
        ok(
            await gateway.post(
                f"{path}/messages", json={"text": text, "start_run": False}, headers=tenant.member
            ),
            201,
        )
    edited = ok(
        await gateway.post(
            f"{path}/messages/1:edit",
            json={"text": f"fixed {marker}", "start_run": False},
            headers={**tenant.member, "Idempotency-Key": f"e-{marker}"},
        )
    )
    assert edited["message"]["text"] == f"fixed {marker}" and edited["message"]["position"] == 3
    assert edited["run"] is None
    listed = ok(await gateway.get(f"{path}/messages", headers=tenant.viewer))
    assert [m["text"] for m in listed["messages"]] == [f"keep {marker}", f"fixed {marker}"]

    async def found(**params: Any) -> list[str]:
        page = ok(
            await gateway.get(
                "/v1/messages:search", params={"query": marker, **params}, headers=tenant.viewer
            )
        )
        return sorted(m["text"] for m in page["messages"])

    assert await found() == [f"fixed {marker}", f"keep {marker}"]
    assert await found(include_hidden=True) == [
        f"fixed {marker}",
        f"keep {marker}",
        f"later {marker}",
        f"typo {marker}",
    ]

    async def ledger(**params: Any) -> list[str]:
        page = ok(
            await gateway.get(
                f"{path}/ledger", params={"page_size": 1000, **params}, headers=tenant.viewer
            )
        )
        return [e["payload"]["text"] for e in page["events"] if "text" in e["payload"]]

    assert await ledger() == [f"keep {marker}", f"fixed {marker}"]
    assert await ledger(include_hidden=True) == [
        f"keep {marker}",
        f"typo {marker}",
        f"later {marker}",
        f"fixed {marker}",
    ]
    refused(
        await gateway.post(f"{path}/messages/1:edit", json={"text": "no"}, headers=tenant.viewer),
        403,
    )
    bad = refused(
        await gateway.post(f"{path}/messages/2:edit", json={"text": "x"}, headers=tenant.member),
        400,
    )
    assert "position" in str(bad["details"])
    refused(
        await gateway.post(f"{path}/messages/-1:edit", json={"text": "x"}, headers=tenant.member),
        400,
    )
    refused(
        await gateway.post(f"{path}/messages/0:edit", json={"text": "x"}, headers=stranger.admin),
        404,
        "CONVERSATION_NOT_FOUND",
    )
