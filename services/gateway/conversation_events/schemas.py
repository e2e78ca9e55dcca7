"""Stream tickets and ledger events (mapped from their messages) and the body that asks for a
ticket."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import stream_tickets_pb2 as pb
from services.gateway.proto_json import Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody


class StreamTicket(ProtoModel, message=pb.StreamTicket, nullable=("session_key", "last_use_time")):
    expire_time: datetime = Field(
        description="When the ticket stops being accepted; a stream it opened ends then, with "
        "a last event: stream.end (data: reason STREAM_TICKET_EXPIRED, resume_after)."
    )


class CreatedStreamTicket(ProtoModel, message=pb.CreateStreamTicketResponse):
    ticket: str = Field(
        description="The ticket, shown only here: open GET /v1/conversations/{id}/events"
        "?ticket=... with it (an EventSource cannot send an Authorization header)."
    )
    stream_ticket: StreamTicket


class CreateStreamTicketBody(RequestBody):
    ttl_seconds: int = Field(
        default=0, ge=0, le=86400, description="Its lifetime; 0 for the service's default (60 s)."
    )
    session_key: Text = Field(default="", max_length=255)


class LedgerEvent(
    ProtoModel,
    message=epb.LedgerEvent,
    nullable=("segment_id", "run_id", "response_id", "agent", "item_id", "tool_call_id"),
):
    sequence_number: int = Field(
        description="The per-conversation cursor: the SSE id, and ?after= to continue from."
    )
    kind: str = Field(
        description="response.created, response.output_text.delta, response.completed, "
        "run.requires_action, run.completed, run.failed..."
    )


class EventPage(ProtoModel, message=epb.ListEventsResponse):
    next_after_sequence_number: int = Field(
        description="The cursor to continue from (?after=): the last event's, or the one asked "
        "for when there were none."
    )
