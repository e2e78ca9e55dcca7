"""OCR tools on SQLite and PostgreSQL: through the configured HTTP OCR engine (a fake one on
127.0.0.1, which the operator allow-list of the test admits), through the egress guard (the same
engine without the allow-list is refused), and FAILED_PRECONDITION naming the missing setting
when no engine is configured; each call leaves its tool_call row."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
import pytest

from quarterdeck.tooling.v1 import executions_pb2 as pb
from shared.json_values import dict_to_struct, value_to_python
from tests.support.errors import rich_error
from tests.support.http_server import LocalServer, local_http_server
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, create_agent, create_tool, failure, tooling_service

ISSUER = TestIssuer()
OCR_SCHEMA = {
    "type": "object",
    "properties": {"image_base64": {"type": "string"}, "language": {"type": "string"}},
}


@dataclass
class Services:
    engine: Tooling  # the fake engine, allowed by the operator
    bare: Tooling  # no engine configured
    unallowed: Tooling  # the engine at 127.0.0.1, not on the allow-list


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with local_http_server() as local:
        yield local


@pytest.fixture(scope="module")
async def services(
    backend: str, databases: Databases, server: LocalServer
) -> AsyncIterator[Services]:
    ocr = f"{server.base}/ocr"
    async with (
        tooling_service(
            databases, backend, "ocr", ISSUER, ocr_endpoint=ocr, egress_allowed_hosts="127.0.0.1"
        ) as engine,
        tooling_service(databases, backend, "ocr-bare", ISSUER) as bare,
        tooling_service(databases, backend, "ocr-unallowed", ISSUER, ocr_endpoint=ocr) as unallowed,
    ):
        yield Services(engine, bare, unallowed)


@dataclass
class Setup:
    tenant: str
    admin: list[tuple[str, str]]
    agent: str
    tool: str


async def setup(tooling: Tooling) -> Setup:
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    tool = await create_tool(
        tooling, admin, tenant_id=tenant, base_type="OCR", input_schema=OCR_SCHEMA
    )
    agent = (await create_agent(tooling, admin, tenant_id=tenant, tools=[(tool.id, 1)])).agent
    return Setup(tenant, admin, agent.id, tool.id)


def ocr(s: Setup, **arguments: str) -> pb.ExecuteToolRequest:
    return pb.ExecuteToolRequest(
        tenant_id=s.tenant, agent_id=s.agent, tool_id=s.tool, arguments=dict_to_struct(arguments)
    )


async def calls(tooling: Tooling, s: Setup) -> list[pb.ToolCall]:
    listed = await tooling.executions.ListToolCalls(
        pb.ListToolCallsRequest(tenant_id=s.tenant), metadata=s.admin
    )
    return list(listed.tool_calls)


async def test_an_image_is_read_by_the_configured_engine(
    services: Services, server: LocalServer
) -> None:
    s = await setup(services.engine)
    image = base64.b64encode(b"INVOICE 42\nTotal: 17.50").decode()
    call = (
        await services.engine.executions.ExecuteTool(
            ocr(s, image_base64=image, language="eng"), metadata=s.admin
        )
    ).tool_call
    assert call.state == pb.TOOL_CALL_STATE_OK, call.error
    assert value_to_python(call.result) == {"text": "INVOICE 42\nTotal: 17.50"}


async def test_bad_images_are_the_calls_errors_and_never_reach_the_engine(
    services: Services, server: LocalServer
) -> None:
    s = await setup(services.engine)
    before = server.hits("/ocr")
    for arguments, reason in (
        ({"image_base64": "not base64!"}, "OCR_BAD_IMAGE"),
        ({"language": "eng"}, "OCR_NO_IMAGE"),
    ):
        call = (
            await services.engine.executions.ExecuteTool(ocr(s, **arguments), metadata=s.admin)
        ).tool_call
        assert (call.state, call.error_reason) == (pb.TOOL_CALL_STATE_ERROR, reason)
        assert "image_base64" in call.error
    assert server.hits("/ocr") == before


async def test_without_an_engine_the_call_is_refused_naming_the_setting(
    services: Services,
) -> None:
    s = await setup(services.bare)
    refused = await failure(
        services.bare.executions.ExecuteTool(
            ocr(s, image_base64=base64.b64encode(b"x").decode()), metadata=s.admin
        )
    )
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused).reason == "NO_OCR_ENGINE"
    assert "QD_TOOLING_OCR_ENDPOINT" in (refused.details() or "")
    [call] = await calls(services.bare, s)
    assert (call.state, call.error_reason) == (pb.TOOL_CALL_STATE_ERROR, "NO_OCR_ENGINE")


async def test_the_engine_is_reached_through_the_egress_guard(
    services: Services, server: LocalServer
) -> None:
    s = await setup(services.unallowed)
    before = server.hits("/ocr")
    call = (
        await services.unallowed.executions.ExecuteTool(
            ocr(s, image_base64=base64.b64encode(b"x").decode()), metadata=s.admin
        )
    ).tool_call
    assert (call.state, call.error_reason) == (pb.TOOL_CALL_STATE_ERROR, "EGRESS_DENIED")
    assert server.hits("/ocr") == before
