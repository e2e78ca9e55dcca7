"""``/v1/limits/reservations``: a tenant's requests- and tokens-per-minute limits over
LimitsService, one gRPC call per request.

Reserve before calling a model provider, then settle with the tokens actually used, or release
when the call was not made. A refused reservation is 429 (RESOURCE_EXHAUSTED) with the service's
ErrorInfo; when the window's limit is reached, ``Retry-After`` says in whole seconds when the
next window opens. The tenant's members (member or higher) and Quarterdeck services may reserve.
"""

from __future__ import annotations

import grpc
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from quarterdeck.tenancy.v1 import limits_pb2 as pb
from services.gateway.errors import retry_after_seconds, rpc_error_body
from services.gateway.limits.schemas import (
    ReleaseBody,
    Reservation,
    ReservationResult,
    ReserveBody,
    SettleBody,
)
from services.gateway.routing import ERROR_RESPONSES, Clients

router = APIRouter(prefix="/v1/limits", tags=["limits"], responses=ERROR_RESPONSES)


@router.post(
    "/reservations",
    status_code=201,
    response_model=ReservationResult,
    responses={429: {"description": "A limit is reached; see Retry-After."}},
)
async def reserve(body: ReserveBody, clients: Clients) -> ReservationResult | JSONResponse:
    """Take requests and tokens from the tenant's current one-minute window, or nothing (429)."""
    try:
        reply = await clients.limits.Reserve(body.to_proto())
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        http_status, error_json = rpc_error_body(error)
        seconds = retry_after_seconds(error)
        headers = {"Retry-After": str(seconds)} if seconds is not None else None
        return JSONResponse(error_json, status_code=http_status, headers=headers)
    return ReservationResult.from_proto(reply)


@router.post("/reservations/{reservation_id}/settle")
async def settle(reservation_id: str, body: SettleBody, clients: Clients) -> Reservation:
    """Record the tokens actually used: the unused estimate is refunded, an overrun charged."""
    reply = await clients.limits.Settle(
        pb.SettleRequest(
            tenant_id=body.tenant_id,
            reservation_id=reservation_id,
            actual_tokens=body.actual_tokens,
        )
    )
    return Reservation.from_proto(reply.reservation)


@router.post("/reservations/{reservation_id}/release")
async def release(reservation_id: str, body: ReleaseBody, clients: Clients) -> Reservation:
    """Refund the reservation entirely: the request was not made."""
    reply = await clients.limits.Release(
        pb.ReleaseRequest(tenant_id=body.tenant_id, reservation_id=reservation_id)
    )
    return Reservation.from_proto(reply.reservation)
