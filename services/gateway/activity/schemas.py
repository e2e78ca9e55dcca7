"""The activity feed's events and counts, mapped from their messages, and the bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from quarterdeck.telemetry.v1 import activity_pb2 as pb
from services.gateway.proto_json import Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody


class ActivityEvent(
    ProtoModel,
    message=pb.ActivityEvent,
    exclude=("tenant_id", "request_id", "ip_hash", "user_agent", "span_id"),
    nullable=("actor_type", "actor_role", "object_type", "object_id", "object_name", "status"),
):
    action: str = Field(description="What happened, such as membership.added.")
    summary: str | None = Field(description="A short human-readable summary.")
    actor_id: str | None = Field(description="The user or service account who acted.")
    source: str | None = Field(description="The service that recorded the event.")
    metadata: dict[str, Any] = Field(description="Details of the event; never secrets.")
    trace_id: str | None = Field(description="The trace the event was recorded under.")
    read: bool = Field(description="Whether you have read the event.")


class ActivityList(ProtoModel, message=pb.ListActivityResponse):
    events: list[ActivityEvent] = Field(description="Newest first.")
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class UnreadCount(ProtoModel, message=pb.GetUnreadCountResponse):
    unread_count: int = Field(description="Your unread events, counted up to the service's cap.")
    capped: bool = Field(description="True when there are more unread events than counted.")


class MarkReadBody(RequestBody):
    event_ids: list[Text] = Field(
        min_length=1, max_length=500, description="The ids of the events to mark read."
    )


class MarkReadResult(ProtoModel, message=pb.MarkActivityReadResponse):
    newly_read_count: int = Field(description="How many of the events you had not read before.")


class MarkSeenBody(RequestBody):
    through_event_id: Text | None = Field(
        default=None,
        description="The newest event you have seen; defaults to the tenant's newest event.",
    )


class MarkSeenResult(ProtoModel, message=pb.MarkAllActivitySeenResponse):
    last_seen_time: datetime | None = Field(
        description="Where your last-seen marker stands; null while the feed is empty."
    )
    last_seen_event_id: str | None
