"""Sessions as the session list returns them (users map through services.identity.users_proto)."""

from __future__ import annotations

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.models import UserSession
from shared.timestamps import to_timestamp


def session_to_proto(row: UserSession, current_session_id: str | None) -> pb.Session:
    return pb.Session(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        user_agent=row.user_agent or "",
        ip_masked=row.ip_masked or "",
        client_platform=row.client_platform or "",
        client_browser=row.client_browser or "",
        client_device=row.client_device or "",
        create_time=to_timestamp(row.created_at),
        last_seen_time=to_timestamp(row.last_seen_at),
        expire_time=to_timestamp(row.expires_at),
        revoke_time=to_timestamp(row.revoked_at),
        revoke_reason=row.revoked_reason or "",
        current=str(row.id) == current_session_id,
    )
