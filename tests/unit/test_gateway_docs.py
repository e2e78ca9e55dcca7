"""/docs and /redoc render without internet access: every script, style and icon their pages
name is served by the gateway itself, from files installed with the package."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings

ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails, as on a machine without internet access."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_page_and_all_it_loads_come_from_the_gateway(
    page: str, no_network: None
) -> None:
    app = create_app(GatewaySettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        html = await client.get(page)
        assert html.status_code == 200
        assets = ASSET_REFERENCE.findall(html.text)
        scripts = [url for url in assets if url.endswith(".js")]
        assert scripts, f"{page} names no script: {html.text[:500]}"
        for url in assets:
            assert url.startswith("/"), f"{page} loads {url} from elsewhere than the gateway"
            loaded = await client.get(url)
            assert loaded.status_code == 200 and loaded.content, url
        # The page reads its API description from the gateway too.
        assert (await client.get("/openapi.json")).json()["info"]["title"] == "Quarterdeck"
