"""``/v1/service-accounts``: API keys of service accounts, and their exchange for access tokens.
One IdentityService call per request.

A key works at the gateway directly, as ``X-API-Key`` or as a bearer token: the gateway
exchanges it itself (see :mod:`shared.api_key_tokens`). Revoking a key here also drops
the token this gateway holds for it, so the key stops working at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.routing import ERROR_RESPONSES, Clients, IdempotencyKey, PageSize, PageToken
from services.gateway.service_accounts.schemas import (
    AccessToken,
    ApiKey,
    ApiKeyList,
    CreateApiKeyBody,
    CreatedApiKey,
    ExchangeApiKeyBody,
)

router = APIRouter(
    prefix="/v1/service-accounts", tags=["service accounts"], responses=ERROR_RESPONSES
)


@router.post("/keys", status_code=201)
async def create_api_key(
    body: CreateApiKeyBody, clients: Clients, idempotency_key: IdempotencyKey = None
) -> CreatedApiKey:
    """Create a key for a service account of a tenant (its admins, or operators). The key is
    shown only in this answer (and in a repeat with the same Idempotency-Key)."""
    reply = await clients.identity.CreateApiKey(body.to_proto(idempotency_key or ""))
    return CreatedApiKey.from_proto(reply)


@router.get("/keys")
async def list_api_keys(
    clients: Clients,
    tenant_id: Annotated[
        str,
        Query(description="The tenant whose keys to list; your token's tenant by default."),
    ] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> ApiKeyList:
    """A tenant's keys, oldest first; the keys themselves are never shown again."""
    reply = await clients.identity.ListApiKeys(
        pb.ListApiKeysRequest(tenant_id=tenant_id, page_size=page_size, page_token=page_token)
    )
    return ApiKeyList.from_proto(reply)


@router.delete("/keys/{key_id}")
async def revoke_api_key(
    key_id: str,
    clients: Clients,
    reason: Annotated[str, Query(description="Why, for the audit trail.")] = "",
) -> ApiKey:
    """Revoke a key at once; revoking it again keeps the first time and reason."""
    reply = await clients.identity.RevokeApiKey(pb.RevokeApiKeyRequest(id=key_id, reason=reason))
    clients.api_keys.forget_key(reply.key.id)
    return ApiKey.from_proto(reply.key)


@router.post("/token")
async def exchange_api_key(body: ExchangeApiKeyBody, clients: Clients) -> AccessToken:
    """A short-lived access token for a key, for clients that call the services directly."""
    reply = await clients.identity.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=body.api_key))
    return AccessToken.from_proto(reply)
