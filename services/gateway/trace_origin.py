"""Where a request's trace starts: at the gateway, unless the caller is one the deployment trusts.

A ``traceparent`` from an outside caller would make the request's spans part of whatever trace
it names, someone else's included. So the trace context of a request that does not come straight
from one of the ``trusted_trace_sources`` is not adopted: the gateway starts a new trace, and the
caller's span context is kept as a link on the gateway's span (and as attributes, which the
telemetry store keeps), so a client's own tracing still joins up with the platform's.
:class:`services.gateway.tracing.RequestSpanMiddleware` applies this to every request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Scope

from services.gateway.config import IpNetwork

CALLER_TRACE_ID_ATTRIBUTE = "quarterdeck.caller.trace_id"
CALLER_SPAN_ID_ATTRIBUTE = "quarterdeck.caller.span_id"
_PROPAGATOR = TraceContextTextMapPropagator()


def trusted_source(scope: Scope, networks: Sequence[IpNetwork]) -> bool:
    """Whether the request comes straight from an address in ``networks``."""
    client = scope.get("client")
    if not networks or not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    return any(address in network for network in networks)


def caller_link(trace_headers: Mapping[str, str]) -> Link | None:
    """A link to the span an untrusted caller's ``traceparent`` names, with its ids as
    attributes; None when it names none validly."""
    carrier = {
        name: trace_headers[name] for name in ("traceparent", "tracestate") if name in trace_headers
    }
    caller = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    if not caller.is_valid:
        return None
    return Link(
        caller,
        {
            CALLER_TRACE_ID_ATTRIBUTE: trace.format_trace_id(caller.trace_id),
            CALLER_SPAN_ID_ATTRIBUTE: trace.format_span_id(caller.span_id),
        },
    )
