"""``quarterdeck serve gateway``: run the HTTP gateway until SIGTERM or SIGINT, then drain."""

from __future__ import annotations

import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.gateway.http_protocol import CoalescingHttpToolsProtocol
from shared.config import load_settings
from shared.event_loop import freeze_start_up_objects, preferred_event_loop
from shared.identity_link import internal_api_key
from shared.tracing import configure_logging, configure_tracing, shutdown_tracing

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _stop_signals_handled_by(server: uvicorn.Server) -> Iterator[None]:
    """Route SIGTERM and SIGINT to the server for as long as it runs, and once more after it.

    uvicorn drains on these signals, then raises the signal again to the handler it found
    installed; with the default one there, the process would die before its spans are flushed.
    With the server's own handler there instead, ``run()`` returns, the spans are flushed and the
    process exits normally, as the gRPC services do. It also covers a signal that arrives before
    uvicorn installs its handlers: the server then stops as soon as it has started.
    """
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_gateway() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging(settings.log_level)
    secret = settings.internal_secret
    configure_tracing(
        "gateway", internal_api_key("gateway", secret.get_secret_value()) if secret else None
    )
    try:
        app = create_app(settings)
        freeze_start_up_objects()  # the app, its routes and their schemas
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_config=None,  # keep configure_logging's handler, which adds trace ids
                log_level=settings.log_level.lower(),
                # A line per request only at DEBUG, as the services log their calls: every
                # request is already in telemetry's request log and has its span.
                access_log=settings.log_level == "DEBUG",
                # The client's address is the gateway's to derive, from trusted_proxies only
                # (services/gateway/device.py); uvicorn's own X-Forwarded-* handling would
                # trust 127.0.0.1 whatever the settings say, and costs a layer per request.
                proxy_headers=False,
                # The C parser (with a response's writes sent as one) and loop: h11 and
                # asyncio's loop cost several times the CPU.
                http=CoalescingHttpToolsProtocol,
                loop=preferred_event_loop(),
                # A request waits on one call's deadline at a time, so in-flight requests finish
                # within about that long; past it, shutdown stops waiting for them.
                timeout_graceful_shutdown=math.ceil(settings.request_timeout_seconds) + 1,
            )
        )
        with _stop_signals_handled_by(server):
            server.run()
    finally:
        shutdown_tracing()
