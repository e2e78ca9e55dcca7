"""Input rules for tenants and their settings; each failure names the offending field."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from shared.errors import FieldViolation, InvalidArgument

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
DOMAIN_PATTERN = re.compile(
    r"^(?=.{1,255}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_NAME = 128
MAX_WEBHOOK_URL = 512
MAX_BILLING_CONTACTS = 20


def slug_problem(slug: str) -> str | None:
    if not slug:
        return "is required"
    if not SLUG_PATTERN.match(slug):
        return (
            "must be 1 to 64 lowercase letters, digits or hyphens, starting and ending with a "
            "letter or digit"
        )
    return None


def name_problem(name: str) -> str | None:
    if not name.strip():
        return "is required"
    if len(name) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    return None


def domain_problem(domain: str) -> str | None:
    if domain and not DOMAIN_PATTERN.match(domain):
        return "must be a DNS name such as example.com, in lowercase"
    return None


def webhook_url_problem(url: str) -> str | None:
    if not url:
        return None
    if len(url) > MAX_WEBHOOK_URL:
        return f"must be at most {MAX_WEBHOOK_URL} characters"
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        return "must be an absolute http or https URL"
    return None


def billing_contacts_problems(contacts: list[str], field: str) -> list[FieldViolation]:
    if len(contacts) > MAX_BILLING_CONTACTS:
        return [FieldViolation(field, f"may hold at most {MAX_BILLING_CONTACTS} addresses")]
    return [
        FieldViolation(f"{field}[{i}]", "must be an email address")
        for i, contact in enumerate(contacts)
        if not EMAIL_PATTERN.match(contact)
    ]


def raise_if_any(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(violations)
