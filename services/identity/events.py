"""Storing security events: from identity's own handlers (inside their transaction) and, as the
interceptor's sink, from refusals anywhere in the platform (in the background)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import SecurityEventRecord
from shared.background import TaskSet
from shared.db import Database
from shared.security_events import SecurityEvent

log = logging.getLogger("quarterdeck.identity.events")


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class SecurityEvents:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._pending = TaskSet("identity security events")

    @staticmethod
    def add(
        session: AsyncSession,
        event_type: str,
        *,
        source: str = "identity",
        user_id: uuid.UUID | str | None = None,
        tenant_id: uuid.UUID | str | None = None,
        ip_hash: str | None = None,
        user_agent_hash: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record an event in the caller's transaction: it lands only if the change lands."""
        session.add(
            SecurityEventRecord(
                event_type=event_type[:32],
                source=source[:32],
                user_id=_uuid_or_none(str(user_id)) if user_id else None,
                tenant_id=_uuid_or_none(str(tenant_id)) if tenant_id else None,
                ip_hash=ip_hash,
                user_agent_hash=user_agent_hash,
                metadata_json=metadata or None,
            )
        )

    async def record(self, event_type: str, **fields: Any) -> None:
        """Record an event in its own transaction (for refusals, whose transaction rolls back)."""
        async with self._db.transaction() as session:
            self.add(session, event_type, **fields)

    def sink(self, event: SecurityEvent) -> None:
        """The error interceptor's sink: store in the background, never failing the call."""

        async def store() -> None:
            try:
                await self.record(
                    event.event_type,
                    source=event.source,
                    user_id=event.user_id,
                    tenant_id=event.tenant_id,
                    metadata=event.metadata,
                )
            except Exception:
                log.exception("could not store security event %s", event.event_type)

        self._pending.spawn(store())

    async def close(self) -> None:
        """Give events still being stored 5 s, then drop them (shutdown)."""
        await self._pending.close(within_seconds=5)
