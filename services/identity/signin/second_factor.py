"""The second step of an MFA sign-in: a TOTP code (accepted once per window) or a recovery code
(accepted once), checked in the transaction that opens the session, so a code is spent only if
the session is opened. A wrong code counts toward lockout like a wrong password."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.mfa.codes import (
    TotpResult,
    active_totp_methods,
    check_totp,
    consume_recovery_code,
)
from services.identity.models import User, UserStatus
from services.identity.reasons import MFA_CHALLENGE_INVALID, MFA_CODE_INVALID, MFA_CODE_REPLAYED
from services.identity.sessions.opening import open_session
from services.identity.signin.attempts import (
    Attempt,
    invalid_credentials,
    locked_user,
    record_failure,
    record_success,
    status_reason,
)
from services.identity.signin.challenge import Challenge, ChallengeTokens
from services.identity.users_proto import user_to_proto
from shared.errors import DomainError, Unauthenticated


def challenge_invalid() -> Unauthenticated:
    return Unauthenticated(
        "the MFA challenge is invalid or has expired; sign in again",
        reason=MFA_CHALLENGE_INVALID,
    )


class SecondFactor:
    def __init__(self, ctx: IdentityContext, challenges: ChallengeTokens) -> None:
        self._ctx = ctx
        self._challenges = challenges

    async def complete(
        self,
        challenge: Challenge,
        role: str,
        request: pb.CompleteMfaSignInRequest,
        attempt: Attempt,
    ) -> pb.CompleteMfaSignInResponse:
        ctx = self._ctx
        challenges = self._challenges
        method = "totp" if request.totp_code else "recovery_code"
        refusal: DomainError | None = None
        response = pb.CompleteMfaSignInResponse()
        async with ctx.db.transaction() as session:
            user = await locked_user(session, challenge.user_id)
            if user is None or not challenges.binds(challenge, user.password_hash):
                refusal = challenge_invalid()
                ctx.events.add(
                    session,
                    "mfa_challenge_invalid",
                    user_id=user.id if user else None,
                    **attempt.event_fields(),
                    metadata={"reason": "password_changed" if user else "unknown_user"},
                )
            elif user.status != UserStatus.ACTIVE:
                record_failure(
                    ctx,
                    session,
                    user,
                    attempt,
                    event_type="sign_in_failed",
                    reason=status_reason(user.status),
                    counts=False,
                    tenant_id=challenge.tenant_id,
                )
                refusal = invalid_credentials()
            else:
                result = await self._check(session, user, request)
                if result == TotpResult.ACCEPTED:
                    record_success(session, user, attempt, challenge.tenant_id, method)
                    if method == "recovery_code":
                        ctx.events.add(
                            session,
                            "recovery_code_used",
                            user_id=user.id,
                            tenant_id=challenge.tenant_id,
                            **attempt.event_fields(),
                        )
                    tokens = await open_session(
                        ctx, session, user, challenge.tenant_id, role, request.device
                    )
                    response.tokens.CopyFrom(tokens)
                    response.user.CopyFrom(user_to_proto(user))
                elif result == TotpResult.REPLAYED:
                    # Someone saw a valid code; not a guess, so it does not count to lockout.
                    record_failure(
                        ctx,
                        session,
                        user,
                        attempt,
                        event_type="mfa_code_replayed",
                        reason=f"{method}_replayed",
                        counts=False,
                        tenant_id=challenge.tenant_id,
                    )
                    refusal = Unauthenticated(
                        "this code was already used; wait for the next one",
                        reason=MFA_CODE_REPLAYED,
                    )
                else:
                    record_failure(
                        ctx,
                        session,
                        user,
                        attempt,
                        event_type="mfa_code_invalid",
                        reason=f"{method}_invalid",
                        counts=True,
                        tenant_id=challenge.tenant_id,
                    )
                    refusal = Unauthenticated("the code is not valid", reason=MFA_CODE_INVALID)
        if refusal is not None:
            raise refusal
        return response

    async def _check(
        self, session: AsyncSession, user: User, request: pb.CompleteMfaSignInRequest
    ) -> TotpResult:
        ctx = self._ctx
        if request.recovery_code:
            used = await consume_recovery_code(
                session, user.id, request.recovery_code, ctx.secrets.hasher
            )
            return TotpResult.ACCEPTED if used else TotpResult.INVALID
        code = "".join(request.totp_code.split())
        replayed = False
        for method in await active_totp_methods(session, user.id):
            result = await check_totp(session, method, code, ctx.secrets.box)
            if result == TotpResult.ACCEPTED:
                return result
            replayed = replayed or result == TotpResult.REPLAYED
        return TotpResult.REPLAYED if replayed else TotpResult.INVALID
