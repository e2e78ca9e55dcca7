"""Invites and their reservations: issuing, holding a redemption during a sign-up, then finalizing
or releasing it.

An invite token is stored only as its keyed hash (plus a short hint). A sign-up first *reserves*
a redemption under a row lock on the invite, so concurrent sign-ups on the last redemption cannot
both pass; the reservation is finalized once the tenant exists, or released if the sign-up fails.
An expired reservation never blocks anyone: it is released when next found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.models import (
    InviteStatus,
    ReservationStatus,
    TenantSignupInvite,
    TenantSignupInviteReservation,
)
from services.identity.secrets import Hasher
from services.identity.signup.validation import MAX_INVITE_TOKEN
from shared.db_types import utcnow
from shared.errors import InvalidArgument
from shared.proto_enums import to_proto_map
from shared.timestamps import to_timestamp

TOKEN_PREFIX = "qdv_"
HINT_LENGTH = 8
STATUS_TO_PROTO = to_proto_map(pb.InviteStatus, InviteStatus)


@dataclass(frozen=True)
class TeamSeat:
    """What a team invite grants: a membership of ``tenant_id`` with ``role``."""

    tenant_id: str
    role: str


def team_seat(invite: TenantSignupInvite) -> TeamSeat | None:
    """The seat a team invite grants; None for a sign-up invite (which makes a new tenant)."""
    if invite.issuer_tenant_id is None or not invite.member_role:
        return None
    return TeamSeat(str(invite.issuer_tenant_id), invite.member_role)


async def seat_of_token(ctx: IdentityContext, token: str) -> TeamSeat | None:
    """A look at the invite behind ``token`` before anything is locked: which kind it is
    decides what a sign-up must send. The reservation checks the invite again."""
    if not token or len(token) > MAX_INVITE_TOKEN:
        return None
    async with ctx.db.reading() as session:
        invite = await session.scalar(
            select(TenantSignupInvite).where(
                TenantSignupInvite.token_hash == ctx.secrets.hasher.hash(token)
            )
        )
    return team_seat(invite) if invite is not None else None


def invalid_invite() -> InvalidArgument:
    # One answer for unknown, expired, revoked, used-up and someone else's invites, so the
    # answer never tells whether a guessed token exists.
    return InvalidArgument.field(
        "invite_token", "is not a valid invite, or it has expired, been revoked or been used up"
    )


def effective_status(invite: TenantSignupInvite, now: datetime) -> InviteStatus:
    if (
        invite.status == InviteStatus.ACTIVE
        and invite.expires_at is not None
        and invite.expires_at <= now
    ):
        return InviteStatus.EXPIRED
    return invite.status


def invite_to_proto(invite: TenantSignupInvite, now: datetime | None = None) -> pb.Invite:
    return pb.Invite(
        id=str(invite.id),
        token_hint=invite.token_hint,
        invited_email=invite.invited_email or "",
        status=STATUS_TO_PROTO[effective_status(invite, now or utcnow())],
        max_redemptions=invite.max_redemptions,
        redeemed_count=invite.redeemed_count,
        expire_time=to_timestamp(invite.expires_at),
        revoke_time=to_timestamp(invite.revoked_at),
        note=invite.note or "",
        create_time=to_timestamp(invite.created_at),
        tenant_id=str(invite.issuer_tenant_id) if invite.issuer_tenant_id else "",
        role=invite.member_role or "",
    )


def new_invite(
    ctx: IdentityContext,
    *,
    invited_email: str | None,
    max_redemptions: int,
    expires_at: datetime | None,
    note: str | None = None,
    issuer_user_id: uuid.UUID | None = None,
    signup_request_id: uuid.UUID | None = None,
    team_seat: TeamSeat | None = None,
) -> tuple[TenantSignupInvite, str]:
    """A new invite row (not yet added) and its token, which exists nowhere else."""
    token = Hasher.new_token(TOKEN_PREFIX)
    invite = TenantSignupInvite(
        id=uuid.uuid4(),
        token_hash=ctx.secrets.hasher.hash(token),
        token_hint=token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + HINT_LENGTH],
        invited_email=invited_email,
        issuer_user_id=issuer_user_id,
        signup_request_id=signup_request_id,
        status=InviteStatus.ACTIVE,
        max_redemptions=max_redemptions,
        redeemed_count=0,
        expires_at=expires_at,
        note=note,
        issuer_tenant_id=uuid.UUID(team_seat.tenant_id) if team_seat else None,
        member_role=team_seat.role if team_seat else None,
    )
    return invite, token


async def _release_expired(session: AsyncSession, invite_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(TenantSignupInviteReservation)
        .where(
            TenantSignupInviteReservation.invite_id == invite_id,
            TenantSignupInviteReservation.status == ReservationStatus.ACTIVE,
            TenantSignupInviteReservation.expires_at <= now,
        )
        .values(status=ReservationStatus.RELEASED, released_at=now, released_reason="expired")
        .execution_options(synchronize_session=False)
    )


async def _held(session: AsyncSession, invite_id: uuid.UUID, now: datetime) -> int:
    """Redemptions held by live reservations of the invite."""
    count = await session.scalar(
        select(func.count()).where(
            TenantSignupInviteReservation.invite_id == invite_id,
            TenantSignupInviteReservation.status == ReservationStatus.ACTIVE,
            TenantSignupInviteReservation.expires_at > now,
        )
    )
    return int(count or 0)


async def _has_room(
    session: AsyncSession, invite: TenantSignupInvite, email: str, now: datetime
) -> bool:
    if effective_status(invite, now) != InviteStatus.ACTIVE:
        return False
    if invite.invited_email and invite.invited_email.lower() != email.lower():
        return False
    await _release_expired(session, invite.id, now)
    return invite.redeemed_count + await _held(session, invite.id, now) < invite.max_redemptions


async def _locked_invite(session: AsyncSession, **where: object) -> TenantSignupInvite | None:
    # FOR UPDATE serialises sign-ups on one invite on PostgreSQL; SQLite serialises every write
    # transaction already (BEGIN IMMEDIATE).
    return await session.scalar(select(TenantSignupInvite).filter_by(**where).with_for_update())


async def reserve(
    ctx: IdentityContext, session: AsyncSession, token: str, email: str
) -> TenantSignupInviteReservation:
    """Hold one redemption of the invite ``token`` for ``email``, or refuse the token."""
    if len(token) > MAX_INVITE_TOKEN:
        raise invalid_invite()
    now = utcnow()
    invite = await _locked_invite(session, token_hash=ctx.secrets.hasher.hash(token))
    if invite is None or not await _has_room(session, invite, email, now):
        raise invalid_invite()
    reservation = TenantSignupInviteReservation(
        id=uuid.uuid4(),
        invite_id=invite.id,
        email=email,
        status=ReservationStatus.ACTIVE,
        reserved_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.invite_reservation_ttl_seconds),
    )
    session.add(reservation)
    await session.flush()
    return reservation


async def finalize(
    session: AsyncSession, reservation_id: uuid.UUID, user_id: uuid.UUID, tenant_id: str
) -> TenantSignupInvite:
    """Turn the hold into a redemption. A hold released meanwhile (it outlived its time, or the
    invite was revoked) only counts if the invite still has room now."""
    reservation = await session.get(TenantSignupInviteReservation, reservation_id)
    if reservation is None:
        raise invalid_invite()
    invite = await _locked_invite(session, id=reservation.invite_id)
    await session.refresh(reservation)  # re-read under the invite's lock
    now = utcnow()
    if invite is None or reservation.status == ReservationStatus.FINALIZED:
        raise invalid_invite()
    if reservation.status == ReservationStatus.RELEASED and not await _has_room(
        session, invite, reservation.email, now
    ):
        raise invalid_invite()
    reservation.status = ReservationStatus.FINALIZED
    reservation.finalized_at = now
    reservation.tenant_id = uuid.UUID(tenant_id)
    reservation.user_id = user_id
    invite.redeemed_count += 1
    invite.last_redeemed_at = now
    if invite.redeemed_count >= invite.max_redemptions:
        invite.status = InviteStatus.EXHAUSTED
    await session.flush()
    return invite


async def release(session: AsyncSession, reservation_id: uuid.UUID, reason: str) -> None:
    reservation = await session.get(TenantSignupInviteReservation, reservation_id)
    if reservation is not None and reservation.status == ReservationStatus.ACTIVE:
        reservation.status = ReservationStatus.RELEASED
        reservation.released_at = utcnow()
        reservation.released_reason = reason[:1000]
        await session.flush()


async def revoke(session: AsyncSession, invite: TenantSignupInvite, reason: str | None) -> None:
    """Revoke ``invite`` (locked by the caller); sign-ups holding it fail at their last step."""
    now = utcnow()
    invite.status = InviteStatus.REVOKED
    invite.revoked_at = now
    invite.revoked_reason = reason
    await session.execute(
        update(TenantSignupInviteReservation)
        .where(
            TenantSignupInviteReservation.invite_id == invite.id,
            TenantSignupInviteReservation.status == ReservationStatus.ACTIVE,
        )
        .values(status=ReservationStatus.RELEASED, released_at=now, released_reason="revoked")
        .execution_options(synchronize_session=False)
    )
    await session.flush()
