"""Identity's calls to the tenancy service, made with an internal token identity mints itself."""

from __future__ import annotations

import grpc

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from shared.activity_link import InternalMetadata
from shared.errors import NotFound, Unavailable
from shared.grpc_client import open_channel

ROLE_NAMES = {
    tpb.MEMBERSHIP_ROLE_OWNER: "owner",
    tpb.MEMBERSHIP_ROLE_ADMIN: "admin",
    tpb.MEMBERSHIP_ROLE_MEMBER: "member",
    tpb.MEMBERSHIP_ROLE_VIEWER: "viewer",
}
_TIMEOUT_SECONDS = 10.0


class TenancyClient:
    def __init__(self, target: str, internal_metadata: InternalMetadata) -> None:
        """``internal_metadata`` gives identity's own internal token (``OwnInternalToken.metadata``
        in ``services.identity.context``)."""
        self._channel = open_channel(target)
        self.stub = TenancyServiceStub(self._channel)
        self._internal_metadata = internal_metadata

    async def metadata(self) -> list[tuple[str, str]]:
        """Call metadata with identity's own internal token, minted again before it expires and
        after a rotation (a token of a retired key would be refused by tenancy)."""
        return await self._internal_metadata()

    async def role_in(self, tenant_id: str, user_id: str) -> str | None:
        """The user's role in the tenant, or None when they are not a member."""
        try:
            response = await self.stub.GetMembership(
                tpb.GetMembershipRequest(tenant_id=tenant_id, user_id=user_id),
                metadata=await self.metadata(),
                timeout=_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise Unavailable(
                "the tenancy service did not answer", reason="TENANCY_UNAVAILABLE"
            ) from None
        return ROLE_NAMES.get(response.membership.role)

    async def first_membership(self, user_id: str) -> tuple[str, str]:
        """(tenant_id, role) of the user's oldest membership."""
        try:
            response = await self.stub.ListMemberships(
                tpb.ListMembershipsRequest(user_id=user_id, page_size=1),
                metadata=await self.metadata(),
                timeout=_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError:
            raise Unavailable(
                "the tenancy service did not answer", reason="TENANCY_UNAVAILABLE"
            ) from None
        if not response.memberships:
            raise NotFound("the user belongs to no tenant", reason="NO_MEMBERSHIP")
        first = response.memberships[0]
        return first.tenant_id, ROLE_NAMES[first.role]

    async def close(self) -> None:
        await self._channel.close()
