"""Onboarding's agent and tool grants, which the tooling service owns (seed 004 steps 3 and 4):
tenancy's OnboardTenant asks tooling's GrantOnboarding to store them (checked there against real
agent, tool and output format ids) inside its own transaction, before the tenant is committed,
and asks RevokeOnboarding to take them back when that transaction then fails. A tenant therefore
never exists without its grants, and a refused grant leaves no tenant.

Calls carry tenancy's internal token (``shared.internal_client``); tooling's refusals come back
as the same domain errors (its field names are the onboarding request's: ``agent_grants[1]
.agent_id``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

import grpc

from quarterdeck.tooling.v1 import permissions_pb2 as tpb
from quarterdeck.tooling.v1.permissions_pb2_grpc import PermissionServiceStub
from shared.errors import FailedPrecondition, Unavailable
from shared.grpc_client import open_channel
from shared.internal_client import InternalToken, call_internal, domain_error_of

log = logging.getLogger("quarterdeck.tenancy.tooling_grants")

#: How long a grant or revoke call may take.
CALL_TIMEOUT_SECONDS = 10.0


class ToolingGrants:
    def __init__(self, target: str | None, token: InternalToken | None) -> None:
        self._token = token
        self._channel = open_channel(target) if target and token is not None else None
        self._stub = PermissionServiceStub(self._channel) if self._channel else None

    def _require(self) -> tuple[PermissionServiceStub, InternalToken]:
        if self._stub is None or self._token is None:
            raise FailedPrecondition(
                "onboarding with agent or tool grants needs the tooling service "
                "(QD_TENANCY_TOOLING_TARGET) and an identity service for tenancy's internal token",
                reason="TOOLING_NOT_CONFIGURED",
            )
        return self._stub, self._token

    def check_configured(self) -> None:
        self._require()

    async def grant(
        self,
        tenant_id: uuid.UUID,
        onboarding_id: str,
        agent_grants: Sequence[tpb.OnboardingAgentGrant],
        tool_grants: Sequence[tpb.OnboardingToolGrant],
    ) -> tpb.GrantOnboardingResponse:
        """Store the grants in tooling; raises tooling's refusal as a domain error."""
        stub, token = self._require()
        request = tpb.GrantOnboardingRequest(
            tenant_id=str(tenant_id),
            onboarding_id=onboarding_id,
            agent_grants=agent_grants,
            tool_grants=tool_grants,
        )
        try:
            return await call_internal(
                stub.GrantOnboarding, request, token, call_timeout=CALL_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as error:
            refusal = domain_error_of(error)
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(
                    f"the tooling service did not store the grants: {error.code().name}",
                    reason="TOOLING_UNAVAILABLE",
                ) from None
            raise refusal from None

    async def revoke(self, tenant_id: uuid.UUID, onboarding_id: str) -> None:
        """Take back the grants of an onboarding whose tenant was not committed. Best effort: a
        failure is logged (the grants then name a tenant id no tenant has)."""
        stub, token = self._require()
        request = tpb.RevokeOnboardingRequest(tenant_id=str(tenant_id), onboarding_id=onboarding_id)
        try:
            await call_internal(
                stub.RevokeOnboarding, request, token, call_timeout=CALL_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as error:
            log.error(
                "onboarding %s of tenant %s failed and its grants could not be revoked: %s",
                onboarding_id,
                tenant_id,
                error.code().name,
            )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
