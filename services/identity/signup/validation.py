"""Input rules of sign-up, access requests and invites; each failure names its field."""

from __future__ import annotations

import re

from shared.errors import FieldViolation, InvalidArgument

MAX_EMAIL = 320
MAX_DISPLAY_NAME = 128
MAX_TENANT_NAME = 128
MAX_TENANT_SLUG = 64
MAX_ORGANIZATION = 128
MAX_FULL_NAME = 128
MAX_MESSAGE = 4000
MAX_REASON = 1000
MAX_NOTE = 1000
MAX_REDEMPTIONS = 1000
#: Far beyond any token Hasher.new_token makes; a longer one is not worth hashing.
MAX_INVITE_TOKEN = 256

# One local part, one domain with at least two labels; no spaces, no second '@'.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+$")


def email_problem(email: str) -> str | None:
    if not email:
        return "is required"
    if len(email) > MAX_EMAIL:
        return f"must be at most {MAX_EMAIL} characters"
    if not email.isprintable() or not _EMAIL.match(email):
        return "must be an email address such as ada@example.com"
    return None


def length_problem(value: str, maximum: int, *, required: bool = False) -> str | None:
    if required and not value.strip():
        return "is required"
    if len(value) > maximum:
        return f"must be at most {maximum} characters"
    return None


def collect(checks: dict[str, str | None]) -> list[FieldViolation]:
    return [FieldViolation(field, problem) for field, problem in checks.items() if problem]


def raise_if_any(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(violations)
