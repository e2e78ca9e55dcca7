"""Run as a separate process: export a small trace to an OTLP/gRPC endpoint with the stock
OpenTelemetry SDK and exporter, exactly as any agent would, and print its ids as JSON.

Usage: ``python -m tests.e2e.export_spans <host:port> <service.name>``
"""

from __future__ import annotations

import json
import sys

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def main(endpoint: str, service_name: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://{endpoint}", insecure=True))
    )
    tracer = provider.get_tracer("quarterdeck-e2e-agent")
    ids: dict[str, str] = {}
    with tracer.start_as_current_span("agent.run", kind=SpanKind.SERVER) as run:
        run.set_attribute("agent.id", "agent-e2e")
        with tracer.start_as_current_span("llm.call", kind=SpanKind.CLIENT) as llm:
            llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            with tracer.start_as_current_span("tool.search") as tool:
                tool.add_event("tool.result", {"hits": 3})
                tool.set_status(Status(StatusCode.ERROR, "search backend timed out"))
                ids["tool"] = f"{tool.get_span_context().span_id:016x}"
            ids["llm"] = f"{llm.get_span_context().span_id:016x}"
        ids["run"] = f"{run.get_span_context().span_id:016x}"
        ids["trace"] = f"{run.get_span_context().trace_id:032x}"
    # Shutdown flushes the batch processor: the spans are at the receiver when this returns.
    provider.shutdown()
    print(json.dumps(ids))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
