"""``/v1/sessions``: the caller's own sessions, one IdentityService call per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from services.gateway.sessions.schemas import RevokedSessions, Session, SessionList

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


@router.get("")
async def list_my_sessions(
    clients: Clients,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    include_inactive: Annotated[
        bool, Query(description="Include revoked and expired sessions.")
    ] = False,
) -> SessionList:
    """The caller's sessions, most recently opened first."""
    reply = await clients.identity.ListMySessions(
        pb.ListMySessionsRequest(
            page_size=page_size, page_token=page_token, include_inactive=include_inactive
        )
    )
    return SessionList.from_proto(reply)


@router.delete("")
async def revoke_all_sessions(
    clients: Clients,
    keep_current: Annotated[
        bool, Query(description="Keep the session of the calling access token.")
    ] = False,
) -> RevokedSessions:
    """End every session of the caller's (but the current one, with keep_current)."""
    reply = await clients.identity.RevokeAllSessions(
        pb.RevokeAllSessionsRequest(keep_current=keep_current)
    )
    return RevokedSessions.from_proto(reply)


@router.delete("/{session_id}")
async def revoke_session(session_id: str, clients: Clients) -> Session:
    """End one of the caller's sessions; another user's is not found (404)."""
    reply = await clients.identity.RevokeSession(pb.RevokeSessionRequest(session_id=session_id))
    return Session.from_proto(reply.session)
