"""``POST /v1/webhooks/stripe``: Stripe's deliveries, handed to tenancy's IngestStripeEvent.

The gateway verifies nothing here: it forwards the raw body, byte for byte, and the
Stripe-Signature header, and tenancy (which holds the endpoint secret) checks the signature. No
caller credentials are forwarded: the signature is the credential. A refused signature is a 400,
as Stripe expects; a duplicate delivery is a 200 like the first.
"""

from __future__ import annotations

import grpc
from fastapi import APIRouter, HTTPException, Request

from quarterdeck.tenancy.v1 import stripe_pb2 as pb
from services.gateway.clients import GatewayClients
from services.gateway.routing import ERROR_RESPONSES

MAX_BODY_BYTES = 1024 * 1024

SIGNATURE_HEADER = "stripe-signature"

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)


@router.post("/stripe")
async def stripe_webhook(request: Request) -> dict[str, bool]:
    """Receive one Stripe event (signed with the endpoint secret): 200 once it is stored."""
    signatures = request.headers.getlist(SIGNATURE_HEADER)
    if len(signatures) > 1:
        raise HTTPException(400, "send one Stripe-Signature header")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, "the event is too large")
    clients: GatewayClients = request.app.state.clients
    try:
        await clients.stripe.IngestStripeEvent(
            pb.IngestStripeEventRequest(
                raw_body=body, signature_header=signatures[0] if signatures else ""
            )
        )
    except grpc.aio.AioRpcError as error:
        if error.code() is grpc.StatusCode.UNAUTHENTICATED:
            raise HTTPException(400, "invalid Stripe signature") from None
        raise
    return {"received": True}
