"""TOTP enrollment and removal, and recovery codes, for the signed-in user.

A wrong code at confirmation is bad input from a caller who holds the secret, not a failed
authentication: it is INVALID_ARGUMENT naming ``code``, with reason MFA_CODE_INVALID (or
MFA_CODE_REPLAYED) and a security event, like a wrong code at sign-in.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.mfa.codes import (
    TotpResult,
    active_totp_methods,
    check_totp,
    new_totp_secret,
    provisioning_uri,
    replace_recovery_codes,
)
from services.identity.models import Base, MfaMethodType, UserMfaMethod, UserRecoveryCode
from services.identity.passwords.handlers import (
    Refusal,
    check_caller_password,
    load_caller,
    recording_refusals,
    require_user,
    rpc_path,
)
from services.identity.reasons import MFA_CODE_INVALID, MFA_CODE_REPLAYED
from shared.db import unique_violation
from shared.db_types import utcnow
from shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from shared.ids import parse_id

DEFAULT_LABEL = "authenticator"
MAX_LABEL_LENGTH = 64
#: Pending and active authenticators per user; enough for anyone, and no unbounded growth.
MAX_TOTP_METHODS = 10


def _label(raw: str) -> str:
    label = raw.strip() or DEFAULT_LABEL
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidArgument.field("label", f"must be at most {MAX_LABEL_LENGTH} characters")
    if not label.isprintable():
        raise InvalidArgument.field("label", "must not contain control characters")
    return label


def _label_taken(label: str) -> AlreadyExists:
    return AlreadyExists(
        f"an authenticator labelled {label!r} already exists",
        metadata={"field": "label", "label": label},
    )


async def _own_method(
    session: AsyncSession, user_id: uuid.UUID, method_id: uuid.UUID, *, unverified: bool = False
) -> UserMfaMethod:
    """One of the caller's live TOTP methods; anyone else's is indistinguishable from none."""
    query = select(UserMfaMethod).where(
        UserMfaMethod.id == method_id,
        UserMfaMethod.user_id == user_id,
        UserMfaMethod.method_type == MfaMethodType.TOTP,
        UserMfaMethod.revoked_at.is_(None),
    )
    if unverified:
        query = query.where(UserMfaMethod.verified_at.is_(None))
    method = await session.scalar(query.with_for_update())
    if method is None:
        raise NotFound(
            "no pending authenticator has this id" if unverified else "no authenticator has this id"
        )
    return method


class MfaHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def begin_totp_enrollment(
        self, request: pb.BeginTotpEnrollmentRequest
    ) -> pb.BeginTotpEnrollmentResponse:
        principal = require_user()
        label = _label(request.label)
        secret = new_totp_secret()
        try:
            async with self._ctx.db.transaction() as session:
                user = await load_caller(session, principal)
                live = await session.scalar(
                    select(func.count())
                    .select_from(UserMfaMethod)
                    .where(UserMfaMethod.user_id == user.id, UserMfaMethod.revoked_at.is_(None))
                )
                if (live or 0) >= MAX_TOTP_METHODS:
                    raise FailedPrecondition(
                        f"at most {MAX_TOTP_METHODS} authenticators; disable one first",
                        reason="TOO_MANY_MFA_METHODS",
                    )
                clash = await session.scalar(
                    select(UserMfaMethod).where(
                        UserMfaMethod.user_id == user.id, UserMfaMethod.label == label
                    )
                )
                if clash is not None:
                    if clash.revoked_at is None:
                        raise _label_taken(label)
                    # (user_id, label) is unique over all rows: the revoked one keeps its record
                    # but gives up the label.
                    clash.label = None
                    await session.flush()
                method = UserMfaMethod(
                    id=uuid.uuid4(),
                    user_id=user.id,
                    method_type=MfaMethodType.TOTP,
                    label=label,
                    secret_encrypted=self._ctx.secrets.box.encrypt(secret.encode()),
                )
                session.add(method)
                await session.flush()
                email = user.email
        except IntegrityError as exc:
            # A concurrent enrollment took the label between the check and the insert.
            if unique_violation(exc, Base.metadata) == ("user_id", "label"):
                raise _label_taken(label) from None
            raise
        return pb.BeginTotpEnrollmentResponse(
            method_id=str(method.id),
            secret=secret,
            otpauth_uri=provisioning_uri(secret, email, label),
        )

    async def confirm_totp_enrollment(
        self, request: pb.ConfirmTotpEnrollmentRequest
    ) -> pb.ConfirmTotpEnrollmentResponse:
        principal = require_user()
        method_id = parse_id(request.method_id, "method_id")
        code = request.code.strip()
        if not code:
            raise InvalidArgument.field("code", "is required")
        async with recording_refusals(self._ctx), self._ctx.db.transaction() as session:
            user = await load_caller(session, principal)
            method = await _own_method(session, user.id, method_id, unverified=True)
            result = await check_totp(session, method, code, self._ctx.secrets.box)
            if result is not TotpResult.ACCEPTED:
                replayed = result is TotpResult.REPLAYED
                raise Refusal(
                    InvalidArgument(
                        FieldViolation(
                            "code",
                            "was already used; wait for the next one"
                            if replayed
                            else "does not match the authenticator",
                        ),
                        reason=MFA_CODE_REPLAYED if replayed else MFA_CODE_INVALID,
                    ),
                    user_id=user.id,
                    tenant_id=principal.tenant_id,
                    metadata={
                        "method": rpc_path("ConfirmTotpEnrollment"),
                        "mfa_method_id": str(method.id),
                    },
                )
            method.verified_at = utcnow()
            codes = await replace_recovery_codes(session, user.id, self._ctx.secrets.hasher)
            self._ctx.events.add(
                session,
                "mfa_enrolled",
                user_id=user.id,
                tenant_id=principal.tenant_id,
                metadata={"mfa_method_id": str(method.id), "label": method.label or ""},
            )
        if principal.tenant_id:  # a user belongs to tenants: the feed is the one acted within
            self._ctx.activity.append(
                principal.tenant_id,
                "user.mfa_enrolled",
                object_type="user",
                object_id=str(user.id),
                object_name=user.email,
                summary=f"{user.email} enrolled an authenticator app",
                metadata={"mfa_method_id": str(method.id), "label": method.label or ""},
            )
        return pb.ConfirmTotpEnrollmentResponse(recovery_codes=codes)

    async def disable_totp(self, request: pb.DisableTotpRequest) -> pb.DisableTotpResponse:
        """Revokes a method, pending or active; the last active one takes the recovery codes
        with it, since they only stand in for a second factor the account no longer has."""
        principal = require_user()
        method_id = parse_id(request.method_id, "method_id")
        checked = await check_caller_password(
            self._ctx, principal, request.password, "password", "DisableTotp"
        )
        async with self._ctx.db.transaction() as session:
            user = await load_caller(session, principal, expected_hash=checked.password_hash)
            method = await _own_method(session, user.id, method_id)
            method.revoked_at = utcnow()
            method.revoked_reason = "disabled by the user"
            method.secret_encrypted = None  # a revoked secret is never needed again
            await session.flush()
            codes_dropped = not await active_totp_methods(session, user.id)
            if codes_dropped:
                await session.execute(
                    update(UserRecoveryCode)
                    .where(UserRecoveryCode.user_id == user.id, UserRecoveryCode.used_at.is_(None))
                    .values(used_at=utcnow())
                )
            self._ctx.events.add(
                session,
                "mfa_disabled",
                user_id=user.id,
                tenant_id=principal.tenant_id,
                metadata={
                    "mfa_method_id": str(method.id),
                    "recovery_codes_invalidated": str(codes_dropped).lower(),
                },
            )
        if principal.tenant_id:
            self._ctx.activity.append(
                principal.tenant_id,
                "user.mfa_removed",
                object_type="user",
                object_id=str(user.id),
                object_name=user.email,
                summary=f"{user.email} removed an authenticator app"
                + (", and with it their last second factor" if codes_dropped else ""),
                metadata={
                    "mfa_method_id": str(method.id),
                    "recovery_codes_invalidated": codes_dropped,
                },
            )
        return pb.DisableTotpResponse()

    async def regenerate_recovery_codes(
        self, request: pb.RegenerateRecoveryCodesRequest
    ) -> pb.RegenerateRecoveryCodesResponse:
        principal = require_user()
        checked = await check_caller_password(
            self._ctx, principal, request.password, "password", "RegenerateRecoveryCodes"
        )
        async with self._ctx.db.transaction() as session:
            user = await load_caller(session, principal, expected_hash=checked.password_hash)
            if not await active_totp_methods(session, user.id):
                raise FailedPrecondition(
                    "recovery codes need an active authenticator", reason="MFA_NOT_ENROLLED"
                )
            codes = await replace_recovery_codes(session, user.id, self._ctx.secrets.hasher)
            self._ctx.events.add(
                session,
                "recovery_codes_regenerated",
                user_id=user.id,
                tenant_id=principal.tenant_id,
            )
        return pb.RegenerateRecoveryCodesResponse(recovery_codes=codes)
