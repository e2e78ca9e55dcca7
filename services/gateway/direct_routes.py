"""GETs that need nothing of FastAPI's per-request machinery, answered as FastAPI would answer them.

Most of the API's reads are one service call: ``GET /v1/tenants/{tenant_id}`` takes the caller's
clients (:func:`~services.gateway.clients.clients_of`), a path parameter or a few query
parameters, and returns a ProtoModel. Through FastAPI each such request also passed six more ASGI
layers (exception middleware, exit stacks, the router and its included routers, the route's
request-response wrapper), and dependency solving with its caches and scopes: about a fifth of
the gateway's CPU per request.

:class:`DirectRoutes` (the innermost of the gateway's middleware: inside the request's span, its
log entry and the unhandled-error answer) answers such a GET itself. Which routes qualify is read
once from each route's own dependant, the one FastAPI built from the endpoint's signature, so
every route written the usual way qualifies and nothing is declared twice: a GET whose only
dependency is the caller's clients, whose parameters are path, query or header parameters, with
no body and no ``Request``/``Response`` parameter, and whose answer is its response model as JSON.
The answer is FastAPI's own: the same route wins (routing follows the app's order, and any GET
route that does not qualify, mount or other route type that would match first sends the request
on to FastAPI), parameters are validated by FastAPI's ``request_params_to_args`` (the same 400s),
the result goes through the route's response field (validated, then dumped as JSON, as FastAPI's
``serialize_response`` does), and a failure is answered by the app's exception handlers, as
Starlette's exception middleware would. ``scope["route"]`` and ``scope["path_params"]`` are set as
FastAPI sets them, so the span's name and the request log's endpoint are the route template.

Anything else (another method, ``dependency_overrides`` in use, a ``root_path``) goes to FastAPI.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi._compat import ModelField
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.convertors import StringConvertor
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.clients import clients_of

_GROUP = re.compile(r"\(\?P<(\w+)>")
_JSON = "application/json"


@dataclass(frozen=True)
class DirectRoute:
    """One route answered here: what FastAPI's handler would read of it, resolved once."""

    route: APIRoute
    call: Callable[..., Any]
    #: The endpoint's parameter that takes the caller's clients, if it has one.
    clients: str | None
    path_params: Sequence[ModelField]
    query_params: Sequence[ModelField]
    header_params: Sequence[ModelField]
    response_field: ModelField
    status_code: int


def direct_route(route: RouteContext) -> DirectRoute | None:
    """``route`` (as :func:`fastapi.routing.iter_route_contexts` gives it, with what its router
    adds) as a DirectRoute, or None when FastAPI's handler would do anything more for it than a
    DirectRoute does."""
    original = route.original_route
    dependant = getattr(route, "dependant", None)
    methods = getattr(route, "methods", None) or ()
    if not isinstance(original, APIRoute) or dependant is None or "GET" not in methods:
        return None
    call = dependant.call
    if not inspect.iscoroutinefunction(call):
        return None  # run in a thread, or a generator (streamed): FastAPI's to run
    if (
        dependant.body_params
        or dependant.cookie_params
        or dependant.request_param_name
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    ):
        return None
    clients: str | None = None
    for sub in dependant.dependencies:
        if sub.call is not clients_of or clients is not None or sub.name is None:
            return None
        clients = sub.name
    convertors = getattr(route, "param_convertors", {})
    if any(not isinstance(convertor, StringConvertor) for convertor in convertors.values()):
        return None
    response_field = getattr(route, "response_field", None)
    status_code = getattr(route, "status_code", None) or 200
    if (
        response_field is None
        or not isinstance(getattr(route, "response_class", None), DefaultPlaceholder)
        or getattr(route, "stream_item_field", None) is not None
        or getattr(route, "is_json_stream", False)
        or getattr(route, "is_sse_stream", False)
        or getattr(route, "response_model_include", None) is not None
        or getattr(route, "response_model_exclude", None) is not None
        or not getattr(route, "response_model_by_alias", True)
        or getattr(route, "response_model_exclude_unset", False)
        or getattr(route, "response_model_exclude_defaults", False)
        or getattr(route, "response_model_exclude_none", False)
        or not 200 <= status_code < 300
        or status_code in (204, 205)
    ):
        return None
    return DirectRoute(
        route=original,
        call=call,
        clients=clients,
        path_params=tuple(dependant.path_params),
        query_params=tuple(dependant.query_params),
        header_params=tuple(dependant.header_params),
        response_field=response_field,
        status_code=status_code,
    )


def _read(
    fields: Sequence[ModelField], received: Any, values: dict[str, Any], errors: list[Any]
) -> None:
    """Parameters validated as FastAPI validates them: into ``values``, or ``errors``."""
    found, failed = request_params_to_args(fields, received)
    values.update(found)
    errors.extend(failed)


class RouteTable:
    """The app's GET routes in the order routing tries them, as one regular expression: the
    first alternative that matches is the route FastAPI would choose, and it is answered here
    when it is a :class:`DirectRoute`."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        alternatives: list[str] = []
        #: Per alternative: the DirectRoute (None: FastAPI's) and its (group, parameter) names.
        self._entries: dict[str, tuple[DirectRoute | None, tuple[tuple[str, str], ...]]] = {}
        for index, route in enumerate(iter_route_contexts(routes)):
            methods = route.methods
            if methods is not None and "GET" not in methods:
                continue  # never a full match for a GET: routing looks further
            regex = getattr(route, "path_regex", None)
            if regex is None:
                # A route that matches otherwise (a Host, say) could take any GET: FastAPI's.
                alternatives = []
                self._entries.clear()
                break
            name = f"r{index}"
            groups = tuple((f"{name}_{param}", param) for param in regex.groupindex)
            pattern = _GROUP.sub(rf"(?P<{name}_\1>", regex.pattern)
            alternatives.append(f"(?P<{name}>{pattern})")
            self._entries[name] = (direct_route(route), groups)
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    def match(self, path: str) -> tuple[DirectRoute, dict[str, str]] | None:
        """The DirectRoute FastAPI would route ``path`` (a GET) to, and its path parameters."""
        if self._pattern is None or (found := self._pattern.match(path)) is None:
            return None
        direct, groups = self._entries[found.lastgroup or ""]
        if direct is None:
            return None
        return direct, {param: found.group(group) for group, param in groups}

    @property
    def direct_routes(self) -> list[DirectRoute]:
        return [direct for direct, _ in self._entries.values() if direct is not None]


class DirectRoutes:
    """Answers the GETs of :class:`DirectRoute` routes; sends everything else on to ``app``.

    The route table is read from the app's routes at its first request (the gateway adds none
    after start-up)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: RouteTable | None = None
        self._errors: dict[Any, Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        app: FastAPI = scope["app"]
        table = self._table
        if table is None:
            table = self._table = RouteTable(app.routes)
        matched = table.match(scope["path"])
        if matched is None or app.dependency_overrides:
            await self.app(scope, receive, send)
            return
        direct, path_params = matched
        # What routing records of the chosen route (span name, request log endpoint).
        scope["endpoint"] = direct.route.endpoint
        scope["path_params"] = path_params
        scope["route"] = direct.route
        request = Request(scope, receive, send)
        try:
            response = await self._answer(direct, request, path_params)
        except Exception as exc:  # noqa: BLE001 - the app's handlers answer it, or it goes on
            await self._handled(app, exc)(scope, receive, send)
            return
        await response(scope, receive, send)

    @staticmethod
    async def _answer(
        direct: DirectRoute, request: Request, path_params: dict[str, str]
    ) -> Response:
        """FastAPI's ``solve_dependencies``, endpoint call and ``serialize_response`` for a
        route that has only these parts, in the same order (the clients first)."""
        values: dict[str, Any] = {}
        if direct.clients is not None:
            values[direct.clients] = await clients_of(request)
        errors: list[Any] = []
        if direct.path_params:
            _read(direct.path_params, path_params, values, errors)
        if direct.query_params:
            _read(direct.query_params, request.query_params, values, errors)
        if direct.header_params:
            _read(direct.header_params, request.headers, values, errors)
        if errors:
            raise RequestValidationError(errors, body=None)
        content = await direct.call(**values)
        field = direct.response_field
        value, invalid = field.validate(content, {}, loc=("response",))
        if invalid:
            raise ResponseValidationError(errors=invalid, body=content)
        return Response(
            field.serialize_json(value), status_code=direct.status_code, media_type=_JSON
        )

    def _handled(self, app: FastAPI, exc: Exception) -> ASGIApp:
        """``exc`` answered by the app's exception handlers (or raised on, when none takes it),
        as Starlette's ExceptionMiddleware behind this one would answer it."""
        if self._errors is None:
            self._errors = {
                key: handler
                for key, handler in app.exception_handlers.items()
                if key not in (500, Exception)  # the server-error middleware's, as in FastAPI
            }

        async def failing(scope: Scope, receive: Receive, send: Send) -> None:
            raise exc

        return ExceptionMiddleware(failing, handlers=self._errors)
