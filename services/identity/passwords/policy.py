"""Password rules and password changes: strength with clear messages, history against reuse."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import PasswordHistory, User
from services.identity.secrets import Passwords
from shared.errors import FieldViolation, InvalidArgument

MAX_PASSWORD_LENGTH = 256
_COMMON = {
    "password",
    "password1",
    "123456789012",
    "qwertyuiopas",
    "letmeinletmein",
    "correcthorsebatterystaple",
}


def strength_problems(password: str, email: str, min_length: int) -> list[str]:
    """Every rule the password breaks, each description opening with the rule's name."""
    problems = []
    if len(password) < min_length:
        problems.append(f"too short: must be at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"too long: must be at most {MAX_PASSWORD_LENGTH} characters")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        problems.append(
            "too simple: must mix at least three of: lowercase letters, uppercase letters, "
            "digits, symbols"
        )
    if password.lower() in _COMMON:
        problems.append("too common: it is among the passwords tried first by attackers")
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        problems.append("contains the email: must not include the part before the @")
    return problems


def check_strength(password: str, email: str, min_length: int, field: str) -> None:
    if problems := strength_problems(password, email, min_length):
        raise InvalidArgument([FieldViolation(field, problem) for problem in problems])


async def set_password(
    session: AsyncSession,
    user: User,
    new_password: str,
    passwords: Passwords,
    history_depth: int,
    field: str,
) -> None:
    """Replace the password, refusing the current one and the last ``history_depth`` before it.

    The history holds previous passwords only: the one being replaced moves into it here, so
    even the first password of an account is remembered after its first change.
    """
    previous = [(user.password_hash, user.password_pepper_version)]
    if history_depth:
        rows = await session.execute(
            select(PasswordHistory.password_hash, PasswordHistory.password_pepper_version)
            .where(PasswordHistory.user_id == user.id)
            .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id)
            .limit(history_depth)
        )
        previous += [(row[0], row[1]) for row in rows]
    if any(passwords.verify(new_password, h, v).ok for h, v in previous if h):
        raise InvalidArgument.field(
            field, f"reused: must differ from the current and last {history_depth} passwords"
        )
    if history_depth:
        session.add(
            PasswordHistory(
                user_id=user.id,
                password_hash=user.password_hash,
                password_pepper_version=user.password_pepper_version,
            )
        )
    user.password_hash = passwords.hash(new_password)
    user.password_pepper_version = passwords.current_version
    await session.flush()
    await _prune_history(session, user.id, history_depth)


async def _prune_history(session: AsyncSession, user_id: uuid.UUID, keep: int) -> None:
    keep_ids = (
        select(PasswordHistory.id)
        .where(PasswordHistory.user_id == user_id)
        .order_by(PasswordHistory.created_at.desc())
        .limit(max(keep, 1))
    )
    await session.execute(
        delete(PasswordHistory).where(
            PasswordHistory.user_id == user_id, PasswordHistory.id.not_in(keep_ids)
        )
    )
