"""The gateway's FastAPI application: routes, error model, tracing, and the clients' lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from services.gateway.activity import routes as activity
from services.gateway.admin import routes as admin
from services.gateway.agents import routes as agents
from services.gateway.auth import routes as auth
from services.gateway.billing import routes as billing
from services.gateway.catalogue import routes as catalogue
from services.gateway.clients import GatewayClients, document_credentials
from services.gateway.config import GatewaySettings
from services.gateway.conversation_events import routes as conversation_events
from services.gateway.conversations import routes as conversations
from services.gateway.direct_routes import DirectRoutes
from services.gateway.error_handlers import UnhandledErrorMiddleware, add_exception_handlers
from services.gateway.jwks import routes as jwks
from services.gateway.limits import routes as limits
from services.gateway.members import routes as members
from services.gateway.memory import routes as memory
from services.gateway.model_configs import routes as model_configs
from services.gateway.operations import routes as operations
from services.gateway.request_log import RequestLogMiddleware, writer_for_gateway
from services.gateway.runs import routes as runs
from services.gateway.schemas import Health
from services.gateway.service_accounts import routes as service_accounts
from services.gateway.sessions import routes as sessions
from services.gateway.status_subscriptions import routes as status_subscriptions
from services.gateway.stripe import routes as stripe
from services.gateway.tenants import routes as tenants
from services.gateway.tool_calls import routes as tool_calls
from services.gateway.tool_permissions import routes as tool_permissions
from services.gateway.tools import routes as tools
from services.gateway.traces import routes as traces
from services.gateway.tracing import RequestSpanMiddleware
from services.gateway.usage import routes as usage
from services.gateway.users import routes as users

#: Where the gateway serves Swagger UI's and ReDoc's own files.
DOCS_ASSETS_URL = "/docs-assets"


def _document_credentials_in_openapi(app: FastAPI) -> None:
    """The OpenAPI document names how to authenticate on every route that calls a service."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_credentials(generate(), app.routes)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        clients = GatewayClients(settings)
        app.state.clients = clients
        request_log = writer_for_gateway(settings, clients)
        app.state.request_log = request_log
        await request_log.start()
        try:
            yield
        finally:
            await request_log.stop()
            await clients.close()

    # Swagger UI and ReDoc load their scripts and styles from files installed with the package,
    # never a CDN, so /docs and /redoc render on machines without internet access.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS_URL,
        title="Quarterdeck",
        summary="Multi-tenant control plane for AI agents.",
        version="1",
        lifespan=lifespan,
        # The request's span is RequestSpanMiddleware's; FastAPI's own telemetry would add a
        # second server span (and metrics) per request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    _document_credentials_in_openapi(app)
    app.state.trusted_proxies = settings.trusted_proxy_networks()
    add_exception_handlers(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> Health:
        """Liveness: the gateway answers; downstream services are not consulted."""
        return Health()

    app.include_router(tenants.router)
    app.include_router(members.router)
    app.include_router(model_configs.router)
    app.include_router(model_configs.onboarding)
    app.include_router(catalogue.router)
    app.include_router(catalogue.usage)
    app.include_router(billing.router)
    app.include_router(limits.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(sessions.router)
    app.include_router(service_accounts.router)
    app.include_router(admin.router)
    app.include_router(admin.security_events)
    app.include_router(jwks.router)
    app.include_router(stripe.router)
    app.include_router(traces.router)
    app.include_router(usage.router)
    app.include_router(operations.router)
    app.include_router(activity.router)
    app.include_router(status_subscriptions.router)
    app.include_router(agents.router)
    app.include_router(agents.limits)
    app.include_router(tools.router)
    app.include_router(tool_permissions.router)
    app.include_router(tool_calls.router)
    app.include_router(memory.router)
    app.include_router(conversations.router)
    app.include_router(conversations.search)
    app.include_router(runs.router)
    app.include_router(runs.conversation_runs)
    app.include_router(conversation_events.router)

    # Each add_middleware wraps the previous ones, so the span middleware, added last, is
    # outermost: the error middleware's 500s and the X-Trace-Id header happen inside the span.
    # Innermost: the simple GETs answered without FastAPI's routing and dependency solving,
    # inside the span, the request log and the 500 of an unhandled error like any route.
    app.add_middleware(DirectRoutes)
    app.add_middleware(UnhandledErrorMiddleware)
    # Inside the request's span, outside the error middleware: logs the 500 the client got.
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(RequestSpanMiddleware, trusted_sources=settings.trusted_trace_networks())
    return app
