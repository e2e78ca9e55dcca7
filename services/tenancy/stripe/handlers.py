"""The Stripe inbox: verify, store once, dispatch with leases, retries and a dead letter.

* **Ingest** verifies the signature over the raw body (see :mod:`.signature`), then stores
  the event under its Stripe id with one ``stripe_event_dispatch`` row (pending, 0 attempts, due
  now) in one transaction. A redelivery finds the stored event and changes nothing. A refused
  signature stores nothing: it is logged with its reason, and the UNAUTHENTICATED answer passes
  the error interceptor, which reports it as a security event.
* **Dispatch** claims a due row with one conditional UPDATE (pending, or failed and due, or
  processing with an expired lease → processing with a new lease token and expiry, attempts + 1):
  of two dispatchers racing for a row exactly one updates it. The handler's changes and the
  "done" mark commit in one transaction, and only while the lease is still this dispatcher's, so
  an event is applied once even when a slow dispatcher's lease was taken over. A failure sets
  ``failed`` with an exponential backoff (or ``dead`` after the last allowed attempt) and the
  error text.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from quarterdeck.tenancy.v1 import stripe_pb2 as pb
from services.tenancy.context import TenancyContext
from services.tenancy.stripe import events as stripe_events
from services.tenancy.stripe.models import (
    TENANCY_HANDLER,
    DispatchStatus,
    Outcome,
    StripeDispatchRecord,
    StripeEventRecord,
)
from services.tenancy.stripe.signature import SignatureError, verify
from shared.auth import require_operator
from shared.db import Database, rows_matched
from shared.db_types import utcnow
from shared.errors import InvalidArgument, Unauthenticated, Unavailable

log = logging.getLogger("quarterdeck.tenancy.stripe")

MAX_BODY_BYTES = 1024 * 1024
MAX_ERROR_LENGTH = 2000


@dataclass
class DispatchCounts:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    dead: int = 0


class _LeaseLost(Exception):
    """Another dispatcher took the row over: this one's work is rolled back."""


def _parse_event(raw: bytes) -> dict[str, Any]:
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument.field("raw_body", "must be a JSON Stripe event") from None
    if not isinstance(event, dict):
        raise InvalidArgument.field("raw_body", "must be a JSON Stripe event")
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 64:
        raise InvalidArgument.field("raw_body", "the event needs an id of at most 64 characters")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 128:
        raise InvalidArgument.field("raw_body", "the event needs a type")
    if created is not None and (not isinstance(created, int) or isinstance(created, bool)):
        raise InvalidArgument.field("raw_body", "the event's created must be unix seconds")
    return event


def _tenant_hint(event: dict[str, Any]) -> str | None:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    hint = meta.get("tenant_id") if isinstance(meta, dict) else None
    return hint if isinstance(hint, str) and len(hint) <= 64 else None


class StripeInbox:
    def __init__(self, context: TenancyContext) -> None:
        self._db: Database = context.database
        self._settings = context.settings

    # ----- ingest -----

    def _verify(self, raw: bytes, header: str) -> None:
        secret = self._settings.stripe_webhook_secret
        if secret is None or not secret.get_secret_value():
            log.error("stripe webhook refused: stripe_webhook_secret is not configured")
            raise Unavailable(
                "Stripe webhooks are not configured", reason="STRIPE_WEBHOOK_NOT_CONFIGURED"
            )
        try:
            verify(
                raw,
                header,
                secret.get_secret_value(),
                now=time.time(),
                tolerance=self._settings.stripe_signature_tolerance_seconds,
            )
        except SignatureError as refused:
            log.warning("stripe webhook refused: %s (%s)", refused.reason, refused)
            raise Unauthenticated(
                f"invalid Stripe signature: {refused}",
                reason="STRIPE_SIGNATURE_INVALID",
                metadata={"signature_error": refused.reason},
            ) from None

    async def ingest(self, request: pb.IngestStripeEventRequest) -> pb.IngestStripeEventResponse:
        raw = request.raw_body
        if len(raw) > MAX_BODY_BYTES:
            raise InvalidArgument.field("raw_body", f"must be at most {MAX_BODY_BYTES} bytes")
        self._verify(raw, request.signature_header)
        event = _parse_event(raw)
        created = event.get("created")
        now = utcnow()
        try:
            async with self._db.transaction() as session:
                existing = await session.scalar(
                    select(StripeEventRecord).where(
                        StripeEventRecord.stripe_event_id == event["id"]
                    )
                )
                if existing is not None:
                    return self._response(existing, duplicate=True)
                row = StripeEventRecord(
                    id=uuid.uuid4(),
                    stripe_event_id=event["id"],
                    event_type=event["type"],
                    payload=event,
                    tenant_hint=_tenant_hint(event),
                    stripe_created_at=datetime.fromtimestamp(created, UTC)
                    if created is not None
                    else None,
                    received_at=now,
                    processing_outcome=Outcome.RECEIVED.value,
                    processing_attempts=0,
                )
                session.add(row)
                await session.flush()
                session.add(
                    StripeDispatchRecord(
                        stripe_event_id=row.id,
                        handler=TENANCY_HANDLER,
                        status=DispatchStatus.PENDING.value,
                        attempts=0,
                        next_retry_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.flush()
        except IntegrityError:
            # The same event, delivered twice at once: the other delivery stored it.
            async with self._db.reading() as session:
                existing = await session.scalar(
                    select(StripeEventRecord).where(
                        StripeEventRecord.stripe_event_id == event["id"]
                    )
                )
            if existing is None:
                raise
            return self._response(existing, duplicate=True)
        log.info("stripe event %s (%s) received", row.stripe_event_id, row.event_type)
        if self._settings.stripe_dispatch_after_ingest:
            try:
                await self.dispatch(event_row_id=row.id)
            except Exception:  # the event is stored: a later dispatch round retries it
                log.exception("stripe event %s: dispatch after ingest failed", event["id"])
        return self._response(row, duplicate=False)

    @staticmethod
    def _response(row: StripeEventRecord, *, duplicate: bool) -> pb.IngestStripeEventResponse:
        return pb.IngestStripeEventResponse(
            event_id=row.stripe_event_id, event_type=row.event_type, duplicate=duplicate
        )

    # ----- dispatch -----

    @staticmethod
    def _due(now: datetime) -> Any:
        d = StripeDispatchRecord
        return or_(
            and_(
                d.status.in_([DispatchStatus.PENDING.value, DispatchStatus.FAILED.value]),
                or_(d.next_retry_at.is_(None), d.next_retry_at <= now),
            ),
            and_(d.status == DispatchStatus.PROCESSING.value, d.lease_expires_at <= now),
        )

    async def _claim(self, dispatch_id: uuid.UUID) -> tuple[uuid.UUID, int] | None:
        """Take the row if it is still due: its new lease token and attempt number, or None."""
        now = utcnow()
        token = uuid.uuid4()
        d = StripeDispatchRecord
        async with self._db.transaction() as session:
            result = await session.execute(
                update(d)
                .where(d.id == dispatch_id, self._due(now))
                .values(
                    status=DispatchStatus.PROCESSING.value,
                    lease_token=token,
                    lease_expires_at=now
                    + timedelta(seconds=self._settings.stripe_dispatch_lease_seconds),
                    last_attempt_at=now,
                    attempts=d.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if rows_matched(result) != 1:
                return None
            attempts = await session.scalar(select(d.attempts).where(d.id == dispatch_id))
        return token, int(attempts or 0)

    def _backoff(self, attempts: int) -> timedelta:
        base = self._settings.stripe_dispatch_backoff_seconds
        delay = min(
            base * 2 ** max(attempts - 1, 0), self._settings.stripe_dispatch_backoff_max_seconds
        )
        return timedelta(seconds=delay)

    async def _run(
        self,
        dispatch_id: uuid.UUID,
        event_row_id: uuid.UUID,
        token: uuid.UUID,
        attempts: int,
        counts: DispatchCounts,
    ) -> None:
        d = StripeDispatchRecord
        try:
            async with self._db.transaction() as session:
                event = await session.get(StripeEventRecord, event_row_id)
                assert event is not None
                outcome = await stripe_events.apply(session, event)
                now = utcnow()
                result = await session.execute(
                    update(d)
                    .where(
                        d.id == dispatch_id,
                        d.lease_token == token,
                        d.status == DispatchStatus.PROCESSING.value,
                    )
                    .values(
                        status=DispatchStatus.DONE.value,
                        lease_token=None,
                        lease_expires_at=None,
                        next_retry_at=None,
                        last_error=None,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if rows_matched(result) != 1:
                    raise _LeaseLost
                event.processed_at = now
                event.processing_outcome = outcome.value
                event.processing_error = None
                event.processing_attempts = attempts
            counts.done += 1
            log.info("stripe event %s: %s", event.stripe_event_id, outcome.value)
        except _LeaseLost:
            log.warning("stripe dispatch %s: lease lost, another dispatcher has it", dispatch_id)
        except Exception as exc:  # noqa: BLE001 - any handler failure is recorded and retried
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
            dead = attempts >= self._settings.stripe_dispatch_max_attempts
            now = utcnow()
            async with self._db.transaction() as session:
                result = await session.execute(
                    update(d)
                    .where(d.id == dispatch_id, d.lease_token == token)
                    .values(
                        status=(DispatchStatus.DEAD if dead else DispatchStatus.FAILED).value,
                        lease_token=None,
                        lease_expires_at=None,
                        next_retry_at=None if dead else now + self._backoff(attempts),
                        last_error=error,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if rows_matched(result) == 1:
                    event = await session.get(StripeEventRecord, event_row_id)
                    assert event is not None
                    event.processing_outcome = (Outcome.DEAD if dead else Outcome.FAILED).value
                    event.processing_error = error
                    event.processing_attempts = attempts
            if dead:
                counts.dead += 1
                log.error(
                    "stripe dispatch %s dead after %d attempts: %s", dispatch_id, attempts, error
                )
            else:
                counts.failed += 1
                log.warning(
                    "stripe dispatch %s attempt %d failed: %s", dispatch_id, attempts, error
                )

    async def dispatch(
        self, *, limit: int | None = None, event_row_id: uuid.UUID | None = None
    ) -> DispatchCounts:
        """One round: claim what is due (or only ``event_row_id``'s row) and apply it."""
        counts = DispatchCounts()
        d = StripeDispatchRecord
        now = utcnow()
        stmt = select(d.id, d.stripe_event_id).where(self._due(now), d.handler == TENANCY_HANDLER)
        if event_row_id is not None:
            stmt = stmt.where(d.stripe_event_id == event_row_id)
        stmt = stmt.order_by(d.next_retry_at, d.created_at).limit(
            limit or self._settings.stripe_dispatch_batch_size
        )
        async with self._db.reading() as session:
            candidates = (await session.execute(stmt)).all()
        for dispatch_id, event_id in candidates:
            claimed = await self._claim(dispatch_id)
            if claimed is None:
                continue
            counts.claimed += 1
            await self._run(dispatch_id, event_id, *claimed, counts)
        return counts

    async def dispatch_events(
        self, request: pb.DispatchStripeEventsRequest
    ) -> pb.DispatchStripeEventsResponse:
        require_operator()
        if request.max_events < 0:
            raise InvalidArgument.field("max_events", "must not be negative")
        counts = await self.dispatch(limit=min(request.max_events, 1000) or None)
        return pb.DispatchStripeEventsResponse(
            claimed=counts.claimed, done=counts.done, failed=counts.failed, dead=counts.dead
        )
