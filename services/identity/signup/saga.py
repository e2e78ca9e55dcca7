"""SignUp as a saga over two services, so a failure part-way leaves no half-made user or tenant.

1. identity: reserve the invite (if any), create the user as *pending* with its profile;
2. tenancy: create the tenant with the user as owner (idempotent on ``signup:<user id>``), or,
   with a team invite, add the user to the invite's tenant with its role;
3. identity: activate the user, finalize the reservation, open the first session.

A failure in step 2 deletes the pending user and releases the reservation; a failure in step 3
also purges the tenant (or removes the team membership) first. Each compensation is recorded as a ``signup_failed`` event.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.events import SecurityEvents
from services.identity.models import TenantSignupInvite, User, UserProfile, UserStatus
from services.identity.passwords.policy import check_strength
from services.identity.sessions import opening
from services.identity.signup import invites, tenancy_calls
from services.identity.signup.validation import (
    MAX_DISPLAY_NAME,
    MAX_TENANT_NAME,
    MAX_TENANT_SLUG,
    collect,
    email_problem,
    length_problem,
    raise_if_any,
)
from services.identity.users_proto import user_to_proto
from shared.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument

log = logging.getLogger("quarterdeck.identity.signup")

OWNER_ROLE = "owner"


@dataclass(frozen=True)
class Pending:
    """What step 1 made, for step 3 or for the compensation."""

    user_id: uuid.UUID
    reservation_id: uuid.UUID | None
    ip_hash: str | None
    user_agent_hash: str | None
    #: Set when a team invite was reserved: the user joins this tenant rather than making one.
    seat: invites.TeamSeat | None = None

    @property
    def request_id(self) -> str:
        return f"signup:{self.user_id}"


def _email_taken() -> AlreadyExists:
    return AlreadyExists(
        "an account with this email address already exists",
        reason="EMAIL_TAKEN",
        metadata={"field": "email"},
    )


def validate(ctx: IdentityContext, request: pb.SignUpRequest, *, joining: bool = False) -> None:
    """``joining``: the invite is a team invite, so no tenant is named (one is joined)."""
    mode = ctx.settings.signup_mode
    if mode == "closed":
        raise FailedPrecondition("sign-up is closed", reason="SIGNUP_CLOSED")
    violations = collect(
        {
            "email": email_problem(request.email),
            "tenant_name": length_problem(
                request.tenant_name, MAX_TENANT_NAME, required=not joining
            ),
            "tenant_slug": length_problem(
                request.tenant_slug, MAX_TENANT_SLUG, required=not joining
            ),
            "display_name": length_problem(request.display_name, MAX_DISPLAY_NAME),
            "invite_token": "is required: sign-up is by invite only"
            if mode == "invite" and not request.invite_token
            else None,
        }
    )
    try:
        check_strength(
            request.password, request.email, ctx.settings.password_min_length, "password"
        )
    except InvalidArgument as weak:
        violations += weak.violations
    raise_if_any(violations)


async def _begin(ctx: IdentityContext, request: pb.SignUpRequest, password_hash: str) -> Pending:
    """Step 1: one transaction holding the invite and creating the pending user."""
    hashes = opening.device_hashes(ctx, request.device)
    ip_hash = hashes.ip_hash if request.device.ip_address else None
    try:
        async with ctx.db.transaction() as session:
            # The invite goes first: without a valid one, nobody learns whether an email is known.
            reservation = (
                await invites.reserve(ctx, session, request.invite_token, request.email)
                if request.invite_token
                else None
            )
            taken = await session.scalar(
                select(User.id).where(func.lower(User.email) == request.email.lower())
            )
            if taken is not None:
                raise _email_taken()
            user = User(
                id=uuid.uuid4(),
                email=request.email,
                password_hash=password_hash,
                password_pepper_version=ctx.secrets.passwords.current_version,
                status=UserStatus.PENDING,
            )
            session.add(user)
            try:
                await session.flush()
            except IntegrityError:
                raise _email_taken() from None  # a concurrent sign-up took it first
            session.add(UserProfile(user_id=user.id, display_name=request.display_name or None))
    except InvalidArgument as refused:
        if request.invite_token and refused.violations[0].field == "invite_token":
            await ctx.events.record(
                "signup_invite_refused", ip_hash=ip_hash, user_agent_hash=hashes.user_agent_hash
            )
        raise
    seat = None
    if reservation is not None:
        async with ctx.db.reading() as session:
            invite = await session.get(TenantSignupInvite, reservation.invite_id)
            seat = invites.team_seat(invite) if invite is not None else None
    return Pending(
        user_id=user.id,
        reservation_id=reservation.id if reservation else None,
        ip_hash=ip_hash,
        user_agent_hash=hashes.user_agent_hash,
        seat=seat,
    )


async def _finish(
    ctx: IdentityContext,
    session: AsyncSession,
    pending: Pending,
    tenant_id: str,
    device: pb.DeviceInfo,
) -> pb.SignUpResponse:
    """Step 3: activate, finalize the reservation, open the owner's first session."""
    user = await session.scalar(select(User).where(User.id == pending.user_id).with_for_update())
    if user is None or user.status != UserStatus.PENDING:
        raise RuntimeError(f"pending sign-up user {pending.user_id} vanished")
    user.status = UserStatus.ACTIVE
    invite_id = None
    if pending.reservation_id is not None:
        invite = await invites.finalize(session, pending.reservation_id, user.id, tenant_id)
        invite_id = str(invite.id)
    SecurityEvents.add(
        session,
        "signed_up",
        user_id=user.id,
        tenant_id=tenant_id,
        ip_hash=pending.ip_hash,
        user_agent_hash=pending.user_agent_hash,
        metadata={"invite_id": invite_id} if invite_id else None,
    )
    role = pending.seat.role if pending.seat else OWNER_ROLE
    # Called through the module so a test can make this last step fail.
    tokens = await opening.open_session(ctx, session, user, tenant_id, role, device)
    return pb.SignUpResponse(user=user_to_proto(user), tokens=tokens)


def _reason(error: BaseException) -> str:
    return error.reason if isinstance(error, DomainError) else type(error).__name__


async def _compensate(
    ctx: IdentityContext,
    request: pb.SignUpRequest,
    pending: Pending,
    *,
    stage: str,
    error: BaseException,
    tenant_id: str | None,
    tenant_unknown: bool = False,
) -> None:
    """Undo a sign-up that failed after step 1; never raises, so the caller's error stands."""
    details: dict[str, Any] = {
        "stage": stage,
        "reason": _reason(error),
        "attempted_user_id": str(pending.user_id),
    }
    try:
        if pending.seat is not None:
            # A team invite made no tenant: only the membership it added is undone.
            await tenancy_calls.remove_member(
                ctx, tenant_id=pending.seat.tenant_id, user_id=str(pending.user_id)
            )
            tenant_id = None
        elif tenant_id is None and tenant_unknown:
            tenant_id = await tenancy_calls.find_tenant(
                ctx,
                slug=request.tenant_slug,
                name=request.tenant_name,
                owner_user_id=str(pending.user_id),
                request_id=pending.request_id,
            )
        if tenant_id is not None and not await tenancy_calls.purge_tenant(ctx, tenant_id):
            # Left for an operator: the event names the tenant that could not be purged.
            details["unpurged_tenant_id"] = tenant_id
    except Exception:
        log.exception("could not undo the tenant of failed sign-up %s", pending.request_id)
        details["unpurged_tenant_id"] = tenant_id or "unknown"
    try:
        async with ctx.db.transaction() as session:
            if pending.reservation_id is not None:
                await invites.release(
                    session,
                    pending.reservation_id,
                    f"signup failed at {stage}: {details['reason']}",
                )
            await session.execute(delete(UserProfile).where(UserProfile.user_id == pending.user_id))
            await session.execute(
                delete(User).where(User.id == pending.user_id, User.status == UserStatus.PENDING)
            )
            SecurityEvents.add(
                session,
                "signup_failed",
                ip_hash=pending.ip_hash,
                user_agent_hash=pending.user_agent_hash,
                metadata=details,
            )
    except Exception:
        log.exception("could not remove the pending user of failed sign-up %s", pending.request_id)


async def sign_up(ctx: IdentityContext, request: pb.SignUpRequest) -> pb.SignUpResponse:
    joining = await invites.seat_of_token(ctx, request.invite_token) is not None
    validate(ctx, request, joining=joining)
    tenancy_calls.ensure_configured(ctx)
    # argon2 is slow on purpose: off the event loop, and before any lock is taken.
    password_hash = await asyncio.to_thread(ctx.secrets.passwords.hash, request.password)
    pending = await _begin(ctx, request, password_hash)

    def undo(stage: str, error: BaseException, **tenant: Any) -> asyncio.Future[None]:
        # Shielded: a caller hanging up mid-way must not stop the clean-up half-done.
        return asyncio.shield(
            _compensate(ctx, request, pending, stage=stage, error=error, **tenant)
        )

    if pending.seat is not None:
        try:
            await tenancy_calls.add_member(
                ctx,
                tenant_id=pending.seat.tenant_id,
                user_id=str(pending.user_id),
                role=pending.seat.role,
                request_id=pending.request_id,
            )
        except BaseException as error:  # the membership may exist: undo removes it if so
            await undo("add_member", error, tenant_id=None)
            raise
        try:
            async with ctx.db.transaction() as session:
                return await _finish(ctx, session, pending, pending.seat.tenant_id, request.device)
        except BaseException as error:
            await undo("finalize", error, tenant_id=None)
            raise

    try:
        tenant_id = await tenancy_calls.create_tenant(
            ctx,
            slug=request.tenant_slug,
            name=request.tenant_name,
            owner_user_id=str(pending.user_id),
            request_id=pending.request_id,
        )
    except tenancy_calls.TenantCreationFailed as failure:
        await undo(
            "create_tenant", failure.error, tenant_id=None, tenant_unknown=failure.maybe_created
        )
        raise failure.error from None
    except BaseException as error:  # cancelled or unexpected: the tenant may exist
        await undo("create_tenant", error, tenant_id=None, tenant_unknown=True)
        raise

    try:
        async with ctx.db.transaction() as session:
            return await _finish(ctx, session, pending, tenant_id, request.device)
    except BaseException as error:
        await undo("finalize", error, tenant_id=tenant_id)
        raise
