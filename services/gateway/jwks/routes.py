"""``/.well-known/jwks.json``: the public keys that verify access tokens, as standard JWKS, for
anyone verifying Quarterdeck's tokens outside the platform."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.jwks.schemas import JsonWebKeySet
from services.gateway.routing import ERROR_RESPONSES, Clients

router = APIRouter(prefix="/.well-known", tags=["keys"], responses=ERROR_RESPONSES)


@router.get("/jwks.json")
async def get_jwks(clients: Clients, request: Request, response: Response) -> JsonWebKeySet:
    """The keys that verify tokens now, retiring ones included. Cacheable for a short while:
    after a rotation, tokens signed with the new key carry a kid to look for here."""
    reply = await clients.identity.GetJwks(pb.GetJwksRequest())
    max_age = request.app.state.settings.jwks_max_age_seconds
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return JsonWebKeySet.from_proto(reply)
