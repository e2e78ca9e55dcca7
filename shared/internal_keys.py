"""A process's internal API key and how identity's internal_clients setting names it: plain
string work, kept apart from shared.identity_link (gRPC stubs, tokens, tracing) so that
`quarterdeck up` can write every child's settings before importing any of that."""

from __future__ import annotations

import hashlib

INTERNAL_KEY_PREFIX = "qdi_"


def internal_api_key(service: str, secret: str) -> str:
    """The key a service exchanges for its internal access token."""
    return f"{INTERNAL_KEY_PREFIX}{service}_{secret}"


def internal_client_entry(service: str, secret: str) -> str:
    """``service:sha256`` of its internal key: how identity's internal_clients setting names it."""
    return f"{service}:{hashlib.sha256(internal_api_key(service, secret).encode()).hexdigest()}"
