"""FastAPI glue for the error model: every failure leaves the gateway as the one JSON error body."""

from __future__ import annotations

import logging

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import (
    http_error_body,
    internal_error_body,
    retry_after_seconds,
    rpc_error_body,
    validation_error_body,
)

log = logging.getLogger("quarterdeck.gateway.errors")


async def _on_rpc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    http_status, body = rpc_error_body(exc)
    if http_status >= 500:
        # The client gets a generic message; the operator gets what the transport said.
        log.warning(
            "%s %s: service call failed with %s: %s",
            request.method,
            request.url.path,
            exc.code().name,
            exc.details(),
        )
    retry_after = retry_after_seconds(exc) if http_status == 429 else None
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(body, status_code=http_status, headers=headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    http_status, body = validation_error_body(exc.errors())
    return JSONResponse(body, status_code=http_status)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        http_error_body(exc.status_code, str(exc.detail)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(grpc.aio.AioRpcError, _on_rpc_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)


class UnhandledErrorMiddleware:
    """Turns any other exception into a logged 500 with a generic body.

    Starlette's own handler for ``Exception`` re-raises after responding, which makes the server
    log the error a second time; this middleware answers and stops there instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if response_started:  # too late to answer: let the server close the connection
                raise
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            http_status, body = internal_error_body()
            await JSONResponse(body, status_code=http_status)(scope, receive, send)
