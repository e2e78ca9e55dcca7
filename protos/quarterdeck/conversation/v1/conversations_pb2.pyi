import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from quarterdeck.conversation.v1 import messages_pb2 as _messages_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConversationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSATION_STATUS_UNSPECIFIED: _ClassVar[ConversationStatus]
    CONVERSATION_STATUS_ACTIVE: _ClassVar[ConversationStatus]
    CONVERSATION_STATUS_ARCHIVED: _ClassVar[ConversationStatus]
CONVERSATION_STATUS_UNSPECIFIED: ConversationStatus
CONVERSATION_STATUS_ACTIVE: ConversationStatus
CONVERSATION_STATUS_ARCHIVED: ConversationStatus

class LedgerSegment(_message.Message):
    __slots__ = ("id", "segment_index", "parent_segment_id", "visible_through_message_position", "visible_through_event_id", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARENT_SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_THROUGH_MESSAGE_POSITION_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_THROUGH_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    segment_index: int
    parent_segment_id: str
    visible_through_message_position: int
    visible_through_event_id: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., segment_index: _Optional[int] = ..., parent_segment_id: _Optional[str] = ..., visible_through_message_position: _Optional[int] = ..., visible_through_event_id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TruncateConversationRequest(_message.Message):
    __slots__ = ("conversation_id", "keep_through_position")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_THROUGH_POSITION_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    keep_through_position: int
    def __init__(self, conversation_id: _Optional[str] = ..., keep_through_position: _Optional[int] = ...) -> None: ...

class TruncateConversationResponse(_message.Message):
    __slots__ = ("conversation", "segment")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    segment: LedgerSegment
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ..., segment: _Optional[_Union[LedgerSegment, _Mapping]] = ...) -> None: ...

class MemoryStrategy(_message.Message):
    __slots__ = ("strategy", "max_turns", "keep_last_turns", "compact_trigger_turns", "compact_keep", "clear_tool_inputs", "injection")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MAX_TURNS_FIELD_NUMBER: _ClassVar[int]
    KEEP_LAST_TURNS_FIELD_NUMBER: _ClassVar[int]
    COMPACT_TRIGGER_TURNS_FIELD_NUMBER: _ClassVar[int]
    COMPACT_KEEP_FIELD_NUMBER: _ClassVar[int]
    CLEAR_TOOL_INPUTS_FIELD_NUMBER: _ClassVar[int]
    INJECTION_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    max_turns: int
    keep_last_turns: int
    compact_trigger_turns: int
    compact_keep: int
    clear_tool_inputs: bool
    injection: bool
    def __init__(self, strategy: _Optional[str] = ..., max_turns: _Optional[int] = ..., keep_last_turns: _Optional[int] = ..., compact_trigger_turns: _Optional[int] = ..., compact_keep: _Optional[int] = ..., clear_tool_inputs: _Optional[bool] = ..., injection: _Optional[bool] = ...) -> None: ...

class ConversationUsage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_input_tokens", "total_tokens", "requests", "cost_usd")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cached_input_tokens: int
    total_tokens: int
    requests: int
    cost_usd: str
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cached_input_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., requests: _Optional[int] = ..., cost_usd: _Optional[str] = ...) -> None: ...

class Conversation(_message.Message):
    __slots__ = ("id", "tenant_id", "conversation_key", "user_id", "agent_id", "agent_entrypoint", "active_agent", "status", "display_name", "topic_hint", "source_channel", "session_key", "thread_id", "provider", "model", "provider_conversation_id", "memory", "metadata", "client_version", "message_count", "handoff_count", "usage", "last_run_id", "last_event_sequence", "version", "last_message_time", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_KEY_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_AGENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TOPIC_HINT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    HANDOFF_COUNT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_MESSAGE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    conversation_key: str
    user_id: str
    agent_id: str
    agent_entrypoint: str
    active_agent: str
    status: ConversationStatus
    display_name: str
    topic_hint: str
    source_channel: str
    session_key: str
    thread_id: str
    provider: str
    model: str
    provider_conversation_id: str
    memory: MemoryStrategy
    metadata: _struct_pb2.Struct
    client_version: str
    message_count: int
    handoff_count: int
    usage: ConversationUsage
    last_run_id: str
    last_event_sequence: int
    version: int
    last_message_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., conversation_key: _Optional[str] = ..., user_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., agent_entrypoint: _Optional[str] = ..., active_agent: _Optional[str] = ..., status: _Optional[_Union[ConversationStatus, str]] = ..., display_name: _Optional[str] = ..., topic_hint: _Optional[str] = ..., source_channel: _Optional[str] = ..., session_key: _Optional[str] = ..., thread_id: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., provider_conversation_id: _Optional[str] = ..., memory: _Optional[_Union[MemoryStrategy, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., client_version: _Optional[str] = ..., message_count: _Optional[int] = ..., handoff_count: _Optional[int] = ..., usage: _Optional[_Union[ConversationUsage, _Mapping]] = ..., last_run_id: _Optional[str] = ..., last_event_sequence: _Optional[int] = ..., version: _Optional[int] = ..., last_message_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateConversationRequest(_message.Message):
    __slots__ = ("conversation", "request_id")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    request_id: str
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class GetConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ...) -> None: ...

class ListConversationsRequest(_message.Message):
    __slots__ = ("user_id", "status", "session_key", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    status: ConversationStatus
    session_key: str
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[str] = ..., status: _Optional[_Union[ConversationStatus, str]] = ..., session_key: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConversationsResponse(_message.Message):
    __slots__ = ("conversations", "next_page_token")
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[Conversation]
    next_page_token: str
    def __init__(self, conversations: _Optional[_Iterable[_Union[Conversation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateConversationRequest(_message.Message):
    __slots__ = ("conversation", "update_mask")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ...) -> None: ...

class ArchiveConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class ArchiveConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ...) -> None: ...

class GetConversationWithMessagesRequest(_message.Message):
    __slots__ = ("conversation_id", "session_key", "max_messages")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    session_key: str
    max_messages: int
    def __init__(self, conversation_id: _Optional[str] = ..., session_key: _Optional[str] = ..., max_messages: _Optional[int] = ...) -> None: ...

class GetConversationWithMessagesResponse(_message.Message):
    __slots__ = ("conversation", "messages", "truncated")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    messages: _containers.RepeatedCompositeFieldContainer[_messages_pb2.Message]
    truncated: bool
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[_messages_pb2.Message, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...
