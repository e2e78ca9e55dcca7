"""The gateway's channels and stubs: opened once at start-up, closed once at shutdown.

A request reaches them through :func:`clients_of`, which binds the caller's credentials to every
call: the gateway verifies nothing itself, it hands the ``Authorization`` header on unchanged and
the services decide. The one exception is an API key (``Authorization: Bearer qdk_...`` or
``X-API-Key: qdk_...``), which no service accepts as such: the gateway exchanges it at identity
for an access token (see :mod:`shared.api_key_tokens`) and sends that instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from contextvars import ContextVar
from functools import cached_property
from typing import Any, TypeVar, cast

import grpc
from fastapi import HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi.security.base import SecurityBase
from starlette.routing import BaseRoute

from quarterdeck.conversation.v1.conversations_pb2_grpc import ConversationServiceStub
from quarterdeck.conversation.v1.events_pb2_grpc import EventServiceStub
from quarterdeck.conversation.v1.messages_pb2_grpc import MessageServiceStub
from quarterdeck.conversation.v1.runs_pb2_grpc import RunServiceStub
from quarterdeck.conversation.v1.stream_tickets_pb2_grpc import StreamTicketServiceStub
from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.telemetry.v1.activity_pb2_grpc import ActivityServiceStub
from quarterdeck.telemetry.v1.metrics_pb2_grpc import AgentMetricsServiceStub
from quarterdeck.telemetry.v1.requests_pb2_grpc import RequestLogServiceStub
from quarterdeck.telemetry.v1.status_pb2_grpc import StatusSubscriptionServiceStub
from quarterdeck.telemetry.v1.telemetry_pb2_grpc import TelemetryServiceStub
from quarterdeck.telemetry.v1.tool_usage_pb2_grpc import ToolUsageServiceStub
from quarterdeck.telemetry.v1.usage_pb2_grpc import UsageServiceStub
from quarterdeck.tenancy.v1.billing_pb2_grpc import BillingServiceStub
from quarterdeck.tenancy.v1.limits_pb2_grpc import LimitsServiceStub
from quarterdeck.tenancy.v1.model_configs_pb2_grpc import TenantModelConfigServiceStub
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from quarterdeck.tenancy.v1.stripe_pb2_grpc import StripeInboxServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from quarterdeck.tooling.v1.agents_pb2_grpc import AgentServiceStub
from quarterdeck.tooling.v1.executions_pb2_grpc import ExecutionServiceStub
from quarterdeck.tooling.v1.memory_pb2_grpc import MemoryServiceStub
from quarterdeck.tooling.v1.permissions_pb2_grpc import PermissionServiceStub
from quarterdeck.tooling.v1.tools_pb2_grpc import ToolServiceStub
from services.gateway.config import GatewaySettings
from services.gateway.device import client_address_of
from shared.api_key_tokens import API_KEY_PREFIX, ApiKeyTokens
from shared.auth import AUTHORIZATION_HEADER, CLIENT_ADDRESS_METADATA
from shared.errors import DomainError, Unauthenticated
from shared.grpc_client import open_channel
from shared.identity_link import public_key_from_proto
from shared.tokens import JwksCache, JwtVerifier, PublicKey, bearer_token

Metadata = tuple[tuple[str, str], ...]
StubT = TypeVar("StubT")

#: What gRPC accepts as an ASCII metadata value. grpc-core refuses anything else when the call
#: starts, and through an intercepted channel such a call never completes: it must not be sent.
_METADATA_VALUE = re.compile(r"[\x20-\x7e]*")
#: Far above any token identity issues, well below the 8 KiB a gRPC server takes as metadata
#: (beyond that the call fails with RESOURCE_EXHAUSTED, which would read as "retry later").
MAX_AUTHORIZATION_LENGTH = 4096
API_KEY_HEADER = "x-api-key"
_BEARER_PREFIX = "bearer "


class GatewayClients:
    """One traced channel per downstream service and the stubs over it.

    A new service slots in as one more attribute built with :meth:`_channel`, which also makes
    sure :meth:`close` releases it, and as one more line in :class:`CallerClients`.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self.timeout = settings.request_timeout_seconds
        self._channels: list[grpc.aio.Channel] = []
        self.identity = IdentityServiceStub(self._channel(settings.identity_target))
        tenancy = self._channel(settings.tenancy_target)
        self.tenancy = TenancyServiceStub(tenancy)
        self.catalogue = ModelCatalogServiceStub(tenancy)
        self.model_configs = TenantModelConfigServiceStub(tenancy)
        #: Called without a caller's credentials (by the Stripe webhook), so bound here.
        self.stripe = _bound(StripeInboxServiceStub(tenancy), timeout=self.timeout)
        self.billing = BillingServiceStub(tenancy)
        self.limits = LimitsServiceStub(tenancy)
        telemetry = self._channel(settings.telemetry_target)
        self.traces = TelemetryServiceStub(telemetry)
        self.usage = UsageServiceStub(telemetry)
        self.metrics = AgentMetricsServiceStub(telemetry)
        self.request_log = RequestLogServiceStub(telemetry)
        self.tool_usage = ToolUsageServiceStub(telemetry)
        self.activity = ActivityServiceStub(telemetry)
        self.status_subscriptions = StatusSubscriptionServiceStub(telemetry)
        tooling = self._channel(settings.tooling_target)
        self.agents = AgentServiceStub(tooling)
        self.tools = ToolServiceStub(tooling)
        self.permissions = PermissionServiceStub(tooling)
        self.executions = ExecutionServiceStub(tooling)
        self.memory = MemoryServiceStub(tooling)
        #: Only names the caller's own tenant where an RPC's empty tenant_id would mean a global
        #: resource (see :meth:`CallerClients.own_tenant`); the services verify every call.
        self.tokens = JwtVerifier(
            JwksCache(self._fetch_jwks, max_age_seconds=settings.identity_jwks_cache_seconds)
        )
        conversation = self._channel(settings.conversation_target)
        self.conversations = ConversationServiceStub(conversation)
        self.messages = MessageServiceStub(conversation)
        self.runs = RunServiceStub(conversation)
        self.events = EventServiceStub(conversation)
        self.stream_tickets = StreamTicketServiceStub(conversation)
        self.api_keys = ApiKeyTokens(
            self._exchange_api_key,
            max_entries=settings.api_key_cache_size,
            max_age_seconds=settings.api_key_cache_seconds,
        )

    async def _exchange_api_key(self, api_key: str) -> ipb.ExchangeApiKeyResponse:
        reply: ipb.ExchangeApiKeyResponse = await self.identity.ExchangeApiKey(
            ipb.ExchangeApiKeyRequest(api_key=api_key),
            metadata=_client_metadata.get(),
            timeout=self.timeout,
        )
        return reply

    async def _fetch_jwks(self) -> list[PublicKey]:
        reply = await self.identity.GetJwks(ipb.GetJwksRequest(), timeout=self.timeout)
        return [public_key_from_proto(key) for key in reply.keys]

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = open_channel(target)
        self._channels.append(channel)
        return channel

    async def close(self, grace: float | None = None) -> None:
        channels, self._channels = self._channels, []
        for channel in channels:
            await channel.close(grace)


class _BoundCalls:
    """A stub whose every method is called with ``options`` (metadata, timeout); a call may
    still pass its own."""

    def __init__(self, stub: object, **options: Any) -> None:
        self._stub = stub
        self._options = options

    def __getattr__(self, method: str) -> Any:
        return functools.partial(getattr(self._stub, method), **self._options)


def _bound(stub: StubT, **options: Any) -> StubT:
    return cast(StubT, _BoundCalls(stub, **options))


#: The client the current request comes from, as metadata: the API key exchange a request sets
#: off names it too (identity throttles exchanges per client address).
_client_metadata: ContextVar[Metadata] = ContextVar("gateway_client_metadata", default=())


class CallerClients:
    """The gateway's stubs as one request uses them: every call carries that request's metadata
    and the gateway's timeout (``request_timeout_seconds``), so no route passes either.

    Each stub is bound on first use: a request uses one or two of the 24. (Python calls per
    request fell 16% with this and the security change below; the gateway's CPU per request
    showed no difference beyond noise in alternating runs.)"""

    def __init__(self, clients: GatewayClients, metadata: Metadata) -> None:
        self.timeout = clients.timeout
        self.metadata = metadata
        self.api_keys = clients.api_keys
        self._clients = clients
        self._tokens = clients.tokens

    def _with_metadata(self, stub: StubT) -> StubT:
        return _bound(stub, metadata=self.metadata, timeout=self.timeout)

    @cached_property
    def identity(self) -> IdentityServiceStub:
        return self._with_metadata(self._clients.identity)

    @cached_property
    def tenancy(self) -> TenancyServiceStub:
        return self._with_metadata(self._clients.tenancy)

    @cached_property
    def catalogue(self) -> ModelCatalogServiceStub:
        return self._with_metadata(self._clients.catalogue)

    @cached_property
    def model_configs(self) -> TenantModelConfigServiceStub:
        return self._with_metadata(self._clients.model_configs)

    @cached_property
    def billing(self) -> BillingServiceStub:
        return self._with_metadata(self._clients.billing)

    @cached_property
    def limits(self) -> LimitsServiceStub:
        return self._with_metadata(self._clients.limits)

    @cached_property
    def traces(self) -> TelemetryServiceStub:
        return self._with_metadata(self._clients.traces)

    @cached_property
    def usage(self) -> UsageServiceStub:
        return self._with_metadata(self._clients.usage)

    @cached_property
    def metrics(self) -> AgentMetricsServiceStub:
        return self._with_metadata(self._clients.metrics)

    @cached_property
    def request_log(self) -> RequestLogServiceStub:
        return self._with_metadata(self._clients.request_log)

    @cached_property
    def tool_usage(self) -> ToolUsageServiceStub:
        return self._with_metadata(self._clients.tool_usage)

    @cached_property
    def activity(self) -> ActivityServiceStub:
        return self._with_metadata(self._clients.activity)

    @cached_property
    def status_subscriptions(self) -> StatusSubscriptionServiceStub:
        return self._with_metadata(self._clients.status_subscriptions)

    @cached_property
    def agents(self) -> AgentServiceStub:
        return self._with_metadata(self._clients.agents)

    @cached_property
    def tools(self) -> ToolServiceStub:
        return self._with_metadata(self._clients.tools)

    @cached_property
    def permissions(self) -> PermissionServiceStub:
        return self._with_metadata(self._clients.permissions)

    @cached_property
    def executions(self) -> ExecutionServiceStub:
        return self._with_metadata(self._clients.executions)

    @cached_property
    def memory(self) -> MemoryServiceStub:
        return self._with_metadata(self._clients.memory)

    @cached_property
    def conversations(self) -> ConversationServiceStub:
        return self._with_metadata(self._clients.conversations)

    @cached_property
    def messages(self) -> MessageServiceStub:
        return self._with_metadata(self._clients.messages)

    @cached_property
    def runs(self) -> RunServiceStub:
        return self._with_metadata(self._clients.runs)

    @cached_property
    def events(self) -> EventServiceStub:
        return self._with_metadata(self._clients.events)

    @cached_property
    def stream_tickets(self) -> StreamTicketServiceStub:
        return self._with_metadata(self._clients.stream_tickets)

    @cached_property
    def event_stream(self) -> EventServiceStub:
        """The one stub without the request timeout: a follow (FollowEvents) lasts as long as
        its client stays; the SSE route ends it when the client goes."""
        return _bound(self._clients.events, metadata=self.metadata)

    async def own_tenant(self) -> str:
        """The tenant of the caller's access token, verified with identity's keys; empty for a
        platform operator or a Quarterdeck service (who act globally when they name no tenant)
        and for a token that does not verify, which the service then refuses itself. When
        identity's keys cannot be fetched the call fails as that fetch did (503), rather than
        guessing.

        Routes need it only where an RPC reads an empty tenant_id as "a global resource"
        (changing agents and tool configurations): there the gateway's rule, "tenant_id
        defaults to your token's tenant", names that tenant, and operators still reach the
        global rows by leaving tenant_id out. It decides nothing: the service checks the call.
        """
        try:
            token = bearer_token(self.metadata)
            if token is None:
                return ""
            principal = await self._tokens.verify(token)
        except DomainError:  # malformed, expired, or signed by no key identity serves
            return ""
        if principal.is_operator or principal.is_internal:
            return ""  # as tenant_for_read has it: with no tenant named, operators act globally
        return principal.tenant_id or ""


def _one_header(request: Request, name: str, refusal: str) -> str | None:
    """The value of header ``name``, None when absent; refused (401) when gRPC could not carry
    it: sent several times, with characters beyond printable ASCII, or outsized."""
    values = request.headers.getlist(name)
    if not values:
        return None
    value = values[0]
    if (
        len(values) > 1
        or len(value) > MAX_AUTHORIZATION_LENGTH
        or not _METADATA_VALUE.fullmatch(value)
    ):
        raise HTTPException(401, refusal)
    return value


def _api_key_in(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key the caller authenticates with, if it is one."""
    if x_api_key is not None:
        if authorization is not None:
            raise HTTPException(
                401, "send either an Authorization or an X-API-Key header, not both"
            )
        if not x_api_key.startswith(API_KEY_PREFIX):
            raise HTTPException(
                401, f"the X-API-Key header must be an API key ({API_KEY_PREFIX}...)"
            )
        return x_api_key
    if authorization is not None and authorization[: len(_BEARER_PREFIX)].lower() == _BEARER_PREFIX:
        token = authorization[len(_BEARER_PREFIX) :].strip()
        if token.startswith(API_KEY_PREFIX):
            return token
    return None


async def outgoing_metadata(request: Request, clients: GatewayClients) -> Metadata:
    """The metadata of every gRPC call made for ``request``: the caller's credentials, and the
    client's address (from trusted proxy headers only), which identity throttles by.

    ``Authorization`` goes on unchanged as ``authorization``, for the service to verify; a
    request without one is sent without, and the service answers UNAUTHENTICATED where it needs
    a caller. An API key, as ``Authorization: Bearer qdk_...`` or ``X-API-Key: qdk_...``, goes
    on as the access token identity exchanges it for; a key identity refuses fails the request
    with identity's answer (401). A header gRPC could not carry (several of them, characters
    beyond printable ASCII, or an outsized one) is refused here with 401, as the service would
    refuse a malformed one.
    """
    client = (CLIENT_ADDRESS_METADATA, client_address_of(request))
    _client_metadata.set((client,))
    authorization = _one_header(
        request, AUTHORIZATION_HEADER, "the Authorization header must be one 'Bearer <token>'"
    )
    x_api_key = _one_header(request, API_KEY_HEADER, "the X-API-Key header must be one API key")
    api_key = _api_key_in(authorization, x_api_key)
    if api_key is not None:
        access_token = await _verified_exchange(clients, api_key)
        return ((AUTHORIZATION_HEADER, f"Bearer {access_token}"), client)
    if authorization is None:
        return (client,)
    return ((AUTHORIZATION_HEADER, authorization), client)


async def _verified_exchange(clients: GatewayClients, api_key: str) -> str:
    """The access token ``api_key`` is exchanged for, reused while it still verifies.

    A token exchanged before a signing-key rotation stops verifying once the old key retires,
    which can be sooner than the reuse window (``api_key_cache_seconds``): such a token is
    forgotten and the key exchanged afresh, once. A token that fails for another reason (or
    whose keys cannot be fetched) goes on as it is, for the service to answer.
    """
    access_token = await clients.api_keys.access_token(api_key)
    try:
        await clients.tokens.verify(access_token)
    except Unauthenticated:
        clients.api_keys.forget_token(api_key, access_token)
        return await clients.api_keys.access_token(api_key)
    except DomainError:
        pass  # identity's keys out of reach: the service verifies and answers itself
    return access_token


#: Both ways to authenticate, as the OpenAPI document names them on every route that calls a
#: service (:func:`document_credentials`). They are not FastAPI security dependencies, which
#: would resolve two more dependencies on every request to read headers that
#: :func:`outgoing_metadata` reads anyway (a cProfile estimate put that at a fifth of the
#: gateway's CPU; alternating runs could not confirm a difference).
_BEARER_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An access token from sign-in, or a service-account API key (qdk_...).",
)
_API_KEY_SCHEME = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="A service-account API key (qdk_...).",
)
_CREDENTIAL_SCHEMES: tuple[SecurityBase, ...] = (_BEARER_SCHEME, _API_KEY_SCHEME)
#: The keys of an operation's metadata, which come before its ``security`` in FastAPI's document.
_OPERATION_METADATA = frozenset({"tags", "summary", "description", "operationId", "deprecated"})


async def clients_of(request: Request) -> CallerClients:
    """FastAPI dependency: the clients the app's lifespan opened, bound to this caller."""
    clients: GatewayClients = request.app.state.clients
    return CallerClients(clients, await outgoing_metadata(request, clients))


def _calls_services(dependant: Dependant) -> bool:
    return any(sub.call is clients_of or _calls_services(sub) for sub in dependant.dependencies)


def document_credentials(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Name both ways to authenticate in ``schema`` (an OpenAPI document, changed in place) on
    every operation whose route depends on :func:`clients_of`, as FastAPI writes a security
    dependency: ``security`` after the operation's metadata, the schemes in
    ``components.securitySchemes``."""
    security: list[dict[str, list[str]]] = [
        {scheme.scheme_name: []} for scheme in _CREDENTIAL_SCHEMES
    ]
    documented = False
    for route in iter_route_contexts(routes):  # as FastAPI's get_openapi walks them
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        if not _calls_services(route.dependant):
            continue
        operations = schema.get("paths", {}).get(route.path_format or "", {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            # Where FastAPI's document has it: before the parameters, else last.
            reordered = {key: value for key, value in operation.items() if key != "parameters"}
            reordered["security"] = [dict(entry) for entry in security]
            if "parameters" in operation:
                reordered = {
                    **{k: v for k, v in operation.items() if k in _OPERATION_METADATA},
                    "security": reordered["security"],
                    **{k: v for k, v in operation.items() if k not in _OPERATION_METADATA},
                }
            operation.clear()
            operation.update(reordered)
            documented = True
    if documented:
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        for scheme in _CREDENTIAL_SCHEMES:
            schemes[scheme.scheme_name] = jsonable_encoder(
                scheme.model, by_alias=True, exclude_none=True
            )
