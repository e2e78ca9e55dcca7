"""What every router shares: the caller's clients, the documented error responses, and the
query and header parameters of paging and idempotent creation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Query

from services.gateway.clients import CallerClients, clients_of
from services.gateway.proto_json import INT32_MAX
from services.gateway.schemas import ErrorResponse
from shared.validation import MAX_REQUEST_ID_LENGTH

#: Declaring the error ranges documents the real error body and keeps FastAPI from advertising
#: its default 422, which this gateway never sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "The request was refused."},
    "5XX": {"model": ErrorResponse, "description": "A service failed or did not answer."},
}

#: The services, bound to the caller's credentials: every endpoint calls through these.
Clients = Annotated[CallerClients, Depends(clients_of)]

#: page_size is an int32: larger values cannot be encoded at all.
PageSize = Annotated[
    int,
    Query(
        ge=0,
        le=INT32_MAX,
        description="At most this many items; 0 means the default (50), and values above 1000 "
        "are capped.",
    ),
]
PageToken = Annotated[str, Query(description="The next_page_token of the previous page.")]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_REQUEST_ID_LENGTH,
        description="A client-chosen key (a UUID is recommended): a repeat returns what the "
        "first request created.",
    ),
]

#: The tenant a tooling call acts for (shared.tenant_scope): left out, your token's own tenant.
TenantQuery = Annotated[
    str,
    Query(
        max_length=64,
        description="The tenant acted for; leave it out for your token's own tenant. Platform "
        "operators, who have none, name the tenant (or leave it out where the route says it "
        "then acts on global rows).",
    ),
]
