"""A conversation's events as server-sent events, and the stream tickets that open them from a
browser: FollowEvents, RedeemStreamTicket and CreateStreamTicket of the conversation service.

``GET /v1/conversations/{id}/events`` replays the ledger after a cursor and then follows it
live, for as many followers as connect. The cursor is the ``Last-Event-ID`` header (what an
EventSource sends when it reconnects), else ``?after=``, else 0 (from the start); every event's
``id:`` is its cursor, so a client that drops and comes back with the last id it saw misses
nothing and sees nothing twice. The caller is a reader of the conversation's tenant, by token,
or holds a stream ticket for that conversation (``?ticket=``, no Authorization header needed).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from quarterdeck.conversation.v1 import conversations_pb2 as cpb
from quarterdeck.conversation.v1 import events_pb2 as epb
from quarterdeck.conversation.v1 import stream_tickets_pb2 as tpb
from services.gateway.conversation_events.schemas import (
    CreatedStreamTicket,
    CreateStreamTicketBody,
    EventPage,
)
from services.gateway.conversation_events.stream import MEDIA_TYPE, EventStreamResponse
from services.gateway.proto_json import INT64_MAX
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize

router = APIRouter(prefix="/v1/conversations", tags=["events"], responses=ERROR_RESPONSES)

_SSE_EXAMPLE = (
    "id: 7\n"
    "event: response.output_text.delta\n"
    'data: {"delta":"Hello","type":"response.output_text.delta","sequence_number":7,...}\n\n'
    ": heartbeat\n\n"
)
_EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The events as text/event-stream, until the client disconnects.",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}, "example": _SSE_EXAMPLE}},
    }
}


@router.get(
    "/{conversation_id}/events",
    status_code=200,
    response_class=EventStreamResponse,
    responses=_EVENTS_RESPONSES,
)
async def follow_events(
    conversation_id: str,
    request: Request,
    clients: Clients,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT64_MAX, description="Replay the events after this cursor (0: all)."),
    ] = None,
    ticket: Annotated[
        str | None,
        Query(
            max_length=128,
            description="A stream ticket for this conversation, instead of an access token.",
        ),
    ] = None,
    last_event_id: Annotated[
        int | None,
        Header(
            alias="Last-Event-ID",
            ge=0,
            le=INT64_MAX,
            description="The id of the last event seen; wins over ?after= (EventSource sends "
            "it when it reconnects).",
        ),
    ] = None,
) -> Response:
    """Server-sent events of the conversation's ledger (``public_sse_v1``): ``id:`` the cursor,
    ``event:`` the kind (``response.output_text.delta``, ``run.requires_action``,
    ``run.completed``...), ``data:`` one line of JSON holding the event's payload beside
    ``type``, ``sequence_number``, ``conversation_id``, ``run_id``... Replays from the cursor,
    then follows live; comment lines (``: heartbeat``) keep an idle connection open."""
    cursor = last_event_id if last_event_id is not None else after or 0
    # Checked before the stream starts, so a refusal is an error response, not an empty stream.
    if ticket:
        await clients.stream_tickets.RedeemStreamTicket(
            tpb.RedeemStreamTicketRequest(ticket=ticket, conversation_id=conversation_id)
        )
    else:
        await clients.conversations.GetConversation(
            cpb.GetConversationRequest(conversation_id=conversation_id)
        )
    call = clients.event_stream.FollowEvents(
        epb.FollowEventsRequest(
            conversation_id=conversation_id,
            after_sequence_number=cursor,
            stream_ticket=ticket or "",
        )
    )
    settings = request.app.state.settings
    return EventStreamResponse(call, settings.sse_heartbeat_seconds)


@router.get("/{conversation_id}/ledger")
async def list_events(
    conversation_id: str,
    clients: Clients,
    after: Annotated[
        int,
        Query(ge=0, le=INT64_MAX, description="The events after this cursor (0: from the start)."),
    ] = 0,
    include_hidden: Annotated[
        bool,
        Query(description="List the events a truncation or an edit hid too (skipped by default)."),
    ] = False,
    page_size: PageSize = 0,
) -> EventPage:
    """A page of the conversation's ledger as JSON, in cursor order: the events the SSE route
    streams, for a client that polls; continue with ?after=next_after_sequence_number
    (readers of the conversation)."""
    reply = await clients.events.ListEvents(
        epb.ListEventsRequest(
            conversation_id=conversation_id,
            after_sequence_number=after,
            page_size=page_size,
            include_hidden=include_hidden,
        )
    )
    return EventPage.from_proto(reply)


@router.post("/{conversation_id}/stream-tickets", status_code=201)
async def create_stream_ticket(
    conversation_id: str, clients: Clients, body: CreateStreamTicketBody | None = None
) -> CreatedStreamTicket:
    """A short-lived ticket to open this conversation's events without an Authorization header
    (a browser's EventSource): good for nothing else, shown once, stored hashed (readers of the
    conversation)."""
    body = body or CreateStreamTicketBody()
    reply = await clients.stream_tickets.CreateStreamTicket(
        tpb.CreateStreamTicketRequest(
            conversation_id=conversation_id,
            ttl_seconds=body.ttl_seconds,
            session_key=body.session_key,
        )
    )
    return CreatedStreamTicket.from_proto(reply)
