"""Sign-up, access requests and invites (DESIGN flow 2). The saga itself is in saga.py."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.events import SecurityEvents
from services.identity.models import (
    ReservationStatus,
    SignupRequestStatus,
    TenantSignupInvite,
    TenantSignupInviteReservation,
    TenantSignupRequest,
)
from services.identity.sessions.opening import device_hashes
from services.identity.signup import invites, saga
from services.identity.signup.team import TeamHandlers, acting_user, may_revoke
from services.identity.signup.validation import (
    MAX_FULL_NAME,
    MAX_MESSAGE,
    MAX_NOTE,
    MAX_ORGANIZATION,
    MAX_REASON,
    MAX_REDEMPTIONS,
    collect,
    email_problem,
    length_problem,
    raise_if_any,
)
from shared.auth import (
    Principal,
    require_operator,
    require_tenant,
    reset_principal,
    set_principal,
)
from shared.db_types import utcnow
from shared.errors import FailedPrecondition, InvalidArgument, NotFound
from shared.ids import parse_id
from shared.pagination import fetch_page
from shared.proto_enums import to_proto_map
from shared.timestamps import from_timestamp, to_timestamp

log = logging.getLogger("quarterdeck.identity.signup")

APPROVAL_INVITE_TTL = timedelta(days=7)
HONEYPOT_REASON = "honeypot"
REQUEST_STATUS_TO_PROTO = to_proto_map(pb.SignupRequestStatus, SignupRequestStatus)
REQUEST_STATUS_FROM_PROTO = {v: k for k, v in REQUEST_STATUS_TO_PROTO.items()}


def signup_request_to_proto(row: TenantSignupRequest) -> pb.SignupRequest:
    return pb.SignupRequest(
        id=str(row.id),
        email=row.email,
        organization=row.organization or "",
        full_name=row.full_name or "",
        message=row.message or "",
        status=REQUEST_STATUS_TO_PROTO[row.status],
        decision_reason=row.decision_reason or "",
        decide_time=to_timestamp(row.decided_at),
        create_time=to_timestamp(row.created_at),
    )


class SignupHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx
        self.team = TeamHandlers(ctx)

    async def sign_up(self, request: pb.SignUpRequest) -> pb.SignUpResponse:
        response = await saga.sign_up(self._ctx, request)
        if request.invite_token and self._ctx.activity.enabled:
            try:
                await self._append_invite_redeemed(request.invite_token, response.user.id)
            except Exception:  # the sign-up is done: a missed feed entry must not undo it
                log.exception("could not append the invite redemption of user %s", response.user.id)
        return response

    async def _append_invite_redeemed(self, invite_token: str, user_id: str) -> None:
        """``invite.redeemed`` in the tenant's feed (new, or joined with a team invite), by the
        new user (the sign-up is public, so the RPC has no principal of its own)."""
        async with self._ctx.db.reading() as session:
            redeemed = (
                await session.execute(
                    select(TenantSignupInvite, TenantSignupInviteReservation.tenant_id)
                    .join(
                        TenantSignupInviteReservation,
                        TenantSignupInviteReservation.invite_id == TenantSignupInvite.id,
                    )
                    .where(
                        TenantSignupInvite.token_hash
                        == self._ctx.secrets.hasher.hash(invite_token),
                        TenantSignupInviteReservation.user_id == uuid.UUID(user_id),
                        TenantSignupInviteReservation.status == ReservationStatus.FINALIZED,
                    )
                )
            ).first()
        if redeemed is None or redeemed.tenant_id is None:
            return
        invite, tenant_id = redeemed.TenantSignupInvite, str(redeemed.tenant_id)
        seat = invites.team_seat(invite)
        role = seat.role if seat else saga.OWNER_ROLE
        owner = Principal(subject=user_id, kind="user", tenant_id=tenant_id, role=role)
        token = set_principal(owner)
        try:
            self._ctx.activity.append(
                tenant_id,
                "invite.redeemed",
                object_type="invite",
                object_id=str(invite.id),
                object_name=invite.token_hint,
                summary=f"Invite {invite.token_hint}… was redeemed: a new user joined as {role}"
                if seat
                else f"Invite {invite.token_hint}… was redeemed to sign this tenant up",
                metadata={
                    "user_id": user_id,
                    "redeemed_count": invite.redeemed_count,
                    "max_redemptions": invite.max_redemptions,
                },
            )
        finally:
            reset_principal(token)

    def _append_invite_event(
        self,
        principal: Principal,
        action: str,
        invite: TenantSignupInvite,
        summary: str,
        metadata: dict[str, Any],
    ) -> None:
        """An invite event in the feed of the tenant the operator acts within. Invites belong
        to the platform, not to a tenant: an operator acting outside any tenant has no feed."""
        tenant_id = str(invite.issuer_tenant_id) if invite.issuer_tenant_id else principal.tenant_id
        if tenant_id is None:
            return
        self._ctx.activity.append(
            tenant_id,
            action,
            object_type="invite",
            object_id=str(invite.id),
            object_name=invite.token_hint,
            summary=summary,
            metadata=metadata,
        )

    async def request_access(self, request: pb.RequestAccessRequest) -> pb.RequestAccessResponse:
        raise_if_any(
            collect(
                {
                    "email": email_problem(request.email),
                    "organization": length_problem(request.organization, MAX_ORGANIZATION),
                    "full_name": length_problem(request.full_name, MAX_FULL_NAME),
                    "message": length_problem(request.message, MAX_MESSAGE),
                }
            )
        )
        hashes = device_hashes(self._ctx, request.device)
        # A bot that filled the hidden field gets the same answer as a human, so it learns
        # nothing; its request is stored already rejected, never shown as pending.
        bot = bool(request.honeypot)
        row = TenantSignupRequest(
            id=uuid.uuid4(),
            email=request.email,
            organization=request.organization or None,
            full_name=request.full_name or None,
            message=request.message or None,
            status=SignupRequestStatus.REJECTED if bot else SignupRequestStatus.PENDING,
            decision_reason=HONEYPOT_REASON if bot else None,
            decided_at=utcnow() if bot else None,
            ip_address=hashes.ip_hash if request.device.ip_address else None,
            user_agent=hashes.user_agent_hash,
            honeypot_value=request.honeypot[:64] if bot else None,
        )
        async with self._ctx.db.transaction() as session:
            session.add(row)
            if bot:
                SecurityEvents.add(
                    session,
                    "signup_request_honeypot",
                    ip_hash=row.ip_address,
                    user_agent_hash=hashes.user_agent_hash,
                    metadata={"signup_request_id": str(row.id)},
                )
        return pb.RequestAccessResponse(id=str(row.id))

    async def list_signup_requests(
        self, request: pb.ListSignupRequestsRequest
    ) -> pb.ListSignupRequestsResponse:
        require_operator()
        statement = select(TenantSignupRequest)
        filters: dict[str, str] = {}
        if request.status != pb.SIGNUP_REQUEST_STATUS_UNSPECIFIED:
            status = REQUEST_STATUS_FROM_PROTO.get(request.status)
            if status is None:
                raise InvalidArgument.field("status", "must be PENDING, APPROVED or REJECTED")
            statement = statement.where(TenantSignupRequest.status == status)
            filters["status"] = status.value
        async with self._ctx.db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(TenantSignupRequest.created_at, TenantSignupRequest.id),
                position_of=lambda row: (row.created_at, row.id),
                codec=self._ctx.pages,
                query="IdentityService.ListSignupRequests",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListSignupRequestsResponse(
            requests=[signup_request_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def decide_signup_request(
        self, request: pb.DecideSignupRequestRequest
    ) -> pb.DecideSignupRequestResponse:
        principal = require_operator()
        request_id = parse_id(request.id, "id")
        raise_if_any(collect({"reason": length_problem(request.reason, MAX_REASON)}))
        token = ""
        async with self._ctx.db.transaction() as session:
            row = await session.scalar(
                select(TenantSignupRequest)
                .where(TenantSignupRequest.id == request_id)
                .with_for_update()
            )
            if row is None:
                raise NotFound(
                    f"signup request {request_id} not found", reason="SIGNUP_REQUEST_NOT_FOUND"
                )
            if row.status != SignupRequestStatus.PENDING:
                raise FailedPrecondition(
                    f"the request was already {row.status.value}",
                    reason="SIGNUP_REQUEST_DECIDED",
                )
            actor = await acting_user(session, principal)
            now = utcnow()
            metadata = {"signup_request_id": str(row.id), "operator": principal.subject}
            if request.approve:
                invite, token = invites.new_invite(
                    self._ctx,
                    invited_email=row.email,
                    max_redemptions=1,
                    expires_at=now + APPROVAL_INVITE_TTL,
                    note="approved access request",
                    issuer_user_id=actor,
                    signup_request_id=row.id,
                )
                session.add(invite)
                row.status = SignupRequestStatus.APPROVED
                row.invite_token_hint = invite.token_hint
                metadata["invite_id"] = str(invite.id)
            else:
                row.status = SignupRequestStatus.REJECTED
            row.decision_reason = request.reason or None
            row.decided_at = now
            row.decided_by = actor
            SecurityEvents.add(
                session,
                "signup_request_approved" if request.approve else "signup_request_rejected",
                user_id=actor,
                metadata=metadata,
            )
            await session.flush()
            response = pb.DecideSignupRequestResponse(
                request=signup_request_to_proto(row), invite_token=token
            )
        if request.approve:  # committed; the token itself never leaves this response
            self._append_invite_event(
                principal,
                "invite.created",
                invite,
                f"Invite {invite.token_hint}… was created for an approved access request",
                {"signup_request_id": str(request_id), "max_redemptions": 1},
            )
        return response

    async def create_invite(self, request: pb.CreateInviteRequest) -> pb.CreateInviteResponse:
        if request.tenant_id or request.role:
            return await self.team.create_team_invite(request)
        principal = require_operator()
        max_redemptions = request.max_redemptions or 1
        now = utcnow()
        expires_at = None
        expire_problem = None
        if request.HasField("expire_time"):
            try:
                expires_at = from_timestamp(request.expire_time)
            except (ValueError, OverflowError):
                expire_problem = "must be a valid time"
            else:
                if expires_at <= now:
                    expire_problem = "must be in the future"
        raise_if_any(
            collect(
                {
                    "invited_email": email_problem(request.invited_email)
                    if request.invited_email
                    else None,
                    "max_redemptions": None
                    if 1 <= max_redemptions <= MAX_REDEMPTIONS
                    else f"must be between 1 and {MAX_REDEMPTIONS} (0 means 1)",
                    "expire_time": expire_problem,
                    "note": length_problem(request.note, MAX_NOTE),
                }
            )
        )
        async with self._ctx.db.transaction() as session:
            actor = await acting_user(session, principal)
            invite, token = invites.new_invite(
                self._ctx,
                invited_email=request.invited_email or None,
                max_redemptions=max_redemptions,
                expires_at=expires_at,
                note=request.note or None,
                issuer_user_id=actor,
            )
            session.add(invite)
            SecurityEvents.add(
                session,
                "invite_created",
                user_id=actor,
                metadata={
                    "invite_id": str(invite.id),
                    "operator": principal.subject,
                    "max_redemptions": max_redemptions,
                },
            )
            await session.flush()
            response = pb.CreateInviteResponse(
                invite=invites.invite_to_proto(invite, now), token=token
            )
        created: dict[str, Any] = {
            "max_redemptions": max_redemptions,
            "for_one_email": bool(request.invited_email),
        }
        if response.invite.HasField("expire_time"):
            created["expire_time"] = response.invite.expire_time.ToJsonString()
        self._append_invite_event(
            principal,
            "invite.created",
            invite,
            f"Invite {invite.token_hint}… was created for {max_redemptions} sign-up(s)",
            created,
        )
        return response

    async def list_invites(self, request: pb.ListInvitesRequest) -> pb.ListInvitesResponse:
        if request.tenant_id:
            return await self.team.list_team_invites(request)
        require_operator()
        async with self._ctx.db.reading() as session:
            page = await fetch_page(
                session,
                select(TenantSignupInvite),
                sort_key=(TenantSignupInvite.created_at, TenantSignupInvite.id),
                position_of=lambda row: (row.created_at, row.id),
                codec=self._ctx.pages,
                query="IdentityService.ListInvites",
                filters={},
                page_size=request.page_size,
                page_token=request.page_token,
            )
        now = utcnow()
        return pb.ListInvitesResponse(
            invites=[invites.invite_to_proto(row, now) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def revoke_invite(self, request: pb.RevokeInviteRequest) -> pb.RevokeInviteResponse:
        # A tenant's admins revoke its team invites; without a tenant, only operators revoke.
        principal = (
            require_tenant(str(parse_id(request.tenant_id, "tenant_id")), "admin")
            if request.tenant_id
            else require_operator()
        )
        invite_id = parse_id(request.id, "id")
        raise_if_any(collect({"reason": length_problem(request.reason, MAX_REASON)}))
        revoked_now = False
        async with self._ctx.db.transaction() as session:
            invite = await session.scalar(
                select(TenantSignupInvite)
                .where(TenantSignupInvite.id == invite_id)
                .with_for_update()
            )
            if invite is None or not may_revoke(principal, invite, request.tenant_id):
                raise NotFound(f"invite {invite_id} not found", reason="INVITE_NOT_FOUND")
            # Revoking twice changes nothing: the first revocation's time and reason stand.
            if invite.revoked_at is None:
                await invites.revoke(session, invite, request.reason or None)
                SecurityEvents.add(
                    session,
                    "invite_revoked",
                    user_id=await acting_user(session, principal),
                    tenant_id=invite.issuer_tenant_id,
                    metadata={"invite_id": str(invite.id), "by": principal.subject},
                )
                revoked_now = True
            response = pb.RevokeInviteResponse(invite=invites.invite_to_proto(invite))
        if revoked_now:  # committed; revoking again appends nothing
            self._append_invite_event(
                principal,
                "invite.revoked",
                invite,
                f"Invite {invite.token_hint}… was revoked",
                {"reason": request.reason, "redeemed_count": invite.redeemed_count},
            )
        return response
