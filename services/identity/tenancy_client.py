"""Identity's calls to the tenancy service, made with an internal token identity mints itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from shared.errors import NotFound, Unavailable
from shared.grpc_client import open_channel
from shared.internal_client import InternalToken, call_internal

ROLE_NAMES = {
    tpb.MEMBERSHIP_ROLE_OWNER: "owner",
    tpb.MEMBERSHIP_ROLE_ADMIN: "admin",
    tpb.MEMBERSHIP_ROLE_MEMBER: "member",
    tpb.MEMBERSHIP_ROLE_VIEWER: "viewer",
}
_TIMEOUT_SECONDS = 10.0
ResponseT = TypeVar("ResponseT")


class TenancyClient:
    def __init__(self, target: str, token: InternalToken) -> None:
        """``token`` is identity's own internal token (``OwnInternalToken`` in
        ``services.identity.context``), minted again before it expires and after a rotation."""
        self._channel = open_channel(target)
        self.stub = TenancyServiceStub(self._channel)
        self.token = token

    async def call(
        self,
        method: Callable[..., Awaitable[ResponseT]],
        request: Any,
        call_timeout: float = _TIMEOUT_SECONDS,
    ) -> ResponseT:
        """``method`` (one of :attr:`stub`'s) with identity's internal token."""
        return await call_internal(method, request, self.token, call_timeout=call_timeout)

    async def role_in(self, tenant_id: str, user_id: str) -> str | None:
        """The user's role in the tenant, or None when they are not a member."""
        try:
            response = await self.call(
                self.stub.GetMembership,
                tpb.GetMembershipRequest(tenant_id=tenant_id, user_id=user_id),
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
            response = await self.call(
                self.stub.ListMemberships,
                tpb.ListMembershipsRequest(user_id=user_id, page_size=1),
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
