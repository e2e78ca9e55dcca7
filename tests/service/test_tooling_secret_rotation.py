"""``quarterdeck rotate-tool-secrets`` re-encrypts tools' secret headers under a new first key,
on SQLite and on PostgreSQL; the tool keeps working with the new key alone."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from cryptography.fernet import Fernet

from quarterdeck.tooling.v1 import executions_pb2 as pb
from services.cli import main as cli_main
from shared.json_values import dict_to_struct, value_to_python
from tests.support.http_server import local_http_server
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import create_agent, create_tool, tooling_service

ISSUER = TestIssuer()


async def test_rotation_reseals_secret_headers_under_the_new_key(
    backend: str,
    databases: Databases,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    tenant = str(uuid.uuid4())
    admin = ISSUER.member(tenant, "admin")
    secret = f"Bearer {uuid.uuid4().hex}"
    with local_http_server() as server:
        async with tooling_service(
            databases,
            backend,
            "rotation",
            ISSUER,
            secret_encryption_keys=old_key,
            egress_allowed_hosts="127.0.0.1",
        ) as tooling:
            tool = await create_tool(
                tooling,
                admin,
                tenant_id=tenant,
                endpoint=f"{server.base}/echo/{{q}}",
                secret_headers={"Authorization": secret},
            )
            agent = (
                await create_agent(tooling, admin, tenant_id=tenant, tools=[(tool.id, 1)])
            ).agent
            url = tooling.running.context.settings.resolved_database_url

        monkeypatch.setenv("QD_TOOLING_DATABASE_URL", url)
        monkeypatch.setenv("QD_TOOLING_SECRET_ENCRYPTION_KEYS", f"{new_key},{old_key}")
        assert await asyncio.to_thread(cli_main, ["rotate-tool-secrets", "--batch-size", "1"]) == 0
        assert "tool secret headers re-encrypted: 1," in capsys.readouterr().out

        async with tooling_service(
            databases,
            backend,
            "rotation",
            ISSUER,
            secret_encryption_keys=new_key,
            egress_allowed_hosts="127.0.0.1",
        ) as tooling:
            call = (
                await tooling.executions.ExecuteTool(
                    pb.ExecuteToolRequest(
                        tenant_id=tenant,
                        agent_id=agent.id,
                        tool_id=tool.id,
                        arguments=dict_to_struct({"q": "rotated"}),
                    ),
                    metadata=admin,
                )
            ).tool_call
        assert value_to_python(call.result)["authorization"] == secret

    monkeypatch.delenv("QD_TOOLING_SECRET_ENCRYPTION_KEYS")
    assert await asyncio.to_thread(cli_main, ["rotate-tool-secrets"]) == 2
    assert "QD_TOOLING_SECRET_ENCRYPTION_KEYS" in capsys.readouterr().err
