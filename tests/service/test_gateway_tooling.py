"""The tooling service over HTTP: agents, tools, agent tools, permissions, tool calls and their
approval, execution against a local HTTP server, MCP import and memory, through the gateway in
front of real identity, tenancy and tooling services on SQLite and PostgreSQL, with the tokens
users get by signing in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.tooling.tools.seed_catalogue import base_tool_id
from tests.support.gateway import (
    PlatformStack,
    bearer,
    client_of,
    error_of,
    gateway_app,
    platform_stack,
    reason_of,
    unique,
    violations,
)
from tests.support.http_server import LocalServer, local_http_server
from tests.support.identity_users import make_user
from tests.support.mcp_server import LocalMcpServer, local_mcp_server
from tests.support.stack import Databases

ECHO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"q": {"type": "string", "maxLength": 50}},
    "required": ["q"],
}


@dataclass
class Gateway:
    client: httpx.AsyncClient
    stack: PlatformStack
    server: LocalServer
    mcp: LocalMcpServer


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with local_http_server() as local:
        yield local


@pytest.fixture(scope="module")
def mcp() -> Iterator[LocalMcpServer]:
    with local_mcp_server() as local:
        yield local


@pytest.fixture(scope="module")
async def gw(
    backend: str, databases: Databases, server: LocalServer, mcp: LocalMcpServer
) -> AsyncIterator[Gateway]:
    async with (
        platform_stack(databases, backend, "gateway-tooling") as stack,
        gateway_app(stack.gateway_settings()) as app,
        client_of(app) as client,
    ):
        yield Gateway(client, stack, server, mcp)


@dataclass
class Team:
    tenant: str
    admin: dict[str, str]
    member: dict[str, str]
    viewer: dict[str, str]


async def sign_in(gw: Gateway, **user_options: Any) -> tuple[str, dict[str, str]]:
    user = await make_user(gw.stack.identity, **user_options)
    response = await gw.client.post(
        "/v1/auth/signin", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200, response.text
    return user.tenant_id, bearer(response.json()["tokens"]["access_token"])


async def new_team(gw: Gateway) -> Team:
    tenant, admin = await sign_in(gw)  # the tenant's owner
    _, member = await sign_in(gw, role="member", tenant_id=tenant)
    _, viewer = await sign_in(gw, role="viewer", tenant_id=tenant)
    return Team(tenant, admin, member, viewer)


async def operator(gw: Gateway) -> dict[str, str]:
    return (await sign_in(gw, platform_operator=True))[1]


async def call(gw: Gateway, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
    response = await gw.client.request(method, path, **kwargs)
    assert response.status_code == status, f"{method} {path}: {response.text}"
    return response.json() if response.content else None


def tool_body(endpoint: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": unique("lookup"),
        "base_tool_id": str(base_tool_id("HTTP_GET")),
        "config": {"endpoint": endpoint, "timeout": 5},
        "input_schema": ECHO_SCHEMA,
        "description": "looks something up",
        **fields,
    }


async def tool_and_agent(
    gw: Gateway, team: Team, *, tool_fields: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tool of the team's tenant calling the local echo server, and an agent offered it."""
    tool = await call(
        gw,
        "POST",
        "/v1/tools",
        201,
        json=tool_body(f"{gw.server.base}/echo/{{q}}", **(tool_fields or {})),
        headers=team.admin,
    )
    created = await call(
        gw,
        "POST",
        "/v1/agents",
        201,
        json={
            "name": unique("Agent"),
            "role_name": "support",
            "tools": [{"tool_id": tool["id"], "priority": 1}],
        },
        headers=team.admin,
    )
    return tool, created["agent"]


async def test_an_admin_defines_changes_and_archives_an_agent(gw: Gateway) -> None:
    team = await new_team(gw)
    tool = await call(
        gw,
        "POST",
        "/v1/tools",
        201,
        json=tool_body("https://erp.example.com/{q}"),
        headers=team.admin,
    )
    assert tool["tenant_id"] == team.tenant and tool["base_tool_type"] == "HTTP_GET"
    response = await gw.client.post(
        "/v1/agents",
        json={
            "name": unique("Collector"),
            "role_name": "debt_collection",
            "specialties": ["invoices"],
            "safety_level": "moderate",
            "policies": {"budgets": {"monthly": "10.00"}},
            "tools": [{"tool_id": tool["id"], "priority": 3}],
        },
        headers={**team.admin, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    agent = created["agent"]
    assert response.headers["Location"] == f"/v1/agents/{agent['id']}"
    assert agent["tenant_id"] == team.tenant and not agent["is_global"]
    assert (agent["status"], agent["safety_level"], agent["config_version"]) == (
        "active",
        "moderate",
        1,
    )
    assert agent["policies"]["budgets"] == {"monthly": "10.00"}
    assert [(t["tool_id"], t["priority"]) for t in created["tools"]] == [(tool["id"], 3)]

    # Viewers read: seed 002 "active agents" and seed 004 Query 1 (enabled for the tenant).
    path = f"/v1/agents/{agent['id']}"
    assert (await call(gw, "GET", path, headers=team.viewer))["name"] == agent["name"]
    for params in (
        {"status": "active"},
        {"enabled_only": "true"},
        {"role_name": "debt_collection", "include_global": "false"},
    ):
        listed = await call(gw, "GET", "/v1/agents", params=params, headers=team.viewer)
        assert agent["id"] in {a["id"] for a in listed["agents"]}, params

    # A change with the version read; a stale one is 409; update_mask resets a field left out.
    changed = await call(
        gw,
        "PATCH",
        path,
        json={"config_version": 1, "description": "collects overdue invoices"},
        headers=team.admin,
    )
    assert changed["config_version"] == 2 and changed["description"] == "collects overdue invoices"
    assert changed["config_hash"] != agent["config_hash"]
    stale = await gw.client.patch(
        path, json={"config_version": 1, "notes": "late"}, headers=team.admin
    )
    assert reason_of(stale, 409, "ABORTED") == "STALE_VERSION"
    reset = await call(
        gw,
        "PATCH",
        path,
        params={"update_mask": "description,notes"},
        json={"config_version": 2, "notes": "reviewed"},
        headers=team.admin,
    )
    assert (reset["description"], reset["notes"], reset["config_version"]) == ("", "reviewed", 3)

    # The agent's tools: offered by priority, re-prioritised, withdrawn.
    second = await call(
        gw,
        "POST",
        "/v1/tools",
        201,
        json=tool_body("https://erp.example.com/b/{q}"),
        headers=team.admin,
    )
    tools_path = f"{path}/tools"
    offered = await call(
        gw, "PUT", f"{tools_path}/{second['id']}", json={"priority": 0}, headers=team.admin
    )
    assert (offered["tool_id"], offered["priority"]) == (second["id"], 0)
    listed_tools = await call(gw, "GET", tools_path, params={"page_size": 5}, headers=team.viewer)
    assert [t["tool_id"] for t in listed_tools["agent_tools"]] == [second["id"], tool["id"]]
    await call(gw, "DELETE", f"{tools_path}/{second['id']}", 204, headers=team.admin)
    listed_tools = await call(gw, "GET", tools_path, headers=team.viewer)
    assert [t["tool_id"] for t in listed_tools["agent_tools"]] == [tool["id"]]

    archived = await call(
        gw, "POST", f"{path}:archive", json={"config_version": 3}, headers=team.admin
    )
    assert (archived["status"], archived["is_active"]) == ("archived", False)
    enabled = await call(
        gw, "GET", "/v1/agents", params={"enabled_only": "true"}, headers=team.viewer
    )
    assert agent["id"] not in {a["id"] for a in enabled["agents"]}


async def test_a_viewer_reads_and_is_refused_every_change(gw: Gateway) -> None:
    team = await new_team(gw)
    tool, agent = await tool_and_agent(gw, team)
    path = f"/v1/agents/{agent['id']}"
    await call(gw, "GET", path, headers=team.viewer)
    await call(gw, "GET", f"/v1/tools/{tool['id']}", headers=team.viewer)
    refusals = [
        ("POST", "/v1/agents", {"name": unique("A"), "role_name": "x"}),
        ("PATCH", path, {"config_version": 1, "description": "x"}),
        ("POST", f"{path}:archive", None),
        ("PUT", f"{path}/tools/{tool['id']}", {"priority": 2}),
        ("DELETE", f"{path}/tools/{tool['id']}", None),
        ("POST", "/v1/tools", tool_body("https://erp.example.com/{q}")),
        ("PATCH", f"/v1/tools/{tool['id']}", {"version": 1, "description": "x"}),
        ("PUT", f"/v1/tool-permissions/{tool['id']}", {"enabled": False}),
        ("PUT", f"/v1/agent-permissions/{agent['id']}", {"enabled": False}),
        ("PUT", "/v1/memories/global/tone", {"value": "formal"}),
        ("POST", f"{path}/tools/{tool['id']}:execute", {"arguments": {"q": "x"}}),
    ]
    for method, target, body in refusals:
        response = await gw.client.request(method, target, json=body, headers=team.viewer)
        assert reason_of(response, 403, "PERMISSION_DENIED") == "ROLE_TOO_LOW", f"{method} {target}"


async def test_another_tenants_ids_are_not_found(gw: Gateway) -> None:
    team, other = await new_team(gw), await new_team(gw)
    tool, agent = await tool_and_agent(gw, team)
    executed = await call(
        gw,
        "POST",
        f"/v1/agents/{agent['id']}/tools/{tool['id']}:execute",
        json={"arguments": {"q": "hello"}},
        headers=team.member,
    )
    await call(
        gw,
        "PUT",
        "/v1/memories/user/tone",
        params={"scope_key": "u1"},
        json={"value": 1},
        headers=team.member,
    )
    path = f"/v1/agents/{agent['id']}"
    for method, target, body in [
        ("GET", path, None),
        ("PATCH", path, {"config_version": 1, "description": "mine now"}),
        ("POST", f"{path}:archive", None),
        ("GET", f"{path}/tools", None),
        ("PUT", f"{path}/tools/{tool['id']}", {"priority": 1}),
        ("GET", f"/v1/tools/{tool['id']}", None),
        ("PATCH", f"/v1/tools/{tool['id']}", {"version": 1, "description": "mine"}),
        ("GET", f"/v1/tool-calls/{executed['id']}", None),
        ("POST", f"/v1/tool-calls/{executed['id']}:approve", None),
        ("POST", f"{path}/tools/{tool['id']}:execute", {"arguments": {"q": "x"}}),
        ("PUT", f"/v1/agent-permissions/{agent['id']}", {"enabled": True}),
    ]:
        response = await gw.client.request(method, target, json=body, headers=other.admin)
        error_of(response, 404, "NOT_FOUND")
    response = await gw.client.get(
        "/v1/memories/user/tone", params={"scope_key": "u1"}, headers=other.admin
    )
    error_of(response, 404, "NOT_FOUND")
    # Naming the other tenant outright is refused without saying whether it has the row.
    response = await gw.client.get(path, params={"tenant_id": team.tenant}, headers=other.admin)
    assert reason_of(response, 403, "PERMISSION_DENIED") == "TENANT_MISMATCH"


async def test_bad_input_is_400_naming_the_field(gw: Gateway) -> None:
    team = await new_team(gw)
    tool, agent = await tool_and_agent(gw, team)
    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, str]] = [
        ("POST", "/v1/agents", {"role_name": "x"}, None, "name"),
        ("POST", "/v1/agents", {"name": "A", "role_name": "x", "colour": "red"}, None, "colour"),
        ("POST", "/v1/agents", {"name": "A", "role_name": "x", "status": "asleep"}, None, "status"),
        ("POST", "/v1/agents", {"name": "", "role_name": "x"}, None, "agent.name"),
        ("GET", "/v1/agents/not-an-id", None, None, "agent_id"),
        ("GET", "/v1/agents", None, {"status": "asleep"}, "status"),
        ("PATCH", f"/v1/agents/{agent['id']}", {"description": "x"}, None, "config_version"),
        (
            "PATCH",
            f"/v1/agents/{agent['id']}",
            {"config_version": 1},
            {"update_mask": "config_hash"},
            "update_mask",
        ),
        (
            "POST",
            "/v1/tools",
            {**tool_body("x"), "base_tool_id": "nope"},
            None,
            "tool.base_tool_id",
        ),
        ("POST", "/v1/tools", {**tool_body("x"), "name": "no spaces"}, None, "tool.name"),
        ("PATCH", f"/v1/tools/{tool['id']}", {"name": "y"}, None, "version"),
        ("GET", "/v1/tools", None, {"base_tool_type": "TELEPATHY"}, "base_tool_type"),
        ("PUT", f"/v1/agents/{agent['id']}/tools/{tool['id']}", {"priority": -1}, None, "priority"),
        (
            "POST",
            f"/v1/agents/{agent['id']}/tools/{tool['id']}:execute",
            {"arguments": {"q": 5}},
            None,
            "arguments",
        ),
        ("GET", "/v1/tool-calls", None, {"state": "done"}, "state"),
        ("PUT", "/v1/memories/galaxy/k", {"value": 1}, None, "scope"),
        ("PUT", "/v1/memories/global/k", {"confidence": 5}, None, "value"),
        ("PUT", "/v1/memories/session/k", {"value": 1}, None, "entry.scope_key"),
        ("GET", "/v1/memories:search", None, {"query": "  "}, "query"),
        ("POST", "/v1/agent-permissions:grant", {"agent_ids": []}, None, "agent_ids"),
    ]
    for method, target, body, params, field in cases:
        response = await gw.client.request(
            method, target, json=body, params=params, headers=team.admin
        )
        fields = violations(response)
        assert any(field in name for name in fields), f"{method} {target}: {fields}"


async def test_a_patch_that_changes_no_field_is_400_and_changes_nothing(gw: Gateway) -> None:
    team = await new_team(gw)
    tool, agent = await tool_and_agent(gw, team)
    agent_path, tool_path = f"/v1/agents/{agent['id']}", f"/v1/tools/{tool['id']}"
    for path, body in (
        (agent_path, {"config_version": agent["config_version"]}),
        (tool_path, {"version": tool["version"]}),
    ):
        response = await gw.client.patch(path, json=body, headers=team.admin)
        fields = violations(response)
        assert list(fields) == ["body"], fields
        assert "at least one field" in fields["body"]
    # Nothing sent at all: the version is what is missing.
    assert "config_version" in violations(
        await gw.client.patch(agent_path, json={}, headers=team.admin)
    )
    assert "version" in violations(await gw.client.patch(tool_path, json={}, headers=team.admin))
    got_agent = await call(gw, "GET", agent_path, headers=team.viewer)
    got_tool = await call(gw, "GET", tool_path, headers=team.viewer)
    assert got_agent["config_version"] == agent["config_version"]
    assert got_tool["version"] == tool["version"]


async def test_an_http_tool_runs_against_a_local_server_and_is_recorded(gw: Gateway) -> None:
    team = await new_team(gw)
    tool, agent = await tool_and_agent(gw, team)
    execute = f"/v1/agents/{agent['id']}/tools/{tool['id']}:execute"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    hits_before = gw.server.hits("/echo/hello")
    body = {"arguments": {"q": "hello"}, "run_id": "run-7"}
    ran = await call(gw, "POST", execute, json=body, headers={**team.member, **key})
    assert ran["state"] == "ok", ran
    assert ran["result"]["path"] == "/echo/hello"
    assert (ran["run_id"], ran["tool_name"], ran["error"]) == ("run-7", tool["name"], "")
    again = await call(gw, "POST", execute, json=body, headers={**team.member, **key})
    assert again["id"] == ran["id"]
    assert gw.server.hits("/echo/hello") == hits_before + 1  # the retry did not run it again

    got = await call(gw, "GET", f"/v1/tool-calls/{ran['id']}", headers=team.viewer)
    assert got == ran
    listed = await call(
        gw,
        "GET",
        "/v1/tool-calls",
        params={"agent_id": agent["id"], "state": "ok"},
        headers=team.viewer,
    )
    assert [c["id"] for c in listed["tool_calls"]] == [ran["id"]]
    # A refused call is the error it names, and a recorded call in state error.
    refused = await gw.client.post(execute, json={"arguments": {}}, headers=team.member)
    assert reason_of(refused, 400, "INVALID_ARGUMENT") == "INVALID_ARGUMENTS"
    assert "arguments" in violations(refused)
    errors = await call(gw, "GET", "/v1/tool-calls", params={"state": "error"}, headers=team.viewer)
    assert [c["error_reason"] for c in errors["tool_calls"]] == ["INVALID_ARGUMENTS"]

    # Seed 004 Query 3: the tool is enabled for the tenant; switched off, the call is refused.
    permissions = await call(
        gw, "GET", "/v1/tool-permissions", params={"page_size": 1000}, headers=team.viewer
    )
    assert {p["tool_id"]: p["enabled"] for p in permissions["permissions"]}[tool["id"]] is True
    off = await call(
        gw, "PUT", f"/v1/tool-permissions/{tool['id']}", json={"enabled": False}, headers=team.admin
    )
    assert off["enabled"] is False
    disabled = await gw.client.post(execute, json={"arguments": {"q": "x"}}, headers=team.member)
    assert reason_of(disabled, 403, "PERMISSION_DENIED") == "TOOL_NOT_ENABLED"
    agents = await call(gw, "GET", "/v1/agent-permissions", headers=team.viewer)
    assert [(p["agent_id"], p["enabled"]) for p in agents["permissions"]] == [(agent["id"], True)]
    paused = await call(
        gw,
        "PUT",
        f"/v1/agent-permissions/{agent['id']}",
        json={"enabled": False},
        headers=team.admin,
    )
    assert paused["enabled"] is False and paused["output_override_id"] is None
    granted = await call(
        gw,
        "POST",
        "/v1/agent-permissions:grant",
        json={"agent_ids": [agent["id"]]},
        headers=team.admin,
    )
    assert [p["enabled"] for p in granted["agent_permissions"]] == [True]
    assert tool["id"] in {p["tool_id"] for p in granted["tool_permissions"]}


async def test_a_call_needing_approval_waits_for_an_admin(gw: Gateway) -> None:
    team = await new_team(gw)
    tool, agent = await tool_and_agent(gw, team, tool_fields={"requires_approval": True})
    execute = f"/v1/agents/{agent['id']}/tools/{tool['id']}:execute"
    held = await call(gw, "POST", execute, json={"arguments": {"q": "ok"}}, headers=team.member)
    assert held["state"] == "pending_approval" and held["result"] is None
    pending = await call(
        gw, "GET", "/v1/tool-calls", params={"state": "pending_approval"}, headers=team.viewer
    )
    assert [c["id"] for c in pending["tool_calls"]] == [held["id"]]
    refused = await gw.client.post(f"/v1/tool-calls/{held['id']}:approve", headers=team.member)
    assert reason_of(refused, 403, "PERMISSION_DENIED") == "ROLE_TOO_LOW"
    approved = await call(gw, "POST", f"/v1/tool-calls/{held['id']}:approve", headers=team.admin)
    assert approved["state"] == "ok" and approved["decided_by"]
    assert approved["result"]["path"] == "/echo/ok"
    hits = gw.server.hits("/echo/ok")
    repeat = await call(gw, "POST", f"/v1/tool-calls/{held['id']}:approve", headers=team.admin)
    assert repeat["state"] == "ok" and gw.server.hits("/echo/ok") == hits

    second = await call(gw, "POST", execute, json={"arguments": {"q": "no"}}, headers=team.member)
    denied = await call(
        gw,
        "POST",
        f"/v1/tool-calls/{second['id']}:deny",
        json={"reason": "not today"},
        headers=team.admin,
    )
    assert (denied["state"], denied["deny_reason"]) == ("denied", "not today")
    assert gw.server.hits("/echo/no") == 0


async def test_operators_manage_global_agents_and_tools(gw: Gateway) -> None:
    ops = await operator(gw)
    team = await new_team(gw)
    global_tool = await call(
        gw, "POST", "/v1/tools", 201, json=tool_body("https://erp.example.com/{q}"), headers=ops
    )
    assert global_tool["tenant_id"] is None
    created = await call(
        gw,
        "POST",
        "/v1/agents",
        201,
        json={
            "name": unique("Global"),
            "role_name": "support",
            "is_global": True,
            "tools": [{"tool_id": global_tool["id"]}],
        },
        headers=ops,
    )
    agent = created["agent"]
    assert agent["is_global"] and agent["tenant_id"] is None
    changed = await call(
        gw,
        "PATCH",
        f"/v1/agents/{agent['id']}",
        json={"config_version": 1, "description": "for everyone"},
        headers=ops,
    )
    assert changed["config_version"] == 2
    await call(
        gw,
        "PATCH",
        f"/v1/tools/{global_tool['id']}",
        json={"version": global_tool["version"], "description": "global lookup"},
        headers=ops,
    )
    # Tenants read the global ones and may not change them or define their own.
    seen = await call(gw, "GET", "/v1/agents", params={"page_size": 1000}, headers=team.viewer)
    assert agent["id"] in {a["id"] for a in seen["agents"]}
    tools = await call(gw, "GET", "/v1/tools", params={"page_size": 1000}, headers=team.viewer)
    assert global_tool["id"] in {t["id"] for t in tools["tools"]}
    response = await gw.client.patch(
        f"/v1/agents/{agent['id']}", json={"config_version": 2, "notes": "x"}, headers=team.admin
    )
    error_of(response, 404, "NOT_FOUND")
    response = await gw.client.post(
        "/v1/agents",
        json={"name": unique("G"), "role_name": "x", "is_global": True},
        headers=team.admin,
    )
    assert reason_of(response, 403, "PERMISSION_DENIED") == "OPERATOR_ONLY"
    bases = await call(gw, "GET", "/v1/base-tools", headers=team.viewer)
    assert {b["type"] for b in bases["base_tools"]} >= {"HTTP_GET", "HTTP_POST", "MCP"}
    formats = await call(gw, "GET", "/v1/output-formats", headers=team.viewer)
    assert "structured_json" in {f["name"] for f in formats["output_formats"]}
    # An operator acts on a tenant's data by naming it; leaving it out is 400 naming tenant_id.
    response = await gw.client.get("/v1/tool-calls", headers=ops)
    assert "tenant_id" in violations(response)
    listed = await call(gw, "GET", "/v1/tool-calls", params={"tenant_id": team.tenant}, headers=ops)
    assert listed["tool_calls"] == []


async def test_an_mcp_servers_tools_are_imported(gw: Gateway) -> None:
    team = await new_team(gw)
    body = {"server_url": gw.mcp.url, "name_prefix": "inv.", "timeout_seconds": 10}
    imported = await call(gw, "POST", "/v1/tools:import-mcp", json=body, headers=team.admin)
    tools = {tool["name"]: tool for tool in imported["tools"]}
    assert set(tools) == {"inv.stock", "inv.broken", "inv.stuck"}
    assert tools["inv.stock"]["base_tool_type"] == "MCP"
    assert tools["inv.stock"]["tenant_id"] == team.tenant
    again = await call(gw, "POST", "/v1/tools:import-mcp", json=body, headers=team.admin)
    assert {t["name"]: t["id"] for t in again["tools"]}["inv.stock"] == tools["inv.stock"]["id"]
    listed = await call(
        gw, "GET", "/v1/tools", params={"base_tool_type": "MCP"}, headers=team.viewer
    )
    assert {t["name"] for t in listed["tools"]} >= set(tools)
    response = await gw.client.post("/v1/tools:import-mcp", json=body, headers=team.viewer)
    error_of(response, 403, "PERMISSION_DENIED")


async def test_memory_is_stored_listed_searched_and_deleted(gw: Gateway) -> None:
    team = await new_team(gw)
    entry = "/v1/memories/session/language"
    scope = {"scope_key": "session-1"}
    stored = await call(
        gw,
        "PUT",
        entry,
        params=scope,
        json={"value": {"preferred": "fr"}, "confidence": 80, "source": "user"},
        headers=team.member,
    )
    assert stored["created"] is True
    assert stored["entry"]["tenant_id"] == team.tenant
    assert (stored["entry"]["confidence"], stored["entry"]["source"]) == (80, "user")
    replaced = await call(
        gw, "PUT", entry, params=scope, json={"value": {"preferred": "de"}}, headers=team.member
    )
    assert replaced["created"] is False and replaced["entry"]["id"] == stored["entry"]["id"]
    got = await call(gw, "GET", entry, params=scope, headers=team.viewer)
    assert got["value"] == {"preferred": "de"} and got["confidence"] == 50
    await call(gw, "PUT", "/v1/memories/global/tone", json={"value": "formal"}, headers=team.member)
    listed = await call(
        gw, "GET", "/v1/memories", params={"scope": "session", **scope}, headers=team.viewer
    )
    assert [e["key"] for e in listed["entries"]] == ["language"]
    found = await call(
        gw, "GET", "/v1/memories:search", params={"query": "FORM"}, headers=team.viewer
    )
    assert [e["key"] for e in found["entries"]] == ["tone"]
    await call(gw, "DELETE", entry, 204, params=scope, headers=team.member)
    response = await gw.client.get(entry, params=scope, headers=team.viewer)
    assert reason_of(response, 404, "NOT_FOUND") == "MEMORY_NOT_FOUND"


async def test_a_memory_key_may_hold_slashes(gw: Gateway) -> None:
    team = await new_team(gw)
    scope = {"scope_key": "session-1"}
    for key, value in (("notes/2026/q1", 1), ("notes/2026", 2), ("notes", 3)):
        stored = await call(
            gw,
            "PUT",
            f"/v1/memories/session/{key}",
            params=scope,
            json={"value": value},
            headers=team.member,
        )
        assert stored["entry"]["key"] == key
    # Sent as is or with each "/" percent-encoded: the same key.
    for path in ("/v1/memories/session/notes/2026/q1", "/v1/memories/session/notes%2F2026%2Fq1"):
        got = await call(gw, "GET", path, params=scope, headers=team.viewer)
        assert (got["key"], got["value"]) == ("notes/2026/q1", 1)
    await call(
        gw, "DELETE", "/v1/memories/session/notes/2026", 204, params=scope, headers=team.member
    )
    listed = await call(
        gw, "GET", "/v1/memories", params={"scope": "session", **scope}, headers=team.viewer
    )
    assert sorted(e["key"] for e in listed["entries"]) == ["notes", "notes/2026/q1"]
    response = await gw.client.get(
        "/v1/memories/session/notes/2026", params=scope, headers=team.viewer
    )
    assert reason_of(response, 404, "NOT_FOUND") == "MEMORY_NOT_FOUND"


async def test_operators_set_execution_limits_and_everyone_reads_them(gw: Gateway) -> None:
    ops = await operator(gw)
    team = await new_team(gw)
    role = unique("role")
    target = f"/v1/agent-execution-limits/{role}/pro"
    stored = await call(
        gw,
        "PUT",
        target,
        json={"rate_limit_per_minute": 30, "blocked_tools": ["shell"], "notes": "pro plan"},
        headers=ops,
    )
    assert (stored["agent_role"], stored["cost_tier"], stored["rate_limit_per_minute"]) == (
        role,
        "pro",
        30,
    )
    assert stored["max_tool_calls_per_day"] is None and stored["blocked_tools"] == ["shell"]
    capped = await call(gw, "PUT", target, json={"max_tool_calls_per_day": 100}, headers=ops)
    assert (capped["max_tool_calls_per_day"], capped["rate_limit_per_minute"]) == (100, 0)
    listed = await call(
        gw, "GET", "/v1/agent-execution-limits", params={"agent_role": role}, headers=team.viewer
    )
    assert [(lim["cost_tier"], lim["max_tool_calls_per_day"]) for lim in listed["limits"]] == [
        ("pro", 100)
    ]
    refused = await gw.client.put(target, json={}, headers=team.admin)
    assert reason_of(refused, 403, "PERMISSION_DENIED") == "OPERATOR_ONLY"
    bad = await gw.client.put(f"/v1/agent-execution-limits/{role}/platinum", json={}, headers=ops)
    assert "cost_tier" in violations(bad)
    bad = await gw.client.put(target, json={"rate_limit_per_minute": -1}, headers=ops)
    assert "rate_limit_per_minute" in violations(bad)


async def test_a_service_accounts_api_key_acts_for_its_own_tenant(gw: Gateway) -> None:
    team = await new_team(gw)
    created = await call(
        gw,
        "POST",
        "/v1/service-accounts/keys",
        201,
        json={"tenant_id": team.tenant, "account": unique("ci"), "role": "admin"},
        headers=team.admin,
    )
    api_key = {"X-API-Key": created["api_key"]}
    # A tool's tenant defaults to the key's tenant: the gateway reads it from the access token
    # it exchanged the key for.
    tool = await call(
        gw, "POST", "/v1/tools", 201, json=tool_body("https://erp.example.com/{q}"), headers=api_key
    )
    assert tool["tenant_id"] == team.tenant
    changed = await call(
        gw,
        "PATCH",
        f"/v1/tools/{tool['id']}",
        json={"version": tool["version"], "is_active": False},
        headers=api_key,
    )
    assert changed["is_active"] is False and changed["version"] == tool["version"] + 1
    # An unusable token is not guessed at: the service refuses it.
    response = await gw.client.post(
        "/v1/tools",
        json=tool_body("https://erp.example.com/{q}"),
        headers={"Authorization": "Bearer not-a-token"},
    )
    error_of(response, 401, "UNAUTHENTICATED")
