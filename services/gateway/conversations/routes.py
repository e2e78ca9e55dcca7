"""``/v1/conversations`` and their messages: REST over ConversationService and MessageService,
one gRPC call per request.

Who may do what is the conversation service's rule: a tenant's viewers read, its members
create, update and archive conversations and post user messages (which start the agent's run);
other roles of message need an admin. The tenant is always the caller's token's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.conversation.v1 import conversations_pb2 as pb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from services.gateway.conversations.schemas import (
    Conversation,
    ConversationList,
    ConversationStatusName,
    ConversationWithMessages,
    CreateConversationBody,
    EditedMessage,
    EditMessageBody,
    MessageList,
    MessageRoleName,
    MessageSearchResults,
    PostedMessage,
    PostMessageBody,
    TruncateConversationBody,
    TruncatedConversation,
    UpdateConversationBody,
    conversation_status_value,
    role_value,
)
from services.gateway.routing import ERROR_RESPONSES, Clients, IdempotencyKey, PageSize, PageToken

router = APIRouter(prefix="/v1/conversations", tags=["conversations"], responses=ERROR_RESPONSES)
search = APIRouter(prefix="/v1/messages", tags=["conversations"], responses=ERROR_RESPONSES)

MaxMessages = Annotated[
    int,
    Query(ge=0, le=1000, description="At most this many messages, the first ones (0: 1000)."),
]
UpdateMask = Annotated[
    str | None,
    Query(
        description="Comma-separated fields to change; by default, the fields present in the body."
    ),
]


@router.post("", status_code=201)
async def create_conversation(
    body: CreateConversationBody,
    clients: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Conversation:
    """Start a conversation with an agent (members)."""
    reply = await clients.conversations.CreateConversation(
        pb.CreateConversationRequest(conversation=body.to_proto(), request_id=idempotency_key or "")
    )
    response.headers["Location"] = f"{router.prefix}/{reply.conversation.id}"
    return Conversation.from_proto(reply.conversation)


@router.get("")
async def list_conversations(
    clients: Clients,
    user_id: Annotated[str, Query(max_length=255, description="Only this user's.")] = "",
    status: Annotated[ConversationStatusName | None, Query(description="Only this status.")] = None,
    session_key: Annotated[str, Query(max_length=255, description="Only this session's.")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> ConversationList:
    """The tenant's conversations, newest first."""
    reply = await clients.conversations.ListConversations(
        pb.ListConversationsRequest(
            user_id=user_id,
            status=conversation_status_value(status),
            session_key=session_key,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return ConversationList.from_proto(reply)


@router.get(":withMessages")
async def get_session_with_messages(
    clients: Clients,
    session_key: Annotated[
        str,
        Query(min_length=1, max_length=255, description="The session key of the conversation."),
    ],
    max_messages: MaxMessages = 0,
) -> ConversationWithMessages:
    """The most recently updated conversation with this session key, with its visible messages
    by position (seed 003 "conversation with messages")."""
    reply = await clients.conversations.GetConversationWithMessages(
        pb.GetConversationWithMessagesRequest(session_key=session_key, max_messages=max_messages)
    )
    return ConversationWithMessages.from_proto(reply)


# Declared before GET /{conversation_id}, whose parameter would otherwise take "id:withMessages".
@router.get("/{conversation_id}:withMessages")
async def get_conversation_with_messages(
    conversation_id: str, clients: Clients, max_messages: MaxMessages = 0
) -> ConversationWithMessages:
    """The conversation with its visible messages by position, in one call (seed 003
    "conversation with messages"); truncated says whether max_messages left some out."""
    reply = await clients.conversations.GetConversationWithMessages(
        pb.GetConversationWithMessagesRequest(
            conversation_id=conversation_id, max_messages=max_messages
        )
    )
    return ConversationWithMessages.from_proto(reply)


@router.get("/{conversation_id}")
async def get_conversation(conversation_id: str, clients: Clients) -> Conversation:
    reply = await clients.conversations.GetConversation(
        pb.GetConversationRequest(conversation_id=conversation_id)
    )
    return Conversation.from_proto(reply.conversation)


@router.patch("/{conversation_id}")
async def update_conversation(
    conversation_id: str,
    body: UpdateConversationBody,
    clients: Clients,
    update_mask: UpdateMask = None,
) -> Conversation:
    """Change the fields named by update_mask (by default, those in the body; null clears one),
    at the version read (members)."""
    paths = [path.strip() for path in (update_mask or "").split(",") if path.strip()]
    reply = await clients.conversations.UpdateConversation(
        pb.UpdateConversationRequest(
            conversation=body.to_proto(conversation_id),
            update_mask=FieldMask(paths=paths or body.mask_paths()),
        )
    )
    return Conversation.from_proto(reply.conversation)


@router.post("/{conversation_id}:archive")
async def archive_conversation(conversation_id: str, clients: Clients) -> Conversation:
    """Close the conversation to new messages and runs; it stays readable (members). Archiving
    twice is not an error."""
    reply = await clients.conversations.ArchiveConversation(
        pb.ArchiveConversationRequest(conversation_id=conversation_id)
    )
    return Conversation.from_proto(reply.conversation)


@router.post("/{conversation_id}:truncate")
async def truncate_conversation(
    conversation_id: str, body: TruncateConversationBody, clients: Clients
) -> TruncatedConversation:
    """Hide the messages after keep_through_position from what is listed, searched and sent to
    the model, by opening a new ledger segment: nothing stored is rewritten or deleted
    (members). A conversation with a run queued or in progress refuses it (409): cancel the
    run first, or post with multitask_strategy rollback."""
    reply = await clients.conversations.TruncateConversation(body.to_proto(conversation_id))
    return TruncatedConversation.from_proto(reply)


@router.post("/{conversation_id}/messages", status_code=201)
async def post_message(
    conversation_id: str,
    body: PostMessageBody,
    clients: Clients,
    idempotency_key: IdempotencyKey = None,
) -> PostedMessage:
    """Add a message; a user message starts the agent's run, answered here (follow it on the
    conversation's events). Members post user messages; other roles need an admin."""
    reply = await clients.messages.AppendMessage(
        body.to_proto(conversation_id, idempotency_key or "")
    )
    return PostedMessage.from_proto(reply)


@router.post("/{conversation_id}/messages/{position}:edit")
async def edit_message(
    conversation_id: str,
    position: Annotated[int, Path(ge=0, le=2**31 - 1, description="The message's position.")],
    body: EditMessageBody,
    clients: Clients,
    idempotency_key: IdempotencyKey = None,
) -> EditedMessage:
    """Replace a visible message: a new ledger segment hides it and every message after it
    (kept, found again only with include_hidden), and the new message is added in it; a user
    message starts the agent's run. Members edit user messages; other roles need an admin. A
    conversation with a run queued or in progress refuses it (409): cancel the run first."""
    reply = await clients.messages.EditMessage(
        body.to_proto(conversation_id, position, idempotency_key or "")
    )
    return EditedMessage.from_proto(reply)


@router.get("/{conversation_id}/messages")
async def list_messages(
    conversation_id: str,
    clients: Clients,
    role: Annotated[MessageRoleName | None, Query(description="Only this role's.")] = None,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> MessageList:
    """The conversation's messages by position."""
    reply = await clients.messages.ListMessages(
        mpb.ListMessagesRequest(
            conversation_id=conversation_id,
            role=role_value(role),
            page_size=page_size,
            page_token=page_token,
        )
    )
    return MessageList.from_proto(reply)


@search.get(":search")
async def search_messages(
    clients: Clients,
    query: Annotated[
        str, Query(min_length=1, max_length=500, description="Words that must all occur.")
    ],
    conversation_id: Annotated[
        str, Query(max_length=64, description="Only this conversation's messages.")
    ] = "",
    include_hidden: Annotated[
        bool, Query(description="Find messages a truncation or an edit hid too.")
    ] = False,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> MessageSearchResults:
    """The tenant's visible messages whose text holds every word of the query (full-text),
    newest first; what truncations and edits hid only with include_hidden."""
    reply = await clients.messages.SearchMessages(
        mpb.SearchMessagesRequest(
            query=query,
            conversation_id=conversation_id,
            include_hidden=include_hidden,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return MessageSearchResults.from_proto(reply)
