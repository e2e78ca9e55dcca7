"""Security events: reading them (a tenant's admins see their tenant's, operators see all) and
the internal report other services send when they refuse a credential."""

from __future__ import annotations

import re
import uuid

from google.protobuf.struct_pb2 import Struct
from sqlalchemy import select

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.events import SecurityEvents
from services.identity.models import SecurityEventRecord, User
from services.identity.profile.handlers import metadata_problem, struct_to_dict
from shared.auth import require_internal, require_principal, require_tenant
from shared.errors import FieldViolation, InvalidArgument
from shared.pagination import fetch_page
from shared.timestamps import to_timestamp

EVENT_TYPE_PATTERN = re.compile(r"^[a-z0-9_:.-]{1,32}$")
EVENT_TYPE_RULE = "must be 1 to 32 of a-z, 0-9, '_', ':', '.' or '-'"
#: A reported event's details; refusals carry a handful of short strings.
MAX_REPORTED_METADATA_BYTES = 8 * 1024
SERVICE_SUBJECT_PREFIX = "service:"


def event_to_proto(row: SecurityEventRecord) -> pb.SecurityEvent:
    event = pb.SecurityEvent(
        id=str(row.id),
        user_id=str(row.user_id) if row.user_id else "",
        tenant_id=str(row.tenant_id) if row.tenant_id else "",
        event_type=row.event_type,
        source=row.source or "",
        create_time=to_timestamp(row.created_at),
    )
    if row.metadata_json:
        metadata = Struct()
        metadata.update(row.metadata_json)
        event.metadata.CopyFrom(metadata)
    return event


def _optional_id(value: str, field: str, violations: list[FieldViolation]) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        violations.append(FieldViolation(field, "must be a UUID"))
        return None


class SecurityHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def list_security_events(
        self, request: pb.ListSecurityEventsRequest
    ) -> pb.ListSecurityEventsResponse:
        principal = require_principal()
        violations: list[FieldViolation] = []
        tenant_id = _optional_id(request.tenant_id, "tenant_id", violations)
        user_id = _optional_id(request.user_id, "user_id", violations)
        if request.event_type and not EVENT_TYPE_PATTERN.match(request.event_type):
            violations.append(FieldViolation("event_type", EVENT_TYPE_RULE))
        if violations:
            raise InvalidArgument(violations)
        statement = select(SecurityEventRecord)
        filters: dict[str, str] = {}
        if tenant_id is not None:
            require_tenant(str(tenant_id), "admin")
            statement = statement.where(SecurityEventRecord.tenant_id == tenant_id)
            filters["tenant_id"] = str(tenant_id)
        elif not (principal.is_operator or principal.is_internal):
            raise InvalidArgument.field(
                "tenant_id", "is required unless the caller is a platform operator"
            )
        if user_id is not None:
            statement = statement.where(SecurityEventRecord.user_id == user_id)
            filters["user_id"] = str(user_id)
        if request.event_type:
            statement = statement.where(SecurityEventRecord.event_type == request.event_type)
            filters["event_type"] = request.event_type
        async with self._ctx.db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(SecurityEventRecord.created_at, SecurityEventRecord.id),
                position_of=lambda row: (row.created_at, row.id),
                codec=self._ctx.pages,
                query="ListSecurityEvents",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return pb.ListSecurityEventsResponse(
            events=[event_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def report_security_event(
        self, request: pb.ReportSecurityEventRequest
    ) -> pb.ReportSecurityEventResponse:
        principal = require_internal()
        violations: list[FieldViolation] = []
        if not EVENT_TYPE_PATTERN.match(request.event_type):
            violations.append(FieldViolation("event_type", EVENT_TYPE_RULE))
        tenant_id = _optional_id(request.tenant_id, "tenant_id", violations)
        user_id = _optional_id(request.user_id, "user_id", violations)
        if problem := metadata_problem(request.metadata, MAX_REPORTED_METADATA_BYTES):
            violations.append(FieldViolation("metadata", problem))
        if violations:
            raise InvalidArgument(violations)
        source = principal.subject.removeprefix(SERVICE_SUBJECT_PREFIX)
        metadata = struct_to_dict(request.metadata)
        async with self._ctx.db.transaction() as session:
            known_user = None
            if user_id is not None:
                known_user = await session.scalar(select(User.id).where(User.id == user_id))
                if known_user is None:  # kept, but not as a reference to a user that is not here
                    metadata["reported_user_id"] = str(user_id)
            SecurityEvents.add(
                session,
                request.event_type,
                source=source,
                user_id=known_user,
                tenant_id=tenant_id,
                metadata=metadata,
            )
        return pb.ReportSecurityEventResponse()
