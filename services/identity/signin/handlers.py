"""Sign-in: password, then (when enrolled) a second factor; refresh; sign-out.

Every refusal of credentials is the same UNAUTHENTICATED INVALID_CREDENTIALS whatever the cause
(unknown email, wrong password, an account that may not sign in), and each costs exactly one
argon2 verification, so neither the answer nor its timing tells whether an account exists.
argon2 runs in a worker thread so a sign-in does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import NoReturn

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.mfa.codes import active_totp_methods
from services.identity.models import User, UserStatus
from services.identity.passwords.policy import MAX_PASSWORD_LENGTH
from services.identity.secrets import PasswordCheck
from services.identity.sessions.ending import SIGNED_OUT, require_user, revoke_session
from services.identity.sessions.opening import open_session
from services.identity.signin.attempts import (
    FAILURE,
    MFA_REQUIRED,
    Attempt,
    add_login_event,
    find_user_by_email,
    invalid_credentials,
    locked_user,
    record_failure,
    record_success,
    status_reason,
)
from services.identity.signin.challenge import ChallengeTokens, InvalidChallenge
from services.identity.signin.refresh import SessionRefresher
from services.identity.signin.second_factor import SecondFactor, challenge_invalid
from services.identity.tenancy_client import TenancyClient
from services.identity.users_proto import user_to_proto
from shared.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from shared.timestamps import to_timestamp

MAX_EMAIL_LENGTH = 320
MFA_METHODS = ("totp", "recovery_code")


def _not_a_member() -> PermissionDenied:
    return PermissionDenied("the user is not a member of this tenant", reason="NOT_A_MEMBER")


def _credentials(request: pb.SignInRequest) -> tuple[str, str, str | None]:
    """(email, password, tenant id or None), or INVALID_ARGUMENT naming every bad field."""
    email = request.email.strip()
    violations = []
    if not email:
        violations.append(FieldViolation("email", "is required"))
    elif len(email) > MAX_EMAIL_LENGTH:
        violations.append(FieldViolation("email", f"must be at most {MAX_EMAIL_LENGTH} characters"))
    if not request.password:
        violations.append(FieldViolation("password", "is required"))
    elif len(request.password) > MAX_PASSWORD_LENGTH:
        violations.append(
            FieldViolation("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
        )
    tenant_id = None
    if request.tenant_id:
        try:
            tenant_id = str(uuid.UUID(request.tenant_id))
        except ValueError:
            violations.append(FieldViolation("tenant_id", "must be a UUID"))
    if violations:
        raise InvalidArgument(violations)
    return email, request.password, tenant_id


class SignInHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx
        self._challenges = ChallengeTokens(
            ctx.secrets.hasher, ctx.settings.mfa_challenge_ttl_seconds
        )
        self._refresher = SessionRefresher(ctx)
        self._second_factor = SecondFactor(ctx, self._challenges)

    def _tenancy(self) -> TenancyClient:
        if self._ctx.tenancy is None:
            raise FailedPrecondition(
                "sign-in needs the tenancy service, and none is configured",
                reason="TENANCY_NOT_CONFIGURED",
            )
        return self._ctx.tenancy

    async def _refuse(
        self,
        user_id: uuid.UUID,
        attempt: Attempt,
        *,
        event_type: str,
        reason: str,
        counts: bool,
        tenant_id: str | None = None,
    ) -> None:
        """Store a refused attempt on a known account (its own transaction: it must land)."""
        async with self._ctx.db.transaction() as session:
            user = await locked_user(session, user_id)
            if user is not None:
                record_failure(
                    self._ctx,
                    session,
                    user,
                    attempt,
                    event_type=event_type,
                    reason=reason,
                    counts=counts,
                    tenant_id=tenant_id,
                )

    async def _tenant_and_role(
        self, tenancy: TenancyClient, user: User, requested: str | None, attempt: Attempt
    ) -> tuple[str, str]:
        role: str | None = None
        tenant_id = requested
        if tenant_id is None:
            try:
                tenant_id, role = await tenancy.first_membership(str(user.id))
            except NotFound:
                tenant_id = None
        else:
            role = await tenancy.role_in(tenant_id, str(user.id))
        if tenant_id is None or role is None:
            async with self._ctx.db.transaction() as session:
                add_login_event(
                    session, user.id, attempt, FAILURE, tenant_id=None, reason="not_a_member"
                )
            raise _not_a_member()
        return tenant_id, role

    async def sign_in(self, request: pb.SignInRequest) -> pb.SignInResponse:
        email, password, requested_tenant = _credentials(request)
        tenancy = self._tenancy()
        ctx = self._ctx
        passwords = ctx.secrets.passwords
        attempt = Attempt.of(ctx, request.device)
        async with ctx.db.reading() as session:
            user = await find_user_by_email(session, email)
        if user is None:
            await asyncio.to_thread(passwords.verify_decoy, password)
            await ctx.events.record(
                "sign_in_failed",
                **attempt.event_fields(),
                metadata={
                    "reason": "unknown_email",
                    "email_hash": ctx.secrets.hasher.hash(f"email:{email.lower()}"),
                },
            )
            raise invalid_credentials()
        check: PasswordCheck = await asyncio.to_thread(
            passwords.verify, password, user.password_hash, user.password_pepper_version
        )
        if not check.ok or user.status != UserStatus.ACTIVE:
            await self._refuse(
                user.id,
                attempt,
                event_type="sign_in_failed",
                reason="wrong_password" if not check.ok else status_reason(user.status),
                counts=not check.ok,
            )
            raise invalid_credentials()

        tenant_id, role = await self._tenant_and_role(tenancy, user, requested_tenant, attempt)
        async with ctx.db.reading() as session:
            mfa_enrolled = bool(await active_totp_methods(session, user.id))
        # A retired pepper or old argon2 parameters: upgrade while we hold the password (hashed
        # before the write transaction, which should stay short).
        rehashed = await asyncio.to_thread(passwords.hash, password) if check.needs_rehash else None

        refused: str | None = None
        response = pb.SignInResponse()
        async with ctx.db.transaction() as session:
            current = await locked_user(session, user.id)
            if current is None or current.status != UserStatus.ACTIVE:
                # Locked or disabled while the password was being checked.
                refused = status_reason(current.status) if current else "account_deleted"
            else:
                if rehashed is not None and current.password_hash == user.password_hash:
                    current.password_hash = rehashed
                    current.password_pepper_version = passwords.current_version
                if mfa_enrolled:
                    # The failure count is kept until the second factor passes too, or a known
                    # password would reset it between guesses of the code.
                    add_login_event(session, current.id, attempt, MFA_REQUIRED, tenant_id=tenant_id)
                    token, expires = self._challenges.mint(
                        current.id, tenant_id, role, current.password_hash
                    )
                    response.mfa_challenge.CopyFrom(
                        pb.MfaChallenge(
                            mfa_token=token,
                            methods=list(MFA_METHODS),
                            expire_time=to_timestamp(expires),
                        )
                    )
                else:
                    record_success(session, current, attempt, tenant_id, "password")
                    tokens = await open_session(
                        ctx, session, current, tenant_id, role, request.device
                    )
                    response.tokens.CopyFrom(tokens)
                    response.user.CopyFrom(user_to_proto(current))
        if refused is not None:
            await self._refuse(
                user.id, attempt, event_type="sign_in_failed", reason=refused, counts=False
            )
            raise invalid_credentials()
        return response

    async def _refuse_challenge(self, attempt: Attempt) -> NoReturn:
        await self._ctx.events.record(
            "mfa_challenge_invalid", **attempt.event_fields(), metadata={"reason": "token"}
        )
        raise challenge_invalid()

    async def complete_mfa_sign_in(
        self, request: pb.CompleteMfaSignInRequest
    ) -> pb.CompleteMfaSignInResponse:
        if not request.mfa_token:
            raise InvalidArgument.field("mfa_token", "is required")
        if bool(request.totp_code) == bool(request.recovery_code):
            raise InvalidArgument(
                [
                    FieldViolation("totp_code", "set exactly one of totp_code and recovery_code"),
                    FieldViolation(
                        "recovery_code", "set exactly one of totp_code and recovery_code"
                    ),
                ]
            )
        tenancy = self._tenancy()
        ctx = self._ctx
        attempt = Attempt.of(ctx, request.device)
        try:
            challenge = self._challenges.open(request.mfa_token)
        except InvalidChallenge:
            await self._refuse_challenge(attempt)
        # The membership may have ended since the password step: read the role again.
        role = await tenancy.role_in(challenge.tenant_id, str(challenge.user_id))
        if role is None:
            raise _not_a_member()

        return await self._second_factor.complete(challenge, role, request, attempt)

    async def refresh_session(self, request: pb.RefreshSessionRequest) -> pb.RefreshSessionResponse:
        if not request.refresh_token:
            raise InvalidArgument.field("refresh_token", "is required")
        tokens = await self._refresher.refresh(
            self._tenancy(), request.refresh_token, request.device
        )
        return pb.RefreshSessionResponse(tokens=tokens)

    async def sign_out(self, request: pb.SignOutRequest) -> pb.SignOutResponse:
        principal, user_id = require_user()
        if not principal.session_id:
            raise FailedPrecondition("this access token belongs to no session", reason="NO_SESSION")
        try:
            session_id = uuid.UUID(principal.session_id)
        except ValueError:
            raise FailedPrecondition(
                "this access token belongs to no session", reason="NO_SESSION"
            ) from None
        async with self._ctx.db.transaction() as session:
            if await revoke_session(session, session_id, SIGNED_OUT, user_id=user_id):
                self._ctx.events.add(
                    session,
                    "signed_out",
                    user_id=user_id,
                    tenant_id=principal.tenant_id,
                    metadata={"session_id": str(session_id)},
                )
        return pb.SignOutResponse()
