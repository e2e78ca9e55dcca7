"""Which spans of a trace a tenant reads: its own, and the platform's spans under them.

A trace belongs to the tenant the platform started it for: the tenant named by its earliest
platform span that names one (spans a tenant exported itself never decide it). A tenant reads
the spans that name it, and every span naming no tenant whose nearest ancestor naming one names
it, or, with no such ancestor, when the trace is its own. Another tenant's spans are left out of
the answer; they never make a trace unreadable to its owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from services.telemetry.traces.otlp import INGESTED_BY_TENANT


class SpanLike(Protocol):
    @property
    def span_id(self) -> str: ...
    @property
    def parent_span_id(self) -> str | None: ...
    @property
    def tenant_id(self) -> str | None: ...
    @property
    def start_time_unix_nano(self) -> int: ...
    @property
    def attributes(self) -> dict[str, object]: ...


S = TypeVar("S", bound=SpanLike)


def trace_owner(spans: Sequence[SpanLike]) -> str | None:
    """The tenant the platform started this trace for, if any span of the platform names one."""
    platform_tagged = [
        span for span in spans if span.tenant_id and INGESTED_BY_TENANT not in span.attributes
    ]
    if not platform_tagged:
        return None
    first = min(platform_tagged, key=lambda span: (span.start_time_unix_nano, span.span_id))
    return first.tenant_id


def visible_spans(spans: Sequence[S], tenant_id: str) -> list[S]:
    """The spans of one trace ``tenant_id`` may read (empty: the trace is not theirs at all)."""
    by_id = {span.span_id: span for span in spans}
    owner = trace_owner(spans)
    inherited: dict[str, str | None] = {}

    def tenant_above(span: S) -> str | None:
        """The tenant of the nearest ancestor naming one, else the trace's owner."""
        chain: list[str] = []
        current: S | None = span
        found: str | None = owner
        while current is not None:
            if current.tenant_id:
                found = current.tenant_id
                break
            if current.span_id in inherited:
                found = inherited[current.span_id]
                break
            if current.span_id in chain:  # a parent cycle: nothing above names a tenant
                break
            chain.append(current.span_id)
            parent = current.parent_span_id
            current = by_id.get(parent) if parent else None
        for span_id in chain:
            inherited[span_id] = found
        return found

    return [span for span in spans if (span.tenant_id or tenant_above(span)) == tenant_id]
