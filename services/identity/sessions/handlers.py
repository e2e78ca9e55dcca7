"""The caller's own sessions: list them, end one, end all. Nobody sees another user's sessions:
a session id of someone else is NOT_FOUND, like one that does not exist."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.models import SessionStatus, UserSession
from services.identity.sessions.convert import session_to_proto
from services.identity.sessions.ending import (
    REVOKED_ALL_BY_USER,
    REVOKED_BY_USER,
    require_user,
    revoke_session,
    revoke_user_sessions,
)
from shared.db_types import utcnow
from shared.errors import InvalidArgument, NotFound
from shared.pagination import fetch_page


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class SessionHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def list_my_sessions(
        self, request: pb.ListMySessionsRequest
    ) -> pb.ListMySessionsResponse:
        principal, user_id = require_user()
        statement = select(UserSession).where(UserSession.user_id == user_id)
        if not request.include_inactive:
            statement = statement.where(
                UserSession.status == SessionStatus.ACTIVE, UserSession.expires_at > utcnow()
            )
        async with self._ctx.db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(UserSession.created_at, UserSession.id),
                position_of=lambda row: (row.created_at, row.id),
                codec=self._ctx.pages,
                query="IdentityService.ListMySessions",
                filters={"user_id": str(user_id), "include_inactive": request.include_inactive},
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return pb.ListMySessionsResponse(
            sessions=[session_to_proto(row, principal.session_id) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def revoke_session(self, request: pb.RevokeSessionRequest) -> pb.RevokeSessionResponse:
        principal, user_id = require_user()
        if not request.session_id:
            raise InvalidArgument.field("session_id", "is required")
        session_id = _uuid_or_none(request.session_id)
        if session_id is None:
            raise InvalidArgument.field("session_id", "must be a UUID")
        async with self._ctx.db.transaction() as session:
            if await revoke_session(session, session_id, REVOKED_BY_USER, user_id=user_id):
                self._ctx.events.add(
                    session,
                    "session_revoked",
                    user_id=user_id,
                    tenant_id=principal.tenant_id,
                    metadata={"reason": REVOKED_BY_USER, "session_id": str(session_id)},
                )
            row = await session.scalar(
                select(UserSession)
                .where(UserSession.id == session_id, UserSession.user_id == user_id)
                .execution_options(populate_existing=True)
            )
            if row is None:
                raise NotFound(f"session {session_id} not found", reason="SESSION_NOT_FOUND")
            return pb.RevokeSessionResponse(session=session_to_proto(row, principal.session_id))

    async def revoke_all_sessions(
        self, request: pb.RevokeAllSessionsRequest
    ) -> pb.RevokeAllSessionsResponse:
        principal, user_id = require_user()
        keep = _uuid_or_none(principal.session_id) if request.keep_current else None
        async with self._ctx.db.transaction() as session:
            count = await revoke_user_sessions(session, user_id, REVOKED_ALL_BY_USER, keep=keep)
            if count:
                self._ctx.events.add(
                    session,
                    "sessions_revoked",
                    user_id=user_id,
                    tenant_id=principal.tenant_id,
                    metadata={
                        "reason": REVOKED_ALL_BY_USER,
                        "count": str(count),
                        "kept_current": str(keep is not None).lower(),
                    },
                )
        return pb.RevokeAllSessionsResponse(revoked_count=count)
