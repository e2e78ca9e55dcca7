"""MessageService: messages appended at their conversation's next position (a user message may
start a run), listed by position, and found by full-text search."""

from __future__ import annotations

import re
import uuid

from google.protobuf.json_format import MessageToDict
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.conversation.v1 import messages_pb2 as pb
from quarterdeck.conversation.v1 import runs_pb2 as rpb
from services.conversation.access import caller_tenant
from services.conversation.context import ConversationContext
from services.conversation.conversations.hiding import hidden_message
from services.conversation.conversations.models import ConversationRecord
from services.conversation.conversations.segments import truncate, visible_messages
from services.conversation.conversations.store import (
    AppendableConversation,
    current_segment_id,
    lock_tenant_conversation,
    require_active,
    tenant_conversation,
)
from services.conversation.messages.convert import ROLE_FROM_PROTO, message_to_proto, text_of
from services.conversation.messages.models import MessageRecord, MessageRole
from services.conversation.messages.store import (
    NewMessage,
    StoredMessage,
    append_message,
    insert_message,
)
from services.conversation.runs.convert import STRATEGY_FROM_PROTO, run_to_proto
from services.conversation.runs.models import RunRecord
from services.conversation.runs.queue import PENDING_STATUSES
from shared.auth import Principal, require_tenant
from shared.errors import FailedPrecondition, InvalidArgument
from shared.ids import parse_id
from shared.json_values import struct_to_dict, value_to_python
from shared.pagination import fetch_page, page_size_from
from shared.validation import Violations

MAX_TEXT = 100_000
MAX_QUERY = 500
_WORD = re.compile(r"\w+", re.UNICODE)


def _search_words(query: str) -> list[str]:
    if not query.strip():
        raise InvalidArgument.field("query", "is required")
    if len(query) > MAX_QUERY:
        raise InvalidArgument.field("query", f"must be at most {MAX_QUERY} characters")
    words = _WORD.findall(query)
    if not words:
        raise InvalidArgument.field("query", "must contain at least one word")
    return words


def _is_user(principal: Principal) -> bool:
    """Whether the caller is a user (a UUID subject), whose usage tenancy counts by user."""
    if principal.kind != "user":
        return False
    try:
        uuid.UUID(principal.subject)
    except ValueError:
        return False
    return True


class MessageHandlers:
    def __init__(self, ctx: ConversationContext) -> None:
        self._ctx = ctx

    def _new_message(
        self,
        tenant_id: uuid.UUID,
        given: pb.Message,
        start_run: bool,
        violations: Violations,
    ) -> NewMessage:
        """The message a request gives, checked (each problem naming its field); a role other
        than user needs an admin."""
        role = ROLE_FROM_PROTO.get(given.role)
        if role is None:
            violations.add("message.role", "is required: system, user, assistant or tool")
        violations.text("message.text", given.text, MAX_TEXT)
        has_content = given.HasField("content")
        if has_content:
            violations.json("message.content", given.content)
        elif not given.text.strip():
            violations.add("message.text", "is required unless message.content is given")
        violations.json("message.attachments", given.attachments)
        violations.json("message.metadata", given.metadata)
        violations.text("message.agent_type", given.agent_type, 64)
        violations.text("message.tool_name", given.tool_name, 128)
        violations.text("message.tool_call_id", given.tool_call_id, 64)
        if role == MessageRole.TOOL and not given.tool_call_id:
            violations.add("message.tool_call_id", "is required for a tool message")
        if start_run and role != MessageRole.USER:
            violations.add("start_run", "only a user message starts a run")
        violations.raise_if_any()
        assert role is not None
        if role != MessageRole.USER:
            # Only the agent (through its runs) and a tenant's admins speak for anyone else.
            require_tenant(str(tenant_id), "admin")
        content = value_to_python(given.content) if has_content else given.text
        return NewMessage(
            role=role,
            content=content,
            text=given.text or text_of(content),
            attachments=list(MessageToDict(given.attachments)),
            agent_type=given.agent_type or None,
            tool_name=given.tool_name or None,
            tool_call_id=given.tool_call_id or None,
            metadata=struct_to_dict(given.metadata) or None,
        )

    async def append_message(self, request: pb.AppendMessageRequest) -> pb.AppendMessageResponse:
        tenant_id, principal = caller_tenant("member")
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        violations = Violations()
        strategy = STRATEGY_FROM_PROTO.get(request.multitask_strategy)
        if strategy is None:
            violations.add("multitask_strategy", "must be a known strategy")
        new = self._new_message(tenant_id, request.message, request.start_run, violations)
        assert strategy is not None

        async def create(session: AsyncSession) -> pb.AppendMessageResponse:
            # The row's lock and what the append needs of it, by one prepared statement.
            conversation: AppendableConversation | ConversationRecord
            conversation = await lock_tenant_conversation(session, tenant_id, conversation_id)
            require_active(conversation)
            if strategy == "rollback":
                # A truncation writes the ORM row: read now, under the lock taken above.
                conversation = await tenant_conversation(session, tenant_id, conversation_id)
                await self._roll_back(session, conversation)
            segment_id = await current_segment_id(session, conversation.id)
            stored = await insert_message(session, conversation, segment_id, new)
            response = pb.AppendMessageResponse(message=message_to_proto(stored.row))
            if request.start_run:
                # The message's event goes into the ledger with the run's (one append).
                response.run.CopyFrom(
                    await self._start_run(
                        session,
                        conversation,
                        segment_id,
                        stored.row,
                        principal,
                        "enqueue" if strategy == "rollback" else strategy,
                        message=stored,
                    )
                )
            else:
                await self._ctx.ledger.append(
                    session,
                    conversation,
                    segment_id,
                    [stored.event],
                    sets=stored.sets,
                    adds=stored.adds,
                )
            return response

        return await self._ctx.idempotency.run(
            endpoint="conversation.AppendMessage",
            request=request,
            response_type=pb.AppendMessageResponse,
            create=create,
            resource_id_of=lambda response: response.message.id,
            scope=str(tenant_id),
        )

    async def _start_run(
        self,
        session: AsyncSession,
        conversation: AppendableConversation | ConversationRecord,
        segment_id: uuid.UUID,
        row: MessageRecord,
        principal: Principal,
        strategy: str,
        *,
        message: StoredMessage | None = None,
    ) -> rpb.Run:
        """Queue the run answering ``row`` (the caller holds the conversation row), with
        ``message`` (``row``'s, stored but not appended yet) when given. The payload names
        the user who asked (a user's token), whose usage counters its model calls add to
        beside the tenant's."""
        if conversation.agent_id is None:
            raise FailedPrecondition(
                f"conversation {conversation.id} has no agent_id to answer it",
                reason="CONVERSATION_HAS_NO_AGENT",
            )
        run = await self._ctx.runs.enqueue(
            session,
            conversation,
            segment_id,
            created_by=principal.subject[:255],
            message_position=row.position,
            payload={
                "agent_id": str(conversation.agent_id),
                "message_id": str(row.id),
                "message_position": row.position,
                **({"user_id": principal.subject} if _is_user(principal) else {}),
            },
            strategy=strategy,
            message=message,
        )
        return run_to_proto(run)

    async def edit_message(self, request: pb.EditMessageRequest) -> pb.EditMessageResponse:
        tenant_id, principal = caller_tenant("member")
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        violations = Violations()
        if request.position < 0:
            violations.add("position", "must be the position of a visible message")
        new = self._new_message(tenant_id, request.message, request.start_run, violations)

        async def create(session: AsyncSession) -> pb.EditMessageResponse:
            conversation = await tenant_conversation(
                session, tenant_id, conversation_id, for_update=True
            )
            require_active(conversation)
            visible = await visible_messages(session, conversation.id)
            edited = await session.scalar(
                select(MessageRecord).where(visible, MessageRecord.position == request.position)
            )
            if edited is None:
                raise InvalidArgument.field(
                    "position",
                    f"{request.position} is not the position of a visible message of "
                    f"conversation {conversation.id}",
                )
            if edited.role != new.role:
                raise InvalidArgument.field(
                    "message.role",
                    f"must be the edited message's role ({edited.role.value})",
                )
            pending = await session.scalar(
                select(RunRecord.run_id).where(
                    RunRecord.conversation_id == conversation.id,
                    RunRecord.status.in_(PENDING_STATUSES),
                )
            )
            if pending is not None:
                raise FailedPrecondition(
                    f"conversation {conversation.id} has a run queued or in progress; cancel "
                    "it first",
                    reason="RUN_IN_PROGRESS",
                    metadata={"run_id": str(pending)},
                )
            kept = await session.scalar(
                select(func.max(MessageRecord.position)).where(
                    visible, MessageRecord.position < request.position
                )
            )
            segment = await truncate(
                session,
                self._ctx.ledger,
                conversation,
                -1 if kept is None else kept,
                reason=f"message {request.position} edited",
            )
            conversation.version += 1
            new.metadata = {**(new.metadata or {}), "edited_position": request.position}
            row = await append_message(session, self._ctx.ledger, conversation, segment.id, new)
            response = pb.EditMessageResponse(message=message_to_proto(row))
            if request.start_run:
                response.run.CopyFrom(
                    await self._start_run(
                        session, conversation, segment.id, row, principal, "enqueue"
                    )
                )
            return response

        return await self._ctx.idempotency.run(
            endpoint="conversation.EditMessage",
            request=request,
            response_type=pb.EditMessageResponse,
            create=create,
            resource_id_of=lambda response: response.message.id,
            scope=str(tenant_id),
        )

    async def _roll_back(self, session: AsyncSession, conversation: ConversationRecord) -> None:
        """Cancel the conversation's queued and active runs and hide what they were asked and
        answered: a new segment visible through the message before the earliest one's."""
        pending = list(
            (
                await session.scalars(
                    select(RunRecord)
                    .where(
                        RunRecord.conversation_id == conversation.id,
                        RunRecord.status.in_(PENDING_STATUSES),
                    )
                    .order_by(RunRecord.id)
                )
            ).all()
        )
        if not pending:
            return
        for run in pending:
            await self._ctx.runs.cancel(
                session, conversation, run, "rolled back by a newer message"
            )
        first = min(run.message_position for run in pending if run.message_position is not None)
        visible = await session.scalar(
            select(func.max(MessageRecord.position)).where(
                await visible_messages(session, conversation.id),
                MessageRecord.position < first,
            )
        )
        await truncate(
            session,
            self._ctx.ledger,
            conversation,
            -1 if visible is None else visible,
            reason="rolled back",
        )

    async def list_messages(self, request: pb.ListMessagesRequest) -> pb.ListMessagesResponse:
        tenant_id, _ = caller_tenant()
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        page_size_from(request.page_size)
        filters = {"conversation": str(conversation_id)}
        role: MessageRole | None = None
        if request.role != pb.MESSAGE_ROLE_UNSPECIFIED:
            role = ROLE_FROM_PROTO.get(request.role)
            if role is None:
                raise InvalidArgument.field("role", "must be a known role")
            filters["role"] = role.value
        async with self._ctx.database.reading() as session:
            await tenant_conversation(session, tenant_id, conversation_id)
            # The visible history: what truncations hid stays stored but is not listed.
            statement = select(MessageRecord).where(
                await visible_messages(session, conversation_id)
            )
            if role is not None:
                statement = statement.where(MessageRecord.role == role)
            page = await fetch_page(
                session,
                statement,
                sort_key=[MessageRecord.position],
                position_of=lambda row: [row.position],
                codec=self._ctx.pages,
                query="conversation.ListMessages",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListMessagesResponse(
            messages=[message_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def search_messages(self, request: pb.SearchMessagesRequest) -> pb.SearchMessagesResponse:
        tenant_id, _ = caller_tenant()
        words = _search_words(request.query)
        page_size_from(request.page_size)
        statement = select(MessageRecord).where(MessageRecord.tenant_id == tenant_id)
        filters = {"tenant": str(tenant_id), "query": " ".join(words)}
        if request.include_hidden:
            filters["include_hidden"] = "1"
        else:
            # What a truncation or an edit hid stays stored, but is found only when asked for.
            statement = statement.where(~hidden_message())
        conversation_id: uuid.UUID | None = None
        if request.conversation_id:
            conversation_id = parse_id(request.conversation_id, "conversation_id")
            statement = statement.where(MessageRecord.conversation_id == conversation_id)
            filters["conversation"] = str(conversation_id)
        if self._ctx.database.dialect == "postgresql":
            statement = statement.where(
                text("fts_text_tsv @@ plainto_tsquery('simple', :search_query)").bindparams(
                    search_query=" ".join(words)
                )
            )
        else:
            # Each word as an FTS5 string ("" escapes a quote): every word must occur.
            match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
            statement = statement.where(
                MessageRecord.id.in_(
                    select(text("rowid"))
                    .select_from(text("fts_messages"))
                    .where(text("fts_messages MATCH :search_query").bindparams(search_query=match))
                )
            )
        async with self._ctx.database.reading() as session:
            if conversation_id is not None:
                await tenant_conversation(session, tenant_id, conversation_id)
            page = await fetch_page(
                session,
                statement,
                sort_key=[MessageRecord.id],
                position_of=lambda row: [row.id],
                codec=self._ctx.pages,
                query="conversation.SearchMessages",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return pb.SearchMessagesResponse(
            messages=[message_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )
