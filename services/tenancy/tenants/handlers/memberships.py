"""Memberships: who belongs to a tenant with which role. A tenant never loses its last owner.

A membership removed (or left), or lowered in role, is recorded in ``membership_revocations`` in
the same transaction; ListMembershipRevocations lists those records for identity's revocation
feed, so the user's tokens for the tenant issued before the change stop working everywhere
within seconds instead of at their expiry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.tenancy.context import TenancyContext
from services.tenancy.tenants.convert import ROLE_FROM_PROTO, membership_to_proto
from services.tenancy.tenants.models import (
    MembershipRecord,
    MembershipRevocationRecord,
    MembershipRole,
    TenantRecord,
)
from shared.auth import ROLE_RANK, Principal, require_internal, require_principal, require_tenant
from shared.db import PreparedRead
from shared.db_types import utcnow
from shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from shared.ids import parse_id
from shared.pagination import fetch_page
from shared.tenant_scope import one_tenant_for_read
from shared.timestamps import from_timestamp, to_timestamp

#: Each read of the revocations looks this far behind its cursor, for rows committed a little
#: after the previous read passed them (a transaction that started earlier).
REVOCATION_LOOKBACK = timedelta(seconds=30)


_MEMBERSHIPS = MembershipRecord.__table__
MEMBERSHIP_OF_USER = PreparedRead(
    select(*_MEMBERSHIPS.columns).where(
        _MEMBERSHIPS.c.tenant_id == bindparam("tenant_id"),
        _MEMBERSHIPS.c.user_id == bindparam("user_id"),
    )
)


def _no_such_membership() -> NotFound:
    return NotFound("no such membership", reason="MEMBERSHIP_NOT_FOUND")


def parse_role(value: int, field: str) -> MembershipRole:
    if value not in ROLE_FROM_PROTO:
        raise InvalidArgument.field(field, "must be OWNER, ADMIN, MEMBER or VIEWER")
    return ROLE_FROM_PROTO[value]


def _may_grant(principal: Principal, role: MembershipRole) -> None:
    """Admins manage members below owner; only owners (or operators) touch ownership."""
    if principal.is_operator or principal.is_internal:
        return
    needed = "owner" if role == MembershipRole.OWNER else "admin"
    if ROLE_RANK.get(principal.role or "", 0) < ROLE_RANK[needed]:
        raise PermissionDenied(f"this needs the {needed} role or higher", reason="ROLE_TOO_LOW")


class MembershipHandlers:
    def __init__(self, context: TenancyContext) -> None:
        self._db = context.database
        self._pages = context.page_tokens
        self._idempotency = context.idempotency
        self._activity = context.state.activity

    @staticmethod
    async def _locked_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> TenantRecord:
        # Locking the tenant row serialises ownership changes of one tenant (SQLite serialises
        # every write transaction anyway).
        tenant = await session.scalar(
            select(TenantRecord).where(TenantRecord.id == tenant_id).with_for_update()
        )
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found", reason="TENANT_NOT_FOUND")
        return tenant

    @staticmethod
    async def _membership(
        session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
    ) -> MembershipRecord:
        row = await session.scalar(
            select(MembershipRecord).where(
                MembershipRecord.tenant_id == tenant_id, MembershipRecord.user_id == user_id
            )
        )
        if row is None:
            raise _no_such_membership()
        return row

    @staticmethod
    async def _refuse_losing_last_owner(session: AsyncSession, row: MembershipRecord) -> None:
        if row.role != MembershipRole.OWNER:
            return
        owners = await session.scalar(
            select(func.count()).where(
                MembershipRecord.tenant_id == row.tenant_id,
                MembershipRecord.role == MembershipRole.OWNER,
            )
        )
        if (owners or 0) <= 1:
            raise FailedPrecondition(
                "a tenant must keep at least one owner; make someone else owner first",
                reason="LAST_OWNER",
            )

    async def add_membership(self, request: pb.AddMembershipRequest) -> pb.AddMembershipResponse:
        membership = request.membership
        tenant_id = parse_id(membership.tenant_id, "membership.tenant_id")
        user_id = parse_id(membership.user_id, "membership.user_id")
        role = parse_role(membership.role, "membership.role")
        principal = require_tenant(str(tenant_id), "admin")
        _may_grant(principal, role)
        created = False

        async def create(session: AsyncSession) -> pb.AddMembershipResponse:
            nonlocal created
            await self._locked_tenant(session, tenant_id)
            row = MembershipRecord(tenant_id=tenant_id, user_id=user_id, role=role)
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise AlreadyExists(
                    "the user is already a member of this tenant", reason="ALREADY_MEMBER"
                ) from None
            created = True
            return pb.AddMembershipResponse(membership=membership_to_proto(row))

        response = await self._idempotency.run(
            endpoint="TenancyService.AddMembership",
            request=request,
            response_type=pb.AddMembershipResponse,
            create=create,
            resource_id_of=lambda response: response.membership.id,
            scope=str(tenant_id),
        )
        if created:  # committed now; a replayed request_id appends nothing
            self._activity.append(
                str(tenant_id),
                "membership.added",
                object_type="membership",
                object_id=response.membership.id,
                object_name=str(user_id),
                summary=f"User {user_id} was added as {role.value}",
                metadata={"user_id": str(user_id), "role": role.value},
            )
        return response

    async def get_membership(self, request: pb.GetMembershipRequest) -> pb.GetMembershipResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        user_id = parse_id(request.user_id, "user_id")
        principal = require_principal()
        if principal.user_id != str(user_id):
            require_tenant(str(tenant_id), "viewer")
        # One statement, so no transaction around it (identity asks at every sign-in).
        rows = await self._db.fetch_prepared(
            MEMBERSHIP_OF_USER, {"tenant_id": tenant_id, "user_id": user_id}
        )
        if not rows:
            raise _no_such_membership()
        return pb.GetMembershipResponse(membership=membership_to_proto(rows[0]))

    async def list_memberships(
        self, request: pb.ListMembershipsRequest
    ) -> pb.ListMembershipsResponse:
        # Naming neither lists the members of the caller's own tenant.
        requested_tenant = request.tenant_id or ("" if request.user_id else one_tenant_for_read(""))
        if bool(requested_tenant) == bool(request.user_id):
            raise InvalidArgument.field("tenant_id", "set exactly one of tenant_id and user_id")
        statement = select(MembershipRecord)
        if requested_tenant:
            tenant_id = parse_id(requested_tenant, "tenant_id")
            require_tenant(str(tenant_id), "viewer")
            statement = statement.where(MembershipRecord.tenant_id == tenant_id)
            filters = {"tenant_id": str(tenant_id)}
        else:
            user_id = parse_id(request.user_id, "user_id")
            principal = require_principal()
            if principal.user_id != str(user_id) and not (
                principal.is_operator or principal.is_internal
            ):
                raise PermissionDenied(
                    "only the user or an operator may list a user's tenants", reason="NOT_SELF"
                )
            statement = statement.where(MembershipRecord.user_id == user_id)
            filters = {"user_id": str(user_id)}
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(MembershipRecord.created_at, MembershipRecord.id),
                codec=self._pages,
                query="TenancyService.ListMemberships",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListMembershipsResponse(
            memberships=[membership_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def update_membership_role(
        self, request: pb.UpdateMembershipRoleRequest
    ) -> pb.UpdateMembershipRoleResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        user_id = parse_id(request.user_id, "user_id")
        role = parse_role(request.role, "role")
        principal = require_tenant(str(tenant_id), "admin")
        async with self._db.transaction() as session:
            await self._locked_tenant(session, tenant_id)
            row = await self._membership(session, tenant_id, user_id)
            _may_grant(principal, role)
            _may_grant(principal, row.role)
            if role != MembershipRole.OWNER:
                await self._refuse_losing_last_owner(session, row)
            previous = row.role
            row.role = role
            if ROLE_RANK[role.value] < ROLE_RANK[previous.value]:
                # Tokens carry the role: those issued before the change must not keep the old one.
                _record_revocation(session, tenant_id, user_id, "role_lowered")
            await session.flush()
            response = pb.UpdateMembershipRoleResponse(membership=membership_to_proto(row))
        if previous != role:
            self._activity.append(
                str(tenant_id),
                "membership.role_changed",
                object_type="membership",
                object_id=response.membership.id,
                object_name=str(user_id),
                summary=f"User {user_id} changed from {previous.value} to {role.value}",
                metadata={
                    "user_id": str(user_id),
                    "previous_role": previous.value,
                    "role": role.value,
                },
            )
        return response

    async def remove_membership(
        self, request: pb.RemoveMembershipRequest
    ) -> pb.RemoveMembershipResponse:
        principal = require_principal()
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        # No user named: the caller leaves the tenant.
        user_id = parse_id(request.user_id or principal.user_id or "", "user_id")
        leaving = principal.user_id == str(user_id) and principal.tenant_id == str(tenant_id)
        if not leaving:
            principal = require_tenant(str(tenant_id), "admin")
        async with self._db.transaction() as session:
            await self._locked_tenant(session, tenant_id)
            row = await self._membership(session, tenant_id, user_id)
            if not leaving:
                _may_grant(principal, row.role)
            await self._refuse_losing_last_owner(session, row)
            membership_id, previous = str(row.id), row.role
            await session.delete(row)
            _record_revocation(session, tenant_id, user_id, "removed")
        self._activity.append(
            str(tenant_id),
            "membership.removed",
            object_type="membership",
            object_id=membership_id,
            object_name=str(user_id),
            summary=f"User {user_id} left" if leaving else f"User {user_id} was removed",
            metadata={"user_id": str(user_id), "role": previous.value, "left": leaving},
        )
        return pb.RemoveMembershipResponse()

    async def list_membership_revocations(
        self, request: pb.ListMembershipRevocationsRequest
    ) -> pb.ListMembershipRevocationsResponse:
        require_internal()
        if not request.HasField("since"):
            raise InvalidArgument.field("since", "is required")
        since = from_timestamp(request.since, "since")
        # Rows committed a little after a read passed them are found by the next read.
        start = since - min(REVOCATION_LOOKBACK, since - datetime.min.replace(tzinfo=UTC))
        read_at = utcnow()
        async with self._db.reading() as session:
            rows = (
                await session.scalars(
                    select(MembershipRevocationRecord)
                    .where(MembershipRevocationRecord.revoked_at >= start)
                    .order_by(MembershipRevocationRecord.revoked_at, MembershipRevocationRecord.id)
                )
            ).all()
        return pb.ListMembershipRevocationsResponse(
            revocations=[
                pb.MembershipRevocation(
                    tenant_id=str(row.tenant_id),
                    user_id=str(row.user_id),
                    revoke_time=to_timestamp(row.revoked_at),
                )
                for row in rows
            ],
            read_time=to_timestamp(read_at),
        )


def _record_revocation(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, reason: str
) -> None:
    """Records, in the transaction that changes the membership, that the user's tokens for the
    tenant issued until now are to be refused."""
    session.add(
        MembershipRevocationRecord(
            tenant_id=tenant_id, user_id=user_id, reason=reason, revoked_at=utcnow()
        )
    )
