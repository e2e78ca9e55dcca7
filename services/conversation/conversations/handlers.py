"""ConversationService: a tenant's conversations, created with their first ledger segment,
changed under an optimistic version, archived rather than deleted."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.conversation.v1 import conversations_pb2 as pb
from services.conversation.access import caller_tenant
from services.conversation.context import ConversationContext
from services.conversation.conversations.convert import (
    MEMORY_FIELDS,
    STATUS_FROM_PROTO,
    conversation_to_proto,
    segment_to_proto,
)
from services.conversation.conversations.models import ConversationRecord, ConversationStatus
from services.conversation.conversations.segments import truncate, visible_messages
from services.conversation.conversations.store import (
    current_segment,
    require_active,
    tenant_conversation,
)
from services.conversation.events.ledger import NewEvent
from services.conversation.events.models import LedgerSegmentRecord
from services.conversation.messages.convert import message_to_proto
from services.conversation.messages.models import MessageRecord
from services.conversation.runs.models import RunRecord
from services.conversation.runs.queue import PENDING_STATUSES
from shared.db import unique_violation
from shared.db_types import utcnow
from shared.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from shared.field_mask import paths_to_update
from shared.ids import parse_id
from shared.json_values import struct_to_dict
from shared.pagination import fetch_page, page_size_from
from shared.validation import Violations

#: Text fields a caller sets: (proto field, column, maximum length).
_TEXT_FIELDS: list[tuple[str, str, int]] = [
    ("display_name", "display_name", 128),
    ("topic_hint", "topic_hint", 256),
    ("source_channel", "source_channel", 32),
    ("active_agent", "active_agent", 64),
    ("session_key", "session_key", 255),
    ("thread_id", "thread_id", 500),
    ("provider", "provider", 32),
    ("model", "model", 100),
    ("provider_conversation_id", "provider_conversation_id", 128),
    ("client_version", "client_version", 32),
]
UPDATABLE_FIELDS = frozenset(
    {name for name, _, _ in _TEXT_FIELDS} | {"agent_id", "memory", "metadata"}
)
MAX_MEMORY_TURNS = 10_000
MAX_MESSAGES_WITH_CONVERSATION = 1000


def _apply_fields(
    row: ConversationRecord,
    conversation: pb.Conversation,
    paths: Sequence[str],
    violations: Violations,
) -> None:
    chosen = set(paths)
    for name, column, maximum in _TEXT_FIELDS:
        if name in chosen:
            value = getattr(conversation, name)
            violations.text(f"conversation.{name}", value, maximum)
            if name == "active_agent" and value and row.active_agent and value != row.active_agent:
                row.handoff_count += 1
            setattr(row, column, value or None)
    if "agent_id" in chosen:
        row.agent_id = violations.uuid("conversation.agent_id", conversation.agent_id)
    if "metadata" in chosen:
        violations.json("conversation.metadata", conversation.metadata)
        row.extra_metadata = struct_to_dict(conversation.metadata) or None
    if "memory" in chosen:
        memory = conversation.memory
        violations.text("conversation.memory.strategy", memory.strategy, 16)
        row.memory_strategy = memory.strategy or None
        for name, column in MEMORY_FIELDS:
            if not memory.HasField(name):
                setattr(row, column, None)
                continue
            value = getattr(memory, name)
            if not isinstance(value, bool) and not 0 <= value <= MAX_MEMORY_TURNS:
                violations.add(
                    f"conversation.memory.{name}", f"must be between 0 and {MAX_MEMORY_TURNS}"
                )
            setattr(row, column, value)


def _taken(exc: IntegrityError) -> AlreadyExists:
    columns = unique_violation(exc, ConversationRecord.metadata) or ("conversation_key",)
    return AlreadyExists(
        f"a conversation with this {columns[0]} already exists",
        reason="CONVERSATION_ALREADY_EXISTS",
        metadata={"field": f"conversation.{columns[0]}"},
    )


class ConversationHandlers:
    def __init__(self, ctx: ConversationContext) -> None:
        self._ctx = ctx

    async def create_conversation(
        self, request: pb.CreateConversationRequest
    ) -> pb.CreateConversationResponse:
        tenant_id, principal = caller_tenant("member")
        given = request.conversation
        violations = Violations()
        violations.text("conversation.conversation_key", given.conversation_key, 255)
        violations.text("conversation.user_id", given.user_id, 255)
        violations.text("conversation.agent_entrypoint", given.agent_entrypoint, 64)
        now = utcnow()
        row = ConversationRecord(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            conversation_key=given.conversation_key or f"conv_{uuid.uuid4().hex}",
            user_id=given.user_id or principal.subject[:255],
            agent_entrypoint=given.agent_entrypoint or "default",
            status=ConversationStatus.ACTIVE,
            version=1,
            message_count=0,
            handoff_count=0,
            last_event_sequence=0,
            created_at=now,
            updated_at=now,
        )
        set_fields = {f.name for f, _ in given.ListFields()} & UPDATABLE_FIELDS
        _apply_fields(row, given, sorted(set_fields), violations)
        row.handoff_count = 0
        violations.raise_if_any()

        async def create(session: AsyncSession) -> pb.CreateConversationResponse:
            session.add(row)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _taken(exc) from None
            segment = LedgerSegmentRecord(
                id=uuid.uuid4(), tenant_id=tenant_id, conversation_id=row.id, segment_index=0
            )
            session.add(segment)
            await session.flush()
            await self._ctx.ledger.append(
                session,
                row,
                segment.id,
                [NewEvent("conversation.created", {"conversation_id": str(row.id)})],
            )
            return pb.CreateConversationResponse(conversation=conversation_to_proto(row))

        return await self._ctx.idempotency.run(
            endpoint="conversation.CreateConversation",
            request=request,
            response_type=pb.CreateConversationResponse,
            create=create,
            resource_id_of=lambda response: response.conversation.id,
            scope=str(tenant_id),
        )

    async def get_conversation(
        self, request: pb.GetConversationRequest
    ) -> pb.GetConversationResponse:
        tenant_id, _ = caller_tenant()
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        async with self._ctx.database.reading() as session:
            row = await tenant_conversation(session, tenant_id, conversation_id)
        return pb.GetConversationResponse(conversation=conversation_to_proto(row))

    async def list_conversations(
        self, request: pb.ListConversationsRequest
    ) -> pb.ListConversationsResponse:
        tenant_id, _ = caller_tenant()
        page_size_from(request.page_size)
        statement = select(ConversationRecord).where(ConversationRecord.tenant_id == tenant_id)
        filters: dict[str, str] = {"tenant": str(tenant_id)}
        if request.user_id:
            statement = statement.where(ConversationRecord.user_id == request.user_id)
            filters["user"] = request.user_id
        if request.session_key:
            statement = statement.where(ConversationRecord.session_key == request.session_key)
            filters["session"] = request.session_key
        if request.status != pb.CONVERSATION_STATUS_UNSPECIFIED:
            status = STATUS_FROM_PROTO.get(request.status)
            if status is None:
                raise InvalidArgument.field("status", "must be a known status")
            statement = statement.where(ConversationRecord.status == status)
            filters["status"] = status.value
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[ConversationRecord.created_at, ConversationRecord.id],
                position_of=lambda row: [row.created_at, row.id],
                codec=self._ctx.pages,
                query="conversation.ListConversations",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return pb.ListConversationsResponse(
            conversations=[conversation_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def update_conversation(
        self, request: pb.UpdateConversationRequest
    ) -> pb.UpdateConversationResponse:
        tenant_id, _ = caller_tenant("member")
        given = request.conversation
        conversation_id = parse_id(given.id, "conversation.id")
        if given.version <= 0:
            raise InvalidArgument.field(
                "conversation.version", "is required: the version the change is based on"
            )
        paths = paths_to_update(request.update_mask, given, UPDATABLE_FIELDS)
        async with self._ctx.database.transaction() as session:
            row = await tenant_conversation(session, tenant_id, conversation_id, for_update=True)
            if row.version != given.version:
                raise Aborted(
                    f"conversation {conversation_id} is at version {row.version}, not "
                    f"{given.version}: read it again",
                    reason="VERSION_MISMATCH",
                )
            violations = Violations()
            _apply_fields(row, given, paths, violations)
            violations.raise_if_any()
            row.version += 1
            row.updated_at = utcnow()
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _taken(exc) from None
            return pb.UpdateConversationResponse(conversation=conversation_to_proto(row))

    async def archive_conversation(
        self, request: pb.ArchiveConversationRequest
    ) -> pb.ArchiveConversationResponse:
        tenant_id, _ = caller_tenant("member")
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        async with self._ctx.database.transaction() as session:
            row = await tenant_conversation(session, tenant_id, conversation_id, for_update=True)
            if row.status != ConversationStatus.ARCHIVED:
                row.status = ConversationStatus.ARCHIVED
                row.version += 1
                row.updated_at = utcnow()
                segment = await current_segment(session, row.id)
                await self._ctx.ledger.append(
                    session, row, segment.id, [NewEvent("conversation.archived", {})]
                )
            return pb.ArchiveConversationResponse(conversation=conversation_to_proto(row))

    async def truncate_conversation(
        self, request: pb.TruncateConversationRequest
    ) -> pb.TruncateConversationResponse:
        tenant_id, _ = caller_tenant("member")
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        if request.keep_through_position < -1:
            raise InvalidArgument.field(
                "keep_through_position", "must be a message position, or -1 to hide them all"
            )
        async with self._ctx.database.transaction() as session:
            row = await tenant_conversation(session, tenant_id, conversation_id, for_update=True)
            require_active(row)
            pending = await session.scalar(
                select(RunRecord.run_id).where(
                    RunRecord.conversation_id == row.id, RunRecord.status.in_(PENDING_STATUSES)
                )
            )
            if pending is not None:
                raise FailedPrecondition(
                    f"conversation {row.id} has a run queued or in progress; cancel it first",
                    reason="RUN_IN_PROGRESS",
                    metadata={"run_id": str(pending)},
                )
            segment = await truncate(
                session, self._ctx.ledger, row, request.keep_through_position, reason="truncated"
            )
            row.version += 1
            return pb.TruncateConversationResponse(
                conversation=conversation_to_proto(row), segment=segment_to_proto(segment)
            )

    async def get_conversation_with_messages(
        self, request: pb.GetConversationWithMessagesRequest
    ) -> pb.GetConversationWithMessagesResponse:
        tenant_id, _ = caller_tenant()
        if request.max_messages < 0:
            raise InvalidArgument.field("max_messages", "must not be negative")
        limit = min(request.max_messages or MAX_MESSAGES_WITH_CONVERSATION, 1000)
        async with self._ctx.database.reading() as session:
            which = request.WhichOneof("conversation")
            if which == "session_key":
                if not request.session_key:
                    raise InvalidArgument.field("session_key", "must not be empty")
                row = await session.scalar(
                    select(ConversationRecord)
                    .where(
                        ConversationRecord.tenant_id == tenant_id,
                        ConversationRecord.session_key == request.session_key,
                    )
                    .order_by(ConversationRecord.updated_at.desc(), ConversationRecord.id.desc())
                    .limit(1)
                )
                if row is None:
                    raise NotFound(
                        f"no conversation with session key {request.session_key!r}",
                        reason="CONVERSATION_NOT_FOUND",
                    )
            elif which == "conversation_id":
                row = await tenant_conversation(
                    session, tenant_id, parse_id(request.conversation_id, "conversation_id")
                )
            else:
                raise InvalidArgument.field("conversation_id", "or session_key is required")
            messages = list(
                (
                    await session.scalars(
                        select(MessageRecord)
                        .where(await visible_messages(session, row.id))
                        .order_by(MessageRecord.position)
                        .limit(limit + 1)
                    )
                ).all()
            )
        return pb.GetConversationWithMessagesResponse(
            conversation=conversation_to_proto(row),
            messages=[message_to_proto(m) for m in messages[:limit]],
            truncated=len(messages) > limit,
        )
