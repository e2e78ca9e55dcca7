"""Stripe's webhook signature scheme, exactly as Stripe's own libraries check it.

The ``Stripe-Signature`` header is ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` (other schemes,
such as ``v0``, are ignored); each ``v1`` is the hex HMAC-SHA256 of ``"<t>." + raw body`` keyed
with the endpoint secret. Several ``v1`` appear while a secret is being rolled: one match is
enough. A timestamp older than the tolerance is refused, so a captured delivery cannot be
replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """Why a signature was refused: ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def compute_signature(secret: str, timestamp: int, payload: bytes) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, payload: bytes) -> str:
    """The header Stripe would send (for tests and tools)."""
    return f"t={timestamp},{SCHEME}={compute_signature(secret, timestamp, payload)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if timestamp is not None:
                raise SignatureError("malformed_header", "the header has several timestamps")
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("malformed_header", "the timestamp is not a number") from None
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("no_timestamp", "the header has no timestamp")
    if not signatures:
        raise SignatureError("no_signature", f"the header has no {SCHEME} signature")
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str,
    secret: str,
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """The signed timestamp if ``header`` signs ``payload`` with ``secret``; SignatureError if not."""
    if not header:
        raise SignatureError("missing_header", "the Stripe-Signature header is missing")
    timestamp, signatures = _parse(header)
    expected = compute_signature(secret, timestamp, payload)
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures):
        raise SignatureError("no_matching_signature", "no signature matches the payload")
    if timestamp < now - tolerance:
        raise SignatureError("timestamp_outside_tolerance", "the signature is too old")
    return timestamp
