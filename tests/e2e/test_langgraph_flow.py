"""A real LangGraph graph checkpointed through tooling on the running platform: it stops at an
interrupt in this process and is resumed by another process; a thread of one tenant stays
invisible to another tenant that knows its id."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import httpx

from quarterdeck.langgraph import QuarterdeckCheckpointSaver
from tests.e2e.conftest import E2E_MARKS, Platform, platform_env
from tests.e2e.test_telemetry_flow import signed_up_owner
from tests.support.langgraph_graph import build_graph

pytestmark = E2E_MARKS


def test_a_graph_interrupted_here_resumes_in_another_process(platform: Platform) -> None:
    with httpx.Client(base_url=platform.gateway, timeout=30) as gateway:
        _, owner = signed_up_owner(gateway)
        _, stranger = signed_up_owner(gateway)
    target = platform.target("tooling")
    thread = f"refund-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread}}

    async def start() -> object:
        saver = QuarterdeckCheckpointSaver(target, metadata=list(owner.items()))
        try:
            return await build_graph(saver).ainvoke({"steps": [], "decision": ""}, config)
        finally:
            await saver.aclose()

    paused = asyncio.run(start())
    assert paused["__interrupt__"][0].value == {"question": "send the refund?"}  # type: ignore[index]

    token = owner["authorization"].removeprefix("Bearer ")
    resumed = subprocess.run(
        [sys.executable, "-m", "tests.support.langgraph_graph", target, token, thread, "yes"],
        env=platform_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["steps"] == [
        "drafted",
        "asked",
        "acted:yes",
    ]

    other = QuarterdeckCheckpointSaver(target, metadata=list(stranger.items()))
    try:
        assert other.get_tuple(config) is None
        assert list(other.list(config)) == []
    finally:
        other.close()
