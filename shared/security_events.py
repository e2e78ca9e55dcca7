"""Security events: what a service saw that an operator must be able to find later.

Every refusal (UNAUTHENTICATED, PERMISSION_DENIED) passes the error interceptor, which hands it to
the service's sink: identity stores it, every other service reports it to identity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("quarterdeck.security")


@dataclass(frozen=True)
class SecurityEvent:
    event_type: str
    source: str
    tenant_id: str | None = None
    user_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


SecurityEventSink = Callable[[SecurityEvent], None]


def log_sink(event: SecurityEvent) -> None:
    """For a service with nowhere better to send events (no identity service configured)."""
    log.warning("security event %s %s", event.event_type, event.metadata)
