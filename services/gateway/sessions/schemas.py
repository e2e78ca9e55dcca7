"""The caller's sessions, mapped from their messages."""

from __future__ import annotations

from pydantic import Field

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.proto_models import ProtoModel


class Session(
    ProtoModel,
    message=pb.Session,
    nullable=(
        "user_agent",
        "client_platform",
        "client_browser",
        "client_device",
        "last_seen_time",
        "revoke_time",
        "revoke_reason",
    ),
):
    ip_masked: str | None = Field(description="The client's address, masked: 203.0.113.x.")
    current: bool = Field(description="Whether this is the session of the calling token.")


class SessionList(ProtoModel, message=pb.ListMySessionsResponse):
    pass


class RevokedSessions(ProtoModel, message=pb.RevokeAllSessionsResponse):
    pass
