"""Sign-up's calls to tenancy, with tenancy's errors restated in the terms of SignUp's caller.

The only module of the sign-up flow that knows about gRPC: tenancy names ``tenant.slug`` where
SignUp's caller sent ``tenant_slug``, and a transport failure must not become INTERNAL.
"""

from __future__ import annotations

import logging

import grpc

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from services.identity.context import IdentityContext
from services.identity.tenancy_client import ROLE_NAMES, TenancyClient
from shared.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    Unavailable,
)
from shared.internal_client import domain_error_of

log = logging.getLogger("quarterdeck.identity.signup")

_TIMEOUT_SECONDS = 10.0
#: Tenancy's field names for the tenant, as SignUp's request names them.
FIELD_NAMES = {"tenant.slug": "tenant_slug", "tenant.name": "tenant_name"}
#: Answers after which the tenant certainly was not created; after any other the outcome is
#: unknown (a timeout may hide a commit), and the tenant has to be looked for before giving up.
_DEFINITE_REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)


class TenantCreationFailed(Exception):
    """CreateTenant failed; ``error`` is what SignUp's caller gets, ``maybe_created`` says
    whether the tenant might exist all the same."""

    def __init__(self, error: Exception, *, maybe_created: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.maybe_created = maybe_created


def _client(ctx: IdentityContext) -> TenancyClient:
    if ctx.tenancy is None:
        raise FailedPrecondition(
            "sign-up needs the tenancy service, and none is configured",
            reason="TENANCY_NOT_CONFIGURED",
        )
    return ctx.tenancy


def ensure_configured(ctx: IdentityContext) -> None:
    _client(ctx)


def translate(error: grpc.aio.AioRpcError, slug: str) -> Exception:
    """The error SignUp's caller gets for a failed CreateTenant."""
    code = error.code()
    carried = domain_error_of(error)
    reason = carried.reason
    violations = carried.violations if isinstance(carried, InvalidArgument) else []
    if (
        code == grpc.StatusCode.INVALID_ARGUMENT
        and violations
        and all(v.field in FIELD_NAMES for v in violations)
    ):
        return InvalidArgument(
            [FieldViolation(FIELD_NAMES[v.field], v.description) for v in violations]
        )
    if code == grpc.StatusCode.ALREADY_EXISTS and reason == "TENANT_SLUG_TAKEN":
        return AlreadyExists(
            f"a tenant with slug '{slug}' already exists",
            reason="TENANT_SLUG_TAKEN",
            metadata={"field": "tenant_slug"},
        )
    if code in _DEFINITE_REFUSALS:
        # Anything else tenancy refuses is identity's own mistake, not the caller's input.
        return RuntimeError(f"tenancy refused CreateTenant: {code.name} {reason}")
    return Unavailable(
        "the tenancy service did not answer; try again", reason="TENANCY_UNAVAILABLE"
    )


async def create_tenant(
    ctx: IdentityContext, *, slug: str, name: str, owner_user_id: str, request_id: str
) -> str:
    """The id of a new tenant owned by ``owner_user_id``; raises TenantCreationFailed."""
    client = _client(ctx)
    request = tpb.CreateTenantRequest(
        tenant=tpb.Tenant(slug=slug, name=name),
        owner_user_id=owner_user_id,
        request_id=request_id,
    )
    try:
        response = await client.call(client.stub.CreateTenant, request, _TIMEOUT_SECONDS)
    except grpc.aio.AioRpcError as error:
        raise TenantCreationFailed(
            translate(error, slug), maybe_created=error.code() not in _DEFINITE_REFUSALS
        ) from None
    return str(response.tenant.id)


async def find_tenant(
    ctx: IdentityContext, *, slug: str, name: str, owner_user_id: str, request_id: str
) -> str | None:
    """After an unknown outcome, the tenant the first CreateTenant made, if any.

    Replaying the same request_id returns the tenant of the first call (or makes it now, which
    the caller purges all the same), so the compensation never misses one that did commit.
    """
    try:
        return await create_tenant(
            ctx, slug=slug, name=name, owner_user_id=owner_user_id, request_id=request_id
        )
    except (TenantCreationFailed, DomainError):
        return None


async def purge_tenant(ctx: IdentityContext, tenant_id: str) -> bool:
    """Remove a tenant made for a sign-up that then failed; False when tenancy did not."""
    client = _client(ctx)
    try:
        await client.call(
            client.stub.PurgeTenant, tpb.PurgeTenantRequest(id=tenant_id), _TIMEOUT_SECONDS
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return True
        log.error("could not purge tenant %s after a failed sign-up: %s", tenant_id, error.code())
        return False
    return True


_ROLE_VALUES = {name: value for value, name in ROLE_NAMES.items()}


async def add_member(
    ctx: IdentityContext, *, tenant_id: str, user_id: str, role: str, request_id: str
) -> None:
    """Make ``user_id`` a member of ``tenant_id`` (a team invite's seat), idempotently by
    ``request_id`` (the redemption's); an existing membership is ALREADY_EXISTS ALREADY_MEMBER."""
    client = _client(ctx)
    request = tpb.AddMembershipRequest(
        membership=tpb.Membership(tenant_id=tenant_id, user_id=user_id, role=_ROLE_VALUES[role]),
        request_id=request_id,
    )
    try:
        await client.call(client.stub.AddMembership, request, _TIMEOUT_SECONDS)
    except grpc.aio.AioRpcError as error:
        reason = domain_error_of(error).reason
        if error.code() == grpc.StatusCode.ALREADY_EXISTS:
            raise AlreadyExists(
                "you are already a member of this tenant", reason="ALREADY_MEMBER"
            ) from None
        if error.code() == grpc.StatusCode.NOT_FOUND:
            # The tenant is gone: the invite can no longer be redeemed.
            raise FailedPrecondition(
                "the invite's tenant no longer exists", reason=reason or "TENANT_NOT_FOUND"
            ) from None
        raise Unavailable(
            "the tenancy service did not answer; try again", reason="TENANCY_UNAVAILABLE"
        ) from None


async def remove_member(ctx: IdentityContext, *, tenant_id: str, user_id: str) -> None:
    """Undo :func:`add_member` for a redemption that failed afterwards; logs, never raises."""
    client = _client(ctx)
    try:
        await client.call(
            client.stub.RemoveMembership,
            tpb.RemoveMembershipRequest(tenant_id=tenant_id, user_id=user_id),
            _TIMEOUT_SECONDS,
        )
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            log.error(
                "could not remove user %s from tenant %s after a failed redemption: %s",
                user_id,
                tenant_id,
                error.code(),
            )
