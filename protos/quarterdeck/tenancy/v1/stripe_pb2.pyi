from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class IngestStripeEventRequest(_message.Message):
    __slots__ = ("raw_body", "signature_header")
    RAW_BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_HEADER_FIELD_NUMBER: _ClassVar[int]
    raw_body: bytes
    signature_header: str
    def __init__(self, raw_body: _Optional[bytes] = ..., signature_header: _Optional[str] = ...) -> None: ...

class IngestStripeEventResponse(_message.Message):
    __slots__ = ("event_id", "event_type", "duplicate")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    duplicate: bool
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class DispatchStripeEventsRequest(_message.Message):
    __slots__ = ("max_events",)
    MAX_EVENTS_FIELD_NUMBER: _ClassVar[int]
    max_events: int
    def __init__(self, max_events: _Optional[int] = ...) -> None: ...

class DispatchStripeEventsResponse(_message.Message):
    __slots__ = ("claimed", "done", "failed", "dead")
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    DEAD_FIELD_NUMBER: _ClassVar[int]
    claimed: int
    done: int
    failed: int
    dead: int
    def __init__(self, claimed: _Optional[int] = ..., done: _Optional[int] = ..., failed: _Optional[int] = ..., dead: _Optional[int] = ...) -> None: ...
