"""Conversations and their messages (mapped from their messages) and the bodies of their
routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from quarterdeck.conversation.v1 import conversations_pb2 as pb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from services.gateway.proto_json import JsonObject, Text, Version
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.runs.schemas import MultitaskStrategyName, Run, strategy_value
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct, python_to_value

ConversationStatusName = Literal["active", "archived"]
MessageRoleName = Literal["system", "user", "assistant", "tool"]


def conversation_status_value(name: ConversationStatusName | None) -> pb.ConversationStatus:
    return enum_number(pb.ConversationStatus, name)


def role_value(name: MessageRoleName | None) -> mpb.MessageRole:
    return enum_number(mpb.MessageRole, name)


class MemoryStrategy(ProtoModel, message=pb.MemoryStrategy):
    pass


class ConversationUsage(ProtoModel, message=pb.ConversationUsage):
    cost_usd: str = Field(description="What it cost: a decimal string of USD, never a float.")


_OPTIONAL_TEXT = (
    "user_id",
    "agent_id",
    "active_agent",
    "display_name",
    "topic_hint",
    "source_channel",
    "session_key",
    "thread_id",
    "provider",
    "model",
    "provider_conversation_id",
    "client_version",
    "last_run_id",
    "last_message_time",
)


class Conversation(ProtoModel, message=pb.Conversation, nullable=_OPTIONAL_TEXT):
    status: ConversationStatusName = Field(
        description="active, or archived (readable, refuses new messages and runs)."
    )
    last_event_sequence: int = Field(
        description="The cursor of the conversation's last event: its events route's SSE id."
    )
    version: int = Field(description="The optimistic-concurrency version; send it on PATCH.")


class ConversationList(ProtoModel, message=pb.ListConversationsResponse):
    next_page_token: str = Field(description="The token of the next page; empty on the last.")


class MessageTokens(ProtoModel, message=mpb.MessageTokens):
    pass


class Message(
    ProtoModel,
    message=mpb.Message,
    nullable=("segment_id", "agent_type", "tool_name", "tool_call_id", "run_id"),
):
    role: MessageRoleName
    cost_usd: str = Field(description="What it cost: a decimal string of USD, never a float.")


class MessageList(ProtoModel, message=mpb.ListMessagesResponse):
    next_page_token: str = Field(description="The token of the next page; empty on the last.")


class MessageSearchResults(ProtoModel, message=mpb.SearchMessagesResponse):
    next_page_token: str = Field(description="The token of the next page; empty on the last.")


class EditedMessage(ProtoModel, message=mpb.EditMessageResponse):
    message: Message = Field(
        description="The new message: at the conversation's next position, in the segment the "
        "edit opened (the old one and those after it are hidden, not deleted)."
    )
    run: Run | None = Field(description="The run answering it, null when none was started.")


class PostedMessage(ProtoModel, message=mpb.AppendMessageResponse):
    message: Message
    run: Run | None = Field(
        description="The run answering the message (follow it on the conversation's events), "
        "null when none was started."
    )


class ConversationWithMessages(ProtoModel, message=pb.GetConversationWithMessagesResponse):
    conversation: Conversation
    messages: list[Message] = Field(description="Its visible messages by position.")
    truncated: bool = Field(description="Whether messages were left out by max_messages.")


class LedgerSegment(
    ProtoModel,
    message=pb.LedgerSegment,
    nullable=(
        "parent_segment_id",
        "visible_through_message_position",
        "visible_through_event_id",
    ),
):
    visible_through_message_position: int | None = Field(
        description="The parent's messages stay visible through this position (-1: none)."
    )
    visible_through_event_id: int | None = Field(
        description="The parent's ledger stays visible through this cursor."
    )


class TruncatedConversation(ProtoModel, message=pb.TruncateConversationResponse):
    conversation: Conversation
    segment: LedgerSegment = Field(description="The segment opened; nothing stored is deleted.")


class TruncateConversationBody(RequestBody):
    keep_through_position: int = Field(
        ge=-1,
        le=2**31 - 1,
        description="The position of the last message kept visible; -1 hides every message.",
    )

    def to_proto(self, conversation_id: str) -> pb.TruncateConversationRequest:
        return pb.TruncateConversationRequest(
            conversation_id=conversation_id, keep_through_position=self.keep_through_position
        )


class MemoryBody(RequestBody):
    strategy: Text = Field(default="", max_length=16, description="full, window, compact...")
    max_turns: int | None = Field(default=None, ge=0, le=2**31 - 1)
    keep_last_turns: int | None = Field(default=None, ge=0, le=2**31 - 1)
    compact_trigger_turns: int | None = Field(default=None, ge=0, le=2**31 - 1)
    compact_keep: int | None = Field(default=None, ge=0, le=2**31 - 1)
    clear_tool_inputs: bool | None = None
    injection: bool | None = None

    def to_proto(self) -> pb.MemoryStrategy:
        return pb.MemoryStrategy(**self.model_dump(exclude_none=True))


class _ConversationFields(RequestBody):
    agent_id: Text | None = Field(default=None, description="The tooling agent that answers.")
    active_agent: Text | None = None
    display_name: Text | None = Field(default=None, description="At most 128 characters.")
    topic_hint: Text | None = None
    source_channel: Text | None = Field(default=None, description="web, api, slack...")
    session_key: Text | None = None
    thread_id: Text | None = Field(default=None, description="A LangGraph thread id.")
    provider: Text | None = None
    model: Text | None = None
    provider_conversation_id: Text | None = None
    memory: MemoryBody | None = None
    metadata: JsonObject | None = None
    client_version: Text | None = None

    def fields(self) -> dict[str, Any]:
        """The body as the message's fields; text left out (or null) is empty."""
        text = self.model_dump(exclude={"memory", "metadata", "version"})
        values: dict[str, Any] = {name: value or "" for name, value in text.items()}
        values["memory"] = self.memory.to_proto() if self.memory else None
        values["metadata"] = dict_to_struct(self.metadata)
        return values


class CreateConversationBody(_ConversationFields):
    conversation_key: Text | None = Field(
        default=None, description="Unique across the platform; generated when left out."
    )
    user_id: Text | None = Field(
        default=None, description="The user the conversation is with; the caller by default."
    )
    agent_entrypoint: Text | None = Field(default=None, description='"default" when left out.')

    def to_proto(self) -> pb.Conversation:
        return pb.Conversation(**self.fields())


class UpdateConversationBody(_ConversationFields):
    """The fields to change; those left out stay as they are."""

    version: Version

    def to_proto(self, conversation_id: str) -> pb.Conversation:
        return pb.Conversation(id=conversation_id, version=self.version, **self.fields())


class _MessageFields(RequestBody):
    role: MessageRoleName = Field(
        default="user", description="user (members); system, assistant and tool need an admin."
    )
    text: Text = Field(default="", max_length=100_000, description="Required unless content.")
    content: list[JsonObject] | JsonObject | None = Field(
        default=None, description="Structured content (parts, tool calls); the text by default."
    )
    attachments: list[JsonObject] = Field(default_factory=list)
    agent_type: Text = ""
    tool_name: Text = ""
    tool_call_id: Text = Field(default="", description="Required for a tool message.")
    metadata: JsonObject = Field(default_factory=dict)
    start_run: bool | None = Field(
        default=None,
        description="Whether the agent answers it (a run); by default, for a user message only.",
    )

    def message(self) -> mpb.Message:
        message = mpb.Message(
            role=role_value(self.role),
            text=self.text,
            agent_type=self.agent_type,
            tool_name=self.tool_name,
            tool_call_id=self.tool_call_id,
            metadata=dict_to_struct(self.metadata),
        )
        if self.content is not None:
            message.content.CopyFrom(python_to_value(self.content))
        message.attachments.extend([dict_to_struct(item) for item in self.attachments])
        return message

    def starts_run(self) -> bool:
        return self.role == "user" if self.start_run is None else self.start_run


class EditMessageBody(_MessageFields):
    """The new message; it replaces the one at the path's position, in the same role."""

    def to_proto(
        self, conversation_id: str, position: int, request_id: str
    ) -> mpb.EditMessageRequest:
        return mpb.EditMessageRequest(
            conversation_id=conversation_id,
            position=position,
            message=self.message(),
            start_run=self.starts_run(),
            request_id=request_id,
        )


class PostMessageBody(_MessageFields):
    multitask_strategy: MultitaskStrategyName | None = Field(
        default=None,
        description="When a run is already queued or active: reject it, enqueue behind it "
        "(the default), or interrupt it.",
    )

    def to_proto(self, conversation_id: str, request_id: str) -> mpb.AppendMessageRequest:
        return mpb.AppendMessageRequest(
            conversation_id=conversation_id,
            message=self.message(),
            start_run=self.starts_run(),
            multitask_strategy=strategy_value(self.multitask_strategy),
            request_id=request_id,
        )
