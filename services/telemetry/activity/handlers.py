"""The activity feed, free of any transport: protobuf in, protobuf out.

Quarterdeck services append events to a tenant's feed (AppendActivity, internal callers only);
the tenant's users read it. An event is *read* for a user when the user holds a receipt for it,
or when it sits at or before the user's last-seen marker in feed order (``created_at``, then
``id``, the same order ListActivity pages by). The unread count is the rest.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import ColumnElement, and_, bindparam, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.telemetry.v1 import activity_pb2 as pb
from services.telemetry.activity.convert import (
    ACTOR_TYPE_FROM_PROTO,
    STATUS_FROM_PROTO,
    event_to_proto,
)
from services.telemetry.activity.models import (
    MAX_ACTION,
    MAX_ACTOR_ROLE,
    MAX_IP_HASH,
    MAX_OBJECT_ID,
    MAX_OBJECT_NAME,
    MAX_OBJECT_TYPE,
    MAX_REQUEST_ID,
    MAX_SOURCE,
    MAX_SUMMARY,
    MAX_USER_AGENT,
    ActivityEventRecord,
    ActivityLastSeenRecord,
    ActivityReceiptRecord,
    ActivityStatus,
    ReceiptStatus,
)
from services.telemetry.batch_rows import SPAN_ID_PATTERN, TRACE_ID_PATTERN
from services.telemetry.context import TelemetryContext
from shared.auth import require_internal, require_principal
from shared.db_types import utcnow
from shared.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from shared.ids import parse_id
from shared.inserts import insert_ignoring_duplicates
from shared.pagination import fetch_page
from shared.tenant_scope import one_tenant_for_read
from shared.timestamps import from_timestamp, to_timestamp
from shared.tracing import current_trace_ids

#: Most event ids one MarkActivityRead takes.
MAX_EVENT_IDS = 500
#: Largest metadata object, as compact JSON.
MAX_METADATA_BYTES = 16 * 1024
ACTION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")

#: Optional text columns an appender may set: (field, longest).
_OPTIONAL_TEXT = (
    ("actor_role", MAX_ACTOR_ROLE),
    ("object_type", MAX_OBJECT_TYPE),
    ("object_id", MAX_OBJECT_ID),
    ("object_name", MAX_OBJECT_NAME),
    ("source", MAX_SOURCE),
    ("request_id", MAX_REQUEST_ID),
    ("ip_hash", MAX_IP_HASH),
    ("user_agent", MAX_USER_AGENT),
    ("summary", MAX_SUMMARY),
)


def _text_problem(value: str, longest: int) -> str | None:
    if len(value) > longest:
        return f"must be at most {longest} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    return None


def _metadata_problem(metadata: dict[str, Any]) -> str | None:
    try:
        encoded = json.dumps(metadata, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return "must hold finite numbers only"
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        return f"must be at most {MAX_METADATA_BYTES} bytes as JSON"
    if "\\u0000" in encoded:
        return "must not contain NUL characters"
    return None


def event_values(event: pb.ActivityEvent) -> dict[str, Any]:  # noqa: C901 - one check per event field, in the order the proto declares them
    """The columns of an event to append, every problem reported at once by field."""
    violations: list[FieldViolation] = []
    values: dict[str, Any] = {}

    def check(field: str, problem: str | None) -> None:
        if problem:
            violations.append(FieldViolation(f"event.{field}", problem))

    try:
        values["tenant_id"] = parse_id(event.tenant_id, "event.tenant_id")
    except InvalidArgument as error:
        violations.extend(error.violations)
    if not event.action:
        check("action", "is required")
    elif problem := _text_problem(event.action, MAX_ACTION):
        check("action", problem)
    elif not ACTION_PATTERN.fullmatch(event.action):
        check("action", "must be letters, digits and . _ : / - (such as membership.added)")
    values["action"] = event.action
    if event.actor_id:
        try:
            values["actor_id"] = uuid.UUID(event.actor_id)
        except ValueError:
            check("actor_id", "must be a UUID")
    if event.actor_type != pb.ACTIVITY_ACTOR_TYPE_UNSPECIFIED:
        if event.actor_type not in ACTOR_TYPE_FROM_PROTO:
            check("actor_type", "must be USER, SERVICE_ACCOUNT, SERVICE or SYSTEM")
        else:
            values["actor_type"] = ACTOR_TYPE_FROM_PROTO[event.actor_type].value
    if event.status == pb.ACTIVITY_STATUS_UNSPECIFIED:
        values["status"] = ActivityStatus.SUCCESS.value
    elif event.status not in STATUS_FROM_PROTO:
        check("status", "must be SUCCESS or FAILURE")
    else:
        values["status"] = STATUS_FROM_PROTO[event.status].value
    for field, longest in _OPTIONAL_TEXT:
        value: str = getattr(event, field)
        if value:
            check(field, _text_problem(value, longest))
            values[field] = value
    if event.object_id and not event.object_type:
        check("object_type", "is required when object_id is set")
    if event.HasField("metadata"):
        try:
            metadata = MessageToDict(event.metadata)
        except ValueError:  # NaN or an infinity: JSON (and JSONB) has no such numbers
            check("metadata", "must hold finite numbers only")
        else:
            check("metadata", _metadata_problem(metadata))
            values["metadata_json"] = metadata
    if event.trace_id and not TRACE_ID_PATTERN.fullmatch(event.trace_id):
        check("trace_id", "must be 32 lowercase hexadecimal characters")
    if event.span_id and not SPAN_ID_PATTERN.fullmatch(event.span_id):
        check("span_id", "must be 16 lowercase hexadecimal characters")
    if violations:
        raise InvalidArgument(violations)
    if event.trace_id or event.span_id:
        values["trace_id"] = event.trace_id or None
        values["span_id"] = event.span_id or None
    else:
        # Recorded inside a traced call: the event joins to the trace that caused it.
        trace_id, span_id = current_trace_ids()
        values["trace_id"] = trace_id or None
        values["span_id"] = span_id or None
    return values


@dataclass(frozen=True)
class Marker:
    """Where a user's last-seen marker stands, in feed order."""

    created_at: datetime
    event_id: uuid.UUID | None

    def covers(self, created_at: datetime, event_id: uuid.UUID) -> bool:
        """Whether an event sits at or before the marker."""
        if self.event_id is None:
            return created_at <= self.created_at
        return (created_at, event_id) <= (self.created_at, self.event_id)

    def after(self) -> ColumnElement[bool]:
        """Events strictly after the marker (SQL)."""
        if self.event_id is None:
            return ActivityEventRecord.created_at > self.created_at
        # Typed like the columns, as fetch_page binds its positions (UTC handling on SQLite).
        position = tuple_(
            bindparam(None, self.created_at, type_=ActivityEventRecord.created_at.type),
            bindparam(None, self.event_id, type_=ActivityEventRecord.id.type),
        )
        return tuple_(ActivityEventRecord.created_at, ActivityEventRecord.id) > position


def _feed_tenant(requested: str) -> uuid.UUID:
    """The tenant whose feed a call touches: the token's, or the one an operator names."""
    tenant = one_tenant_for_read(requested)
    try:
        return uuid.UUID(tenant)
    except ValueError:
        raise PermissionDenied(
            "the access token's tenant is not a tenant id", reason="TENANT_REQUIRED"
        ) from None


def _caller_user() -> uuid.UUID | None:
    """The calling user's id, or None for service accounts and services."""
    user_id = require_principal().user_id
    if user_id is None:
        return None
    try:
        return uuid.UUID(user_id)
    except ValueError:
        return None


def _require_user() -> uuid.UUID:
    user = _caller_user()
    if user is None:
        raise PermissionDenied(
            "read receipts and the last-seen marker belong to users; sign in as one",
            reason="USER_REQUIRED",
        )
    return user


def _parse_event_ids(values: Sequence[str]) -> list[uuid.UUID]:
    if not values:
        raise InvalidArgument.field("event_ids", "name at least one event")
    if len(values) > MAX_EVENT_IDS:
        raise InvalidArgument.field("event_ids", f"name at most {MAX_EVENT_IDS} events")
    violations: list[FieldViolation] = []
    ids: list[uuid.UUID] = []
    for index, value in enumerate(values):
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            violations.append(FieldViolation(f"event_ids[{index}]", "must be a UUID"))
    if violations:
        raise InvalidArgument(violations)
    return list(dict.fromkeys(ids))


class ActivityHandlers:
    def __init__(self, context: TelemetryContext) -> None:
        self._db = context.database
        self._pages = context.page_tokens
        self._idempotency = context.idempotency
        self._unread_cap = context.settings.activity_unread_count_cap

    # -- Appending ------------------------------------------------------------------------------

    async def append_activity(self, request: pb.AppendActivityRequest) -> pb.AppendActivityResponse:
        require_internal()
        values = event_values(request.event)

        async def create(session: AsyncSession) -> pb.AppendActivityResponse:
            row = ActivityEventRecord(**values, created_at=utcnow())
            session.add(row)
            await session.flush()
            return pb.AppendActivityResponse(event=event_to_proto(row, read=False))

        return await self._idempotency.run(
            endpoint="ActivityService.AppendActivity",
            request=request,
            response_type=pb.AppendActivityResponse,
            create=create,
            resource_id_of=lambda response: response.event.id,
            scope=str(values["tenant_id"]),
        )

    # -- Reading --------------------------------------------------------------------------------

    async def list_activity(self, request: pb.ListActivityRequest) -> pb.ListActivityResponse:
        tenant_id = _feed_tenant(request.tenant_id)
        user_id = _caller_user()
        violations: list[FieldViolation] = []
        for field, longest in (
            ("action", MAX_ACTION),
            ("object_type", MAX_OBJECT_TYPE),
            ("object_id", MAX_OBJECT_ID),
        ):
            if problem := _text_problem(getattr(request, field), longest):
                violations.append(FieldViolation(field, problem))
        if request.object_id and not request.object_type:
            violations.append(FieldViolation("object_type", "is required with object_id"))
        if violations:
            raise InvalidArgument(violations)
        statement = select(ActivityEventRecord).where(ActivityEventRecord.tenant_id == tenant_id)
        filters: dict[str, Any] = {"tenant_id": str(tenant_id)}
        if request.action:
            statement = statement.where(ActivityEventRecord.action == request.action)
            filters["action"] = request.action
        if request.object_type:
            statement = statement.where(ActivityEventRecord.object_type == request.object_type)
            filters["object_type"] = request.object_type
        if request.object_id:
            statement = statement.where(ActivityEventRecord.object_id == request.object_id)
            filters["object_id"] = request.object_id
        if request.HasField("since"):
            since = from_timestamp(request.since)
            statement = statement.where(ActivityEventRecord.created_at >= since)
            filters["since"] = since.isoformat()
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(ActivityEventRecord.created_at, ActivityEventRecord.id),
                codec=self._pages,
                query="ActivityService.ListActivity",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
            read_ids: set[uuid.UUID] = set()
            marker = None
            if user_id is not None and page.items:
                marker = await self._marker(session, tenant_id, user_id)
                read_ids = set(
                    await session.scalars(
                        select(ActivityReceiptRecord.event_id).where(
                            ActivityReceiptRecord.tenant_id == tenant_id,
                            ActivityReceiptRecord.user_id == user_id,
                            ActivityReceiptRecord.event_id.in_([row.id for row in page.items]),
                        )
                    )
                )
        return pb.ListActivityResponse(
            events=[
                event_to_proto(
                    row,
                    read=row.id in read_ids
                    or (marker is not None and marker.covers(row.created_at, row.id)),
                )
                for row in page.items
            ],
            next_page_token=page.next_page_token,
        )

    async def get_unread_count(
        self, request: pb.GetUnreadCountRequest
    ) -> pb.GetUnreadCountResponse:
        tenant_id = _feed_tenant(request.tenant_id)
        user_id = _require_user()
        async with self._db.reading() as session:
            count, capped = await self._unread(session, tenant_id, user_id)
        return pb.GetUnreadCountResponse(unread_count=count, capped=capped)

    # -- Receipts and last-seen -----------------------------------------------------------------

    async def mark_activity_read(
        self, request: pb.MarkActivityReadRequest
    ) -> pb.MarkActivityReadResponse:
        tenant_id = _feed_tenant(request.tenant_id)
        user_id = _require_user()
        event_ids = _parse_event_ids(request.event_ids)
        async with self._db.transaction() as session:
            # Only the tenant's own events: another tenant's id is as unknown as a made-up one.
            found = set(
                await session.scalars(
                    select(ActivityEventRecord.id).where(
                        ActivityEventRecord.tenant_id == tenant_id,
                        ActivityEventRecord.id.in_(event_ids),
                    )
                )
            )
            if missing := [event_id for event_id in event_ids if event_id not in found]:
                raise NotFound(
                    f"activity event {missing[0]} not found",
                    reason="ACTIVITY_EVENT_NOT_FOUND",
                    metadata={"event_id": str(missing[0])},
                )
            already = set(
                await session.scalars(
                    select(ActivityReceiptRecord.event_id).where(
                        ActivityReceiptRecord.tenant_id == tenant_id,
                        ActivityReceiptRecord.user_id == user_id,
                        ActivityReceiptRecord.event_id.in_(event_ids),
                    )
                )
            )
            new = [event_id for event_id in event_ids if event_id not in already]
            if new:
                now = utcnow()
                await session.execute(
                    insert_ignoring_duplicates(
                        self._db.dialect,
                        ActivityReceiptRecord.__table__,
                        ("tenant_id", "user_id", "event_id"),
                    ),
                    [
                        {
                            "id": uuid.uuid4(),
                            "tenant_id": tenant_id,
                            "user_id": user_id,
                            "event_id": event_id,
                            "status": ReceiptStatus.READ.value,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for event_id in new
                    ],
                )
            count, _ = await self._unread(session, tenant_id, user_id)
        return pb.MarkActivityReadResponse(newly_read_count=len(new), unread_count=count)

    async def mark_all_activity_seen(
        self, request: pb.MarkAllActivitySeenRequest
    ) -> pb.MarkAllActivitySeenResponse:
        tenant_id = _feed_tenant(request.tenant_id)
        user_id = _require_user()
        through_id = (
            parse_id(request.through_event_id, "through_event_id")
            if request.through_event_id
            else None
        )
        async with self._db.transaction() as session:
            statement = select(ActivityEventRecord.created_at, ActivityEventRecord.id).where(
                ActivityEventRecord.tenant_id == tenant_id
            )
            if through_id is not None:
                statement = statement.where(ActivityEventRecord.id == through_id)
            else:
                statement = statement.order_by(
                    ActivityEventRecord.created_at.desc(), ActivityEventRecord.id.desc()
                ).limit(1)
            target = (await session.execute(statement)).first()
            if target is None and through_id is not None:
                raise NotFound(
                    f"activity event {through_id} not found",
                    reason="ACTIVITY_EVENT_NOT_FOUND",
                    metadata={"event_id": str(through_id)},
                )
            if target is not None:
                await self._advance_marker(session, tenant_id, user_id, target[0], target[1])
            marker = await self._marker(session, tenant_id, user_id)
            count, _ = await self._unread(session, tenant_id, user_id)
        response = pb.MarkAllActivitySeenResponse(unread_count=count)
        if marker is not None:
            response.last_seen_time.CopyFrom(to_timestamp(marker.created_at))
            response.last_seen_event_id = str(marker.event_id or "")
        return response

    # -- Helpers --------------------------------------------------------------------------------

    async def _advance_marker(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        created_at: datetime,
        event_id: uuid.UUID,
    ) -> None:
        """Move the marker to the event, never back; the first call creates it."""
        now = utcnow()
        await session.execute(
            insert_ignoring_duplicates(
                self._db.dialect, ActivityLastSeenRecord.__table__, ("tenant_id", "user_id")
            ),
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "user_id": user_id,
                "last_seen_created_at": created_at,
                "last_seen_event_id": event_id,
                "updated_at": now,
            },
        )
        row = await session.scalar(
            select(ActivityLastSeenRecord)
            .where(
                ActivityLastSeenRecord.tenant_id == tenant_id,
                ActivityLastSeenRecord.user_id == user_id,
            )
            .with_for_update()
        )
        assert row is not None  # inserted above, or already there
        current = Marker(row.last_seen_created_at, row.last_seen_event_id)
        if not current.covers(created_at, event_id):
            row.last_seen_created_at = created_at
            row.last_seen_event_id = event_id
            row.updated_at = now
            await session.flush()

    @staticmethod
    async def _marker(
        session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
    ) -> Marker | None:
        row = (
            await session.execute(
                select(
                    ActivityLastSeenRecord.last_seen_created_at,
                    ActivityLastSeenRecord.last_seen_event_id,
                ).where(
                    ActivityLastSeenRecord.tenant_id == tenant_id,
                    ActivityLastSeenRecord.user_id == user_id,
                )
            )
        ).first()
        return None if row is None else Marker(row[0], row[1])

    async def _unread(
        self, session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[int, bool]:
        """Events after the user's marker without their receipt, counted up to the cap."""
        marker = await self._marker(session, tenant_id, user_id)
        receipt = exists().where(
            ActivityReceiptRecord.tenant_id == tenant_id,
            ActivityReceiptRecord.user_id == user_id,
            ActivityReceiptRecord.event_id == ActivityEventRecord.id,
        )
        conditions = [ActivityEventRecord.tenant_id == tenant_id, ~receipt]
        if marker is not None:
            conditions.append(marker.after())
        # Counting stops at the cap, so a long-unread feed costs a bounded scan.
        unread = (
            select(ActivityEventRecord.id)
            .where(and_(*conditions))
            .limit(self._unread_cap + 1)
            .subquery()
        )
        count = int(await session.scalar(select(func.count()).select_from(unread)) or 0)
        return min(count, self._unread_cap), count > self._unread_cap
