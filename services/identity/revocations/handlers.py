"""ListRevocations: the revocation feed every service polls (shared.revocation), for internal
callers only."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.config import token_lifetime
from services.identity.context import IdentityContext
from services.identity.revocations.feed import revocations_since
from shared.auth import require_internal
from shared.timestamps import from_timestamp, to_timestamp


class RevocationHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def list_revocations(
        self, request: pb.ListRevocationsRequest
    ) -> pb.ListRevocationsResponse:
        require_internal()
        since = from_timestamp(request.since, "since") if request.HasField("since") else None
        revocations, read_at = await revocations_since(
            self._ctx.db, since, token_lifetime(self._ctx.settings), self._ctx.memberships
        )
        return pb.ListRevocationsResponse(
            revocations=[
                pb.Revocation(
                    key=item.key,
                    revoke_time=_stamp(item.revoked_at),
                    expire_time=_stamp(item.expires_at),
                )
                for item in revocations
            ],
            read_time=to_timestamp(read_at),
        )


def _stamp(epoch_seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(epoch_seconds * 1e9))
    return stamp
