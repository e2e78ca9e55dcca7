"""Who may export spans, over a real telemetry service on SQLite and PostgreSQL: anonymous export
is refused (unless turned on), a tenant's credential needs the ingest scope and stamps its tenant
on every span, an API key works from the stock exporter's headers (also after the signing key its cached token
was minted under retired), and spans a tenant sends into another tenant's trace neither hide it
nor take it over."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.telemetry.v1 import telemetry_pb2 as pb
from quarterdeck.telemetry.v1.telemetry_pb2_grpc import TelemetryServiceStub
from services.telemetry.service import EXPORT_METHOD
from services.telemetry.traces.ingest_auth import INGEST_SCOPE, ExportAuthenticator
from services.telemetry.traces.otlp import INGESTED_BY_TENANT
from shared.api_key_tokens import ApiKeyTokens
from shared.auth import INTERNAL_SCOPE, Principal
from shared.grpc_client import open_channel
from shared.identity_link import internal_api_key
from shared.server import RunningService
from shared.tokens import JwksCache, JwtAuthenticator, JwtVerifier, PublicKey
from tests.support.errors import rich_error
from tests.support.stack import Databases, running_service, spans_stored
from tests.support.tokens import TestIssuer

ISSUER = TestIssuer()
API_KEY = "qdk_test-key.secret-of-the-key"


def ingest_token(tenant_id: str, scopes: frozenset[str] = frozenset({INGEST_SCOPE})) -> str:
    return ISSUER.token(
        Principal(
            subject=f"sa:{uuid.uuid4()}",
            kind="service_account",
            tenant_id=tenant_id,
            role="member",
            scopes=scopes,
        )
    )


KEY_TENANT = f"key-tenant-{uuid.uuid4().hex[:8]}"


async def _exchange(api_key: str) -> ipb.ExchangeApiKeyResponse:
    """identity's ExchangeApiKey, as far as this test needs it: one known key."""
    if api_key != API_KEY:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            "the API key is not valid",
        )
    expires = Timestamp(seconds=int(time.time()) + 300)
    return ipb.ExchangeApiKeyResponse(access_token=ingest_token(KEY_TENANT), expire_time=expires)


@pytest.fixture(scope="module")
async def telemetry(backend: str, databases: Databases) -> AsyncIterator[RunningService[Any]]:
    url = await databases.url(backend, "telemetry", "ingest-auth")
    authenticator = ExportAuthenticator(
        ISSUER.authenticator(),
        ISSUER.verifier(),
        ApiKeyTokens(_exchange, max_entries=10, max_age_seconds=60),
        EXPORT_METHOD,
    )
    async with running_service("telemetry", url, authenticator=authenticator) as running:
        yield running


def tenant_attribute(tenant_id: str) -> KeyValue:
    return KeyValue(key="quarterdeck.tenant_id", value=AnyValue(string_value=tenant_id))


def make_span(trace_id: bytes, number: int, *, tenant: str | None = None, parent: int = 0) -> Span:
    start = 1_800_000_000_000_000_000 + number * 1_000_000
    return Span(
        trace_id=trace_id,
        span_id=number.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=f"step-{number}",
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1000,
        attributes=[tenant_attribute(tenant)] if tenant else [],
    )


def request_of(*spans: Span) -> ExportTraceServiceRequest:
    resource = ResourceProto(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value="agent"))]
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


async def export(
    running: RunningService[Any], request: ExportTraceServiceRequest, metadata: Any = None
) -> None:
    async with open_channel(running.target) as channel:
        await TraceServiceStub(channel).Export(request, metadata=metadata, timeout=10)
    await spans_stored(running)


async def read(running: RunningService[Any], trace_id: bytes, metadata: Any) -> list[pb.Span]:
    async with open_channel(running.target) as channel:
        reply = await TelemetryServiceStub(channel).GetTrace(
            pb.GetTraceRequest(trace_id=trace_id.hex()), metadata=metadata, timeout=10
        )
    return list(reply.spans)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def test_anonymous_export_is_refused_and_stores_nothing(
    telemetry: RunningService[Any],
) -> None:
    # Finding: with no credential, a span naming tenant A appeared as A's trace.
    victim, trace_id = str(uuid.uuid4()), uuid.uuid4().bytes
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await export(telemetry, request_of(make_span(trace_id, 1, tenant=victim)))
    error = rich_error(caught.value)
    assert (error.code, error.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "EXPORT_CREDENTIAL_REQUIRED",
    )
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await read(telemetry, trace_id, ISSUER.operator())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_tenant_credential_without_the_ingest_scope_is_refused(
    telemetry: RunningService[Any],
) -> None:
    tenant = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await export(
            telemetry,
            request_of(make_span(uuid.uuid4().bytes, 1)),
            bearer(ingest_token(tenant, frozenset())),
        )
    assert rich_error(caught.value).reason == "INGEST_SCOPE_REQUIRED"
    with pytest.raises(grpc.aio.AioRpcError) as user:
        await export(telemetry, request_of(make_span(uuid.uuid4().bytes, 1)), ISSUER.member(tenant))
    assert user.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_tenants_spans_are_stamped_with_its_tenant_whatever_they_claim(
    telemetry: RunningService[Any],
) -> None:
    sender, claimed, trace_id = str(uuid.uuid4()), str(uuid.uuid4()), uuid.uuid4().bytes
    await export(
        telemetry,
        request_of(make_span(trace_id, 1, tenant=claimed), make_span(trace_id, 2, parent=1)),
        bearer(ingest_token(sender)),
    )
    spans = await read(telemetry, trace_id, ISSUER.operator())
    assert {span.tenant_id for span in spans} == {sender}
    assert all(span.attributes[INGESTED_BY_TENANT] == sender for span in spans)
    assert len(await read(telemetry, trace_id, ISSUER.member(sender, "viewer"))) == 2
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await read(telemetry, trace_id, ISSUER.member(claimed, "viewer"))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


async def test_spans_sent_into_another_tenants_trace_neither_hide_nor_take_it(
    telemetry: RunningService[Any],
) -> None:
    owner, intruder, trace_id = str(uuid.uuid4()), str(uuid.uuid4()), uuid.uuid4().bytes
    # The platform's spans of the owner's request: a root naming the owner, an untagged child.
    await export(
        telemetry,
        request_of(make_span(trace_id, 10, tenant=owner), make_span(trace_id, 11, parent=10)),
        ISSUER.internal("gateway"),
    )
    # The intruder's own export into that trace id, starting earlier, with a forged parent.
    await export(
        telemetry,
        request_of(make_span(trace_id, 1, tenant=owner), make_span(trace_id, 2, parent=10)),
        bearer(ingest_token(intruder)),
    )
    owner_view = await read(telemetry, trace_id, ISSUER.member(owner, "viewer"))
    assert [span.span_id for span in owner_view] == [f"{10:016x}", f"{11:016x}"]
    intruder_view = await read(telemetry, trace_id, ISSUER.member(intruder, "viewer"))
    assert sorted(span.span_id for span in intruder_view) == [f"{1:016x}", f"{2:016x}"]


async def test_an_api_key_in_the_stock_exporters_headers_exports_for_its_tenant(
    telemetry: RunningService[Any],
) -> None:
    def record() -> str:
        provider = TracerProvider(resource=Resource({"service.name": "stock-agent"}))
        exporter = OTLPSpanExporter(
            endpoint=telemetry.target,
            insecure=True,
            headers={"authorization": f"Bearer {API_KEY}"},  # OTEL_EXPORTER_OTLP_HEADERS
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        try:
            with provider.get_tracer("t").start_as_current_span("agent.run") as span:
                span.set_attribute("quarterdeck.tenant_id", "someone-else")
                return f"{span.get_span_context().trace_id:032x}"
        finally:
            provider.shutdown()

    trace_id = bytes.fromhex(await asyncio.to_thread(record))
    await spans_stored(telemetry)
    (span,) = await read(telemetry, trace_id, ISSUER.member(KEY_TENANT, "viewer"))
    assert span.tenant_id == KEY_TENANT and span.service_name == "stock-agent"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await export(
            telemetry, request_of(make_span(uuid.uuid4().bytes, 1)), bearer("qdk_wrong.key")
        )
    assert rich_error(refused.value).reason == "API_KEY_INVALID"


async def test_anonymous_export_works_where_the_operator_turned_it_on(
    backend: str, databases: Databases
) -> None:
    url = await databases.url(backend, "telemetry", "ingest-auth")
    trace_id, tenant = uuid.uuid4().bytes, str(uuid.uuid4())
    async with running_service(
        "telemetry", url, authenticator=ISSUER.authenticator(), otlp_unauthenticated_export=True
    ) as trusting:
        await export(trusting, request_of(make_span(trace_id, 1, tenant=tenant)))
        (span,) = await read(trusting, trace_id, ISSUER.member(tenant, "viewer"))
    assert span.tenant_id == tenant


async def test_a_process_exports_with_its_internal_key_after_the_signing_key_retires(
    backend: str, databases: Databases
) -> None:
    # Finding (e2e, telemetry's log): after a signing-key rotation whose overlap (6 s) was shorter
    # than the receiver's reuse of exchanged tokens (60 s), every process's Export was refused:
    # "UNAUTHENTICATED ... the access token was signed by an unknown or retired key", and the
    # OTel exporter drops a batch refused so, rather than retrying it; a trace was lost.
    old, new = TestIssuer(), TestIssuer()
    published: list[PublicKey] = [old.public_key()]
    signing = [old]
    exchanged: list[str] = []
    key = internal_api_key("gateway", "the-gateways-secret")
    gateway = Principal(
        subject="service:gateway", kind="service", scopes=frozenset({INTERNAL_SCOPE})
    )

    async def exchange(api_key: str) -> ipb.ExchangeApiKeyResponse:
        """identity: the internal key, exchanged for a token signed by whichever key is active."""
        if api_key != key:
            return await _exchange(api_key)  # refuses every key but the tenant's API_KEY
        exchanged.append(signing[0].kid)
        expires = Timestamp(seconds=int(time.time()) + 900)
        return ipb.ExchangeApiKeyResponse(
            access_token=signing[0].token(gateway, ttl_seconds=900), expire_time=expires
        )

    async def jwks() -> list[PublicKey]:
        return list(published)

    # Every check reads the JWKS as published now (the e2e platform caches it for a second).
    verifier = JwtVerifier(JwksCache(jwks, max_age_seconds=0))
    authenticator = ExportAuthenticator(
        JwtAuthenticator(verifier),
        verifier,
        ApiKeyTokens(exchange, max_entries=10, max_age_seconds=60),
        EXPORT_METHOD,
    )
    url = await databases.url(backend, "telemetry", "ingest-auth")
    tenant = str(uuid.uuid4())
    before, after, later = uuid.uuid4().bytes, uuid.uuid4().bytes, uuid.uuid4().bytes
    async with running_service("telemetry", url, authenticator=authenticator) as running:
        await export(running, request_of(make_span(before, 1, tenant=tenant)), bearer(key))
        assert exchanged == [old.kid]

        # Rotation, and the old key retired at once: the cached token no longer verifies.
        signing[0] = new
        published[:] = [old.public_key(retire_at=0.0), new.public_key()]
        await export(running, request_of(make_span(after, 1, tenant=tenant)), bearer(key))
        assert exchanged == [old.kid, new.kid]
        # The fresh token is cached in turn: no exchange per export.
        await export(running, request_of(make_span(later, 1, tenant=tenant)), bearer(key))
        assert exchanged == [old.kid, new.kid]

        for trace_id in (before, after, later):
            (span,) = await read(running, trace_id, new.operator())
            assert span.tenant_id == tenant

        # A key identity refuses is still refused, however it was cached before.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await export(running, request_of(make_span(uuid.uuid4().bytes, 1)), bearer("qdi_x_y"))
        assert rich_error(refused.value).reason == "API_KEY_INVALID"
