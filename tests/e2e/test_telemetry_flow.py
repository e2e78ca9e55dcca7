"""Telemetry end to end: spans exported by the stock OTLP exporter from another process come back
as a tree, and a usage row recorded during a gateway request joins a stored span of that request."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import grpc
import pytest

from quarterdeck.telemetry.v1 import telemetry_pb2
from quarterdeck.telemetry.v1.telemetry_pb2_grpc import TelemetryServiceStub
from tests.e2e.conftest import Platform, bearer, platform_env

pytestmark = pytest.mark.e2e


def read_trace(
    platform: Platform, token: str, trace_id: str, expected_spans: int
) -> list[telemetry_pb2.Span]:
    """The trace's spans once ``expected_spans`` of them are stored (exports are asynchronous)."""
    spans: list[telemetry_pb2.Span] = []
    with grpc.insecure_channel(platform.target("telemetry")) as channel:
        stub = TelemetryServiceStub(channel)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                spans = list(
                    stub.GetTrace(
                        telemetry_pb2.GetTraceRequest(trace_id=trace_id), metadata=bearer(token)
                    ).spans
                )
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND, error
            if len(spans) >= expected_spans:
                return spans
            time.sleep(0.3)
    return spans


def test_spans_from_the_stock_exporter_in_another_process_read_back_as_a_tree(
    platform: Platform, operator_token: str
) -> None:
    exported = subprocess.run(
        [sys.executable, "-m", "tests.e2e.export_spans", platform.target("telemetry"), "e2e-agent"],
        env=platform_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exported.returncode == 0, exported.stderr
    ids = json.loads(exported.stdout.strip().splitlines()[-1])

    spans = read_trace(platform, operator_token, ids["trace"], expected_spans=3)
    by_id = {span.span_id: span for span in spans}
    assert set(by_id) == {ids["run"], ids["llm"], ids["tool"]}
    # The tree: run is the root, llm its child, tool the grandchild; parents come first.
    assert by_id[ids["run"]].parent_span_id == ""
    assert by_id[ids["llm"]].parent_span_id == ids["run"]
    assert by_id[ids["tool"]].parent_span_id == ids["llm"]
    order = [span.span_id for span in spans]
    assert order.index(ids["run"]) < order.index(ids["llm"]) < order.index(ids["tool"])
    assert {span.service_name for span in spans} == {"e2e-agent"}
    assert by_id[ids["run"]].kind == telemetry_pb2.SPAN_KIND_SERVER
    assert by_id[ids["tool"]].status_code == telemetry_pb2.SPAN_STATUS_CODE_ERROR
    assert by_id[ids["tool"]].status_message == "search backend timed out"
    assert by_id[ids["llm"]].attributes["gen_ai.request.model"] == "gpt-4o-mini"
