"""Teams: a tenant's admins invite colleagues into their tenant (single-use, expiring, revocable
team invites, stored hashed and delivered by the notifier); a signed-in user accepts one, or
switches to another tenant of theirs, getting tokens for that tenant without a password.

A new user redeems a team invite with SignUp (signup/saga.py); everything else is here.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.events import SecurityEvents
from services.identity.models import TenantSignupInvite, User, UserStatus
from services.identity.sessions.ending import require_user
from services.identity.sessions.opening import open_session
from services.identity.signup import invites, tenancy_calls
from services.identity.signup.validation import (
    MAX_NOTE,
    collect,
    email_problem,
    length_problem,
    raise_if_any,
)
from shared.auth import Principal, require_tenant
from shared.db_types import utcnow
from shared.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from shared.ids import parse_id
from shared.pagination import fetch_page
from shared.tenant_scope import one_tenant_for_read
from shared.timestamps import from_timestamp

log = logging.getLogger("quarterdeck.identity.team")

#: Roles a team invite may grant. Ownership is never handed out by invite: an owner promotes
#: a member once they have joined.
INVITABLE_ROLES = ("admin", "member", "viewer")
TEAM_INVITE_TTL = timedelta(days=7)
MAX_TEAM_INVITE_TTL = timedelta(days=30)


def _expiry(request: pb.CreateInviteRequest, now: datetime) -> tuple[datetime, str | None]:
    if not request.HasField("expire_time"):
        return now + TEAM_INVITE_TTL, None
    expires_at = from_timestamp(request.expire_time, "expire_time")
    if expires_at <= now:
        return expires_at, "must be in the future"
    if expires_at > now + MAX_TEAM_INVITE_TTL:
        return expires_at, f"must be at most {MAX_TEAM_INVITE_TTL.days} days ahead"
    return expires_at, None


class TeamHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def create_team_invite(self, request: pb.CreateInviteRequest) -> pb.CreateInviteResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        principal = require_tenant(str(tenant_id), "admin")
        now = utcnow()
        expires_at, expire_problem = _expiry(request, now)
        raise_if_any(
            collect(
                {
                    "invited_email": email_problem(request.invited_email),
                    "role": None
                    if request.role in INVITABLE_ROLES
                    else f"must be one of {', '.join(INVITABLE_ROLES)}",
                    "max_redemptions": None
                    if request.max_redemptions in (0, 1)
                    else "a team invite is single-use: leave it 0 or 1",
                    "expire_time": expire_problem,
                    "note": length_problem(request.note, MAX_NOTE),
                }
            )
        )
        seat = invites.TeamSeat(str(tenant_id), request.role)
        async with self._ctx.db.transaction() as session:
            invite, token = invites.new_invite(
                self._ctx,
                invited_email=request.invited_email,
                max_redemptions=1,
                expires_at=expires_at,
                note=request.note or None,
                issuer_user_id=await acting_user(session, principal),
                team_seat=seat,
            )
            session.add(invite)
            SecurityEvents.add(
                session,
                "invite_created",
                user_id=invite.issuer_user_id,
                tenant_id=str(tenant_id),
                metadata={"invite_id": str(invite.id), "role": seat.role, "team": True},
            )
            await session.flush()
            response = pb.CreateInviteResponse(
                invite=invites.invite_to_proto(invite, now), token=token
            )
        self._deliver(request.invited_email, seat, token, expires_at)
        self._append(
            seat.tenant_id,
            "invite.created",
            invite,
            f"{request.invited_email} was invited as {seat.role}",
            {"role": seat.role, "expire_time": response.invite.expire_time.ToJsonString()},
        )
        return response

    def _deliver(
        self, email: str, seat: invites.TeamSeat, token: str, expires_at: datetime
    ) -> None:
        notifier = self._ctx.notifier

        async def send() -> None:
            try:
                await notifier.send_team_invite(email, seat.tenant_id, seat.role, token, expires_at)
            except Exception:
                log.exception("could not deliver a team invite")

        self._ctx.tasks.spawn(send())

    def _append(
        self,
        tenant_id: str,
        action: str,
        invite: TenantSignupInvite,
        summary: str,
        metadata: dict[str, Any],
    ) -> None:
        self._ctx.activity.append(
            tenant_id,
            action,
            object_type="invite",
            object_id=str(invite.id),
            object_name=invite.token_hint,
            summary=summary,
            metadata=metadata,
        )

    async def list_team_invites(self, request: pb.ListInvitesRequest) -> pb.ListInvitesResponse:
        tenant_id = parse_id(one_tenant_for_read(request.tenant_id), "tenant_id")
        require_tenant(str(tenant_id), "admin")
        async with self._ctx.db.reading() as session:
            page = await fetch_page(
                session,
                select(TenantSignupInvite).where(TenantSignupInvite.issuer_tenant_id == tenant_id),
                sort_key=(TenantSignupInvite.created_at, TenantSignupInvite.id),
                position_of=lambda row: (row.created_at, row.id),
                codec=self._ctx.pages,
                query="IdentityService.ListInvites",
                filters={"tenant_id": str(tenant_id)},
                page_size=request.page_size,
                page_token=request.page_token,
            )
        now = utcnow()
        return pb.ListInvitesResponse(
            invites=[invites.invite_to_proto(row, now) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def accept_invite(self, request: pb.AcceptInviteRequest) -> pb.AcceptInviteResponse:
        """The signed-in user joins the invite's tenant: hold the redemption, add the membership,
        then finalize and open a session there; a failure after the membership removes it."""
        if not request.invite_token:
            raise InvalidArgument.field("invite_token", "is required")
        _, user_id = require_user()
        ctx = self._ctx
        tenancy_calls.ensure_configured(ctx)
        async with ctx.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None or user.status != UserStatus.ACTIVE:
                raise FailedPrecondition("the account is not active", reason="ACCOUNT_INACTIVE")
            reservation = await invites.reserve(ctx, session, request.invite_token, user.email)
            invite = await session.get(TenantSignupInvite, reservation.invite_id)
            seat = invites.team_seat(invite) if invite is not None else None
            if seat is None:
                # A sign-up invite makes a new account and tenant; it is not for joining.
                raise invites.invalid_invite()
        try:
            await tenancy_calls.add_member(
                ctx,
                tenant_id=seat.tenant_id,
                user_id=str(user_id),
                role=seat.role,
                request_id=f"invite:{reservation.id}",
            )
        except BaseException:
            await self._release(reservation.id, "membership not added")
            raise
        try:
            async with ctx.db.transaction() as session:
                user = await session.get(User, user_id)
                assert user is not None
                joined = await invites.finalize(session, reservation.id, user_id, seat.tenant_id)
                SecurityEvents.add(
                    session,
                    "invite_accepted",
                    user_id=user_id,
                    tenant_id=seat.tenant_id,
                    metadata={"invite_id": str(joined.id), "role": seat.role},
                )
                tokens = await open_session(
                    ctx, session, user, seat.tenant_id, seat.role, request.device
                )
        except BaseException:
            await tenancy_calls.remove_member(ctx, tenant_id=seat.tenant_id, user_id=str(user_id))
            await self._release(reservation.id, "redemption failed after the membership")
            raise
        self._append(
            seat.tenant_id,
            "invite.redeemed",
            joined,
            f"{user.email} accepted the invite and joined as {seat.role}",
            {"user_id": str(user_id), "role": seat.role},
        )
        return pb.AcceptInviteResponse(tokens=tokens)

    async def _release(self, reservation_id: uuid.UUID, reason: str) -> None:
        try:
            async with self._ctx.db.transaction() as session:
                await invites.release(session, reservation_id, reason)
        except Exception:
            log.exception("could not release invite reservation %s", reservation_id)

    async def switch_tenant(self, request: pb.SwitchTenantRequest) -> pb.SwitchTenantResponse:
        principal, user_id = require_user()
        tenant_id = str(parse_id(request.tenant_id, "tenant_id"))
        ctx = self._ctx
        tenancy_calls.ensure_configured(ctx)
        assert ctx.tenancy is not None
        role = await ctx.tenancy.role_in(tenant_id, str(user_id))
        if role is None:
            raise PermissionDenied("you are not a member of this tenant", reason="NOT_A_MEMBER")
        async with ctx.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None or user.status != UserStatus.ACTIVE:
                raise FailedPrecondition("the account is not active", reason="ACCOUNT_INACTIVE")
            SecurityEvents.add(
                session,
                "tenant_switched",
                user_id=user_id,
                tenant_id=tenant_id,
                metadata={"from_tenant_id": principal.tenant_id, "role": role},
            )
            tokens = await open_session(ctx, session, user, tenant_id, role, request.device)
        return pb.SwitchTenantResponse(tokens=tokens)


async def acting_user(session: AsyncSession, principal: Principal) -> uuid.UUID | None:
    """The caller's user id for issuer/decider columns, when it names a stored user (an
    internal service, or a token whose user is gone, leaves them empty)."""
    if principal.user_id is None:
        return None
    try:
        user_id = uuid.UUID(principal.user_id)
    except ValueError:
        return None
    return user_id if await session.get(User, user_id) is not None else None


def may_revoke(principal: Principal, invite: TenantSignupInvite, tenant_id: str) -> bool:
    """Whether the invite is one the caller (already checked for ``tenant_id``, or an operator
    when it is empty) may revoke: an operator any, a tenant's admin only that tenant's."""
    if not tenant_id:
        return principal.is_operator or principal.is_internal
    return str(invite.issuer_tenant_id) == tenant_id
