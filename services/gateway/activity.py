"""``/v1/activity``: the caller's activity feed (ActivityService).

The feed is the tenant's of the caller's token (operators name the tenant with ``tenant_id``,
as on every route that reads a tenant's data): what happened in it (members added, roles
changed, the model configuration and its provider key changed), newest first, each event saying
whether the caller has read it. Receipts, the last-seen marker and the unread count are the
calling user's own. Appending is for Quarterdeck services and has no endpoint here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, Field

from quarterdeck.telemetry.v1 import activity_pb2 as pb
from services.gateway.proto_json import Text
from services.gateway.proto_models import ProtoModel
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from services.gateway.schemas import RequestBody
from shared.timestamps import to_timestamp

router = APIRouter(prefix="/v1/activity", tags=["activity"], responses=ERROR_RESPONSES)

#: The same parameter as every other route that reads a tenant's data.
FeedTenant = Annotated[
    str,
    Query(
        max_length=64,
        description="The tenant whose feed; your token's tenant by default (operators name one).",
    ),
]


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


@router.get("")
async def list_activity(
    clients: Clients,
    tenant_id: FeedTenant = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
    action: Annotated[str, Query(max_length=96, description="Only events of this action.")] = "",
    object_type: Annotated[
        str, Query(max_length=64, description="Only events on objects of this type.")
    ] = "",
    object_id: Annotated[
        str, Query(max_length=128, description="Only events on this object (with object_type).")
    ] = "",
    since: Annotated[
        AwareDatetime | None, Query(description="Only events at or after this time (RFC 3339).")
    ] = None,
) -> ActivityList:
    """Your tenant's activity, newest first."""
    request = pb.ListActivityRequest(
        tenant_id=tenant_id,
        page_size=page_size,
        page_token=page_token,
        action=action,
        object_type=object_type,
        object_id=object_id,
    )
    if since is not None:
        request.since.CopyFrom(to_timestamp(since))
    reply = await clients.activity.ListActivity(request)
    return ActivityList.from_proto(reply)


@router.get("/unread-count")
async def get_unread_count(clients: Clients, tenant_id: FeedTenant = "") -> UnreadCount:
    """How many events you have not read: after your last-seen marker, without a receipt."""
    reply = await clients.activity.GetUnreadCount(pb.GetUnreadCountRequest(tenant_id=tenant_id))
    return UnreadCount.from_proto(reply)


@router.post("/read")
async def mark_read(
    body: MarkReadBody, clients: Clients, tenant_id: FeedTenant = ""
) -> MarkReadResult:
    """Mark events of your tenant read; marking one again changes nothing. An unknown id fails
    the whole request (404) and marks nothing."""
    reply = await clients.activity.MarkActivityRead(
        pb.MarkActivityReadRequest(tenant_id=tenant_id, event_ids=body.event_ids)
    )
    return MarkReadResult.from_proto(reply)


@router.post("/seen")
async def mark_seen(
    clients: Clients, body: MarkSeenBody | None = None, tenant_id: FeedTenant = ""
) -> MarkSeenResult:
    """Move your last-seen marker forward (to the newest event by default): everything up to it
    counts as read. The marker never moves back."""
    reply = await clients.activity.MarkAllActivitySeen(
        pb.MarkAllActivitySeenRequest(
            tenant_id=tenant_id, through_event_id=(body.through_event_id or "") if body else ""
        )
    )
    return MarkSeenResult.from_proto(reply)
