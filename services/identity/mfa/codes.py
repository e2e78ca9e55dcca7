"""TOTP and recovery codes: the checks sign-in makes and the material enrollment creates.

A TOTP code is accepted once: the method remembers the last accepted time step, and a code for
that step or an earlier one is refused as a replay. Secrets are encrypted at rest; recovery codes
are stored as keyed hashes and each works once.
"""

from __future__ import annotations

import secrets
import time
import uuid
from enum import Enum

import pyotp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import MfaMethodType, UserMfaMethod, UserRecoveryCode
from services.identity.secrets import Hasher
from shared.db import rows_matched
from shared.db_types import utcnow
from shared.secret_box import SecretBox

TOTP_ISSUER = "Quarterdeck"
TOTP_INTERVAL = 30
#: Codes of the previous and next window are accepted too, for clock drift.
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class TotpResult(Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"
    REPLAYED = "replayed"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, label: str) -> str:
    return pyotp.TOTP(secret, interval=TOTP_INTERVAL).provisioning_uri(
        name=f"{email} ({label})" if label else email, issuer_name=TOTP_ISSUER
    )


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code equals ``code``, within the drift window, or None."""
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_INTERVAL)
    current = int((now if now is not None else time.time()) // TOTP_INTERVAL)
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def check_totp(
    session: AsyncSession, method: UserMfaMethod, code: str, box: SecretBox
) -> TotpResult:
    """Accept ``code`` for ``method`` at most once; the step is claimed with a conditional update,
    so two concurrent uses of one code cannot both pass."""
    if method.secret_encrypted is None:
        return TotpResult.INVALID
    step = matching_step(box.decrypt(method.secret_encrypted).decode(), code)
    if step is None:
        return TotpResult.INVALID
    claimed = await session.execute(
        update(UserMfaMethod)
        .where(
            UserMfaMethod.id == method.id,
            (UserMfaMethod.last_used_step.is_(None)) | (UserMfaMethod.last_used_step < step),
        )
        .values(last_used_step=step, last_used_at=utcnow())
    )
    return TotpResult.ACCEPTED if rows_matched(claimed) == 1 else TotpResult.REPLAYED


async def active_totp_methods(session: AsyncSession, user_id: uuid.UUID) -> list[UserMfaMethod]:
    return list(
        await session.scalars(
            select(UserMfaMethod).where(
                UserMfaMethod.user_id == user_id,
                UserMfaMethod.method_type == MfaMethodType.TOTP,
                UserMfaMethod.verified_at.is_not(None),
                UserMfaMethod.revoked_at.is_(None),
            )
        )
    )


def new_recovery_codes() -> list[str]:
    def one() -> str:
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        return f"{raw[:5]}-{raw[5:]}"

    return [one() for _ in range(RECOVERY_CODE_COUNT)]


def normalize_recovery_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")


async def replace_recovery_codes(
    session: AsyncSession, user_id: uuid.UUID, hasher: Hasher
) -> list[str]:
    """Invalidate every unused code of the user and store fresh ones; returns them in clear once."""
    await session.execute(
        update(UserRecoveryCode)
        .where(UserRecoveryCode.user_id == user_id, UserRecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    codes = new_recovery_codes()
    session.add_all(
        UserRecoveryCode(user_id=user_id, code_hash=hasher.hash(normalize_recovery_code(code)))
        for code in codes
    )
    await session.flush()
    return codes


async def consume_recovery_code(
    session: AsyncSession, user_id: uuid.UUID, code: str, hasher: Hasher
) -> bool:
    """Use one recovery code; the conditional update makes a code work exactly once."""
    used = await session.execute(
        update(UserRecoveryCode)
        .where(
            UserRecoveryCode.user_id == user_id,
            UserRecoveryCode.code_hash == hasher.hash(normalize_recovery_code(code)),
            UserRecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return rows_matched(used) == 1
