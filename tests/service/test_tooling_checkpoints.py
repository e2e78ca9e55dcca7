"""LangGraph checkpoints through tooling's CheckpointService, on SQLite and on PostgreSQL: the
langgraph-checkpoint-conformance suite against quarterdeck.langgraph's saver, a real graph that
interrupts and resumes on another saver instance, and threads invisible across tenants."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import ProgressCallbacks
from langgraph.types import Command

from quarterdeck.langgraph import QuarterdeckCheckpointSaver
from quarterdeck.tooling.v1 import checkpoints_pb2 as pb
from tests.support.errors import failure, rich_error
from tests.support.langgraph_graph import build_graph
from tests.support.stack import Databases
from tests.support.tokens import TestIssuer
from tests.support.tooling import Tooling, tooling_service

ISSUER = TestIssuer()


@pytest.fixture(scope="module")
async def tooling(backend: str, databases: Databases) -> AsyncIterator[Tooling]:
    async with tooling_service(databases, backend, "checkpoints", ISSUER) as service:
        yield service


def saver_for(tooling: Tooling, tenant: str) -> QuarterdeckCheckpointSaver:
    return QuarterdeckCheckpointSaver(
        tooling.running.target, metadata=ISSUER.member(tenant, "member")
    )


async def test_the_saver_passes_the_langgraph_conformance_suite(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())  # every suite gets its own tenant: an empty store

    async def factory() -> AsyncIterator[QuarterdeckCheckpointSaver]:
        saver = saver_for(tooling, tenant)
        yield saver
        await saver.aclose()

    registered = checkpointer_test(name=f"Quarterdeck-{tenant[:8]}")(factory)
    failures: list[str] = []

    def record(capability: str, test: str, passed: bool, error: str | None) -> None:
        if not passed:
            failures.append(f"{capability}.{test}: {error}")

    report = await validate(registered, progress=ProgressCallbacks(on_test_result=record))
    assert failures == []
    assert report.passed_all_base(), report
    ran = {name: result.tests_passed for name, result in report.results.items()}
    assert all(ran[cap] > 0 for cap in ("put", "put_writes", "get_tuple", "list", "delete_thread"))


async def test_a_graph_interrupts_and_resumes_on_another_saver(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    config = {"configurable": {"thread_id": f"refund-{uuid.uuid4().hex[:8]}"}}
    first = saver_for(tooling, tenant)
    paused = await build_graph(first).ainvoke({"steps": [], "decision": ""}, config)
    assert paused["__interrupt__"][0].value == {"question": "send the refund?"}
    await first.aclose()

    # Another saver (as another process would hold) picks the thread up where it stopped.
    second = saver_for(tooling, tenant)
    done = await build_graph(second).ainvoke(Command(resume="yes"), config)
    assert done["steps"] == ["drafted", "asked", "acted:yes"]
    history = [c async for c in second.alist(config)]
    assert len(history) >= 4
    assert all(
        c.config["configurable"]["thread_id"] == config["configurable"]["thread_id"]
        for c in history
    )
    await second.aclose()


async def test_the_sync_api_runs_a_graph(tooling: Tooling) -> None:
    saver = saver_for(tooling, str(uuid.uuid4()))
    config = {"configurable": {"thread_id": "sync-thread"}}
    graph = build_graph(saver)

    def run() -> None:
        # Blocking calls, as graph.invoke makes them, off the loop that serves the service.
        assert "__interrupt__" in graph.invoke({"steps": [], "decision": ""}, config)
        assert graph.invoke(Command(resume="no"), config)["steps"][-1] == "acted:no"
        assert saver.get_tuple(config) is not None
        assert len(list(saver.list(config, limit=2))) == 2
        saver.delete_thread("sync-thread")
        assert saver.get_tuple(config) is None
        saver.close()

    await asyncio.to_thread(run)


async def test_another_tenant_cannot_see_a_thread_even_knowing_its_id(tooling: Tooling) -> None:
    owner, intruder = str(uuid.uuid4()), str(uuid.uuid4())
    thread = f"shared-name-{uuid.uuid4().hex[:6]}"
    config = {"configurable": {"thread_id": thread}}
    mine = saver_for(tooling, owner)
    await build_graph(mine).ainvoke({"steps": [], "decision": ""}, config)
    theirs = saver_for(tooling, intruder)
    assert await theirs.aget_tuple(config) is None
    assert [c async for c in theirs.alist(config)] == []
    assert [c async for c in theirs.alist(None)] == []
    await theirs.adelete_thread(thread)  # deletes nothing of the owner's
    assert await mine.aget_tuple(config) is not None
    named = await failure(
        tooling.checkpoints.GetCheckpoint(
            pb.GetCheckpointRequest(tenant_id=owner, thread_id=thread),
            metadata=ISSUER.member(intruder, "member"),
        )
    )
    assert named.code() == grpc.StatusCode.PERMISSION_DENIED
    await mine.aclose()
    await theirs.aclose()


async def test_bad_checkpoint_input_names_the_field(tooling: Tooling) -> None:
    tenant = str(uuid.uuid4())
    error = await failure(
        tooling.checkpoints.PutCheckpoint(
            pb.PutCheckpointRequest(
                checkpoint=pb.Checkpoint(
                    thread_id="",
                    checkpoint_id="c1",
                    checkpoint=pb.TypedValue(type="msgpack", data=b"\x80"),
                )
            ),
            metadata=ISSUER.member(tenant, "member"),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "checkpoint.thread_id" in rich_error(error).field_violations
    bad_json = await failure(
        tooling.checkpoints.PutCheckpoint(
            pb.PutCheckpointRequest(
                checkpoint=pb.Checkpoint(
                    thread_id="t",
                    checkpoint_id="c1",
                    checkpoint=pb.TypedValue(type="msgpack", data=b"\x80"),
                    metadata=b"[1, 2",
                )
            ),
            metadata=ISSUER.member(tenant, "member"),
        )
    )
    assert "checkpoint.metadata" in rich_error(bad_json).field_violations
    viewer = await failure(
        tooling.checkpoints.DeleteThread(
            pb.DeleteThreadRequest(thread_id="t"), metadata=ISSUER.member(tenant, "viewer")
        )
    )
    assert viewer.code() == grpc.StatusCode.PERMISSION_DENIED
