"""``/v1/activity``: the caller's activity feed (ActivityService).

The feed is the tenant's of the caller's token (operators name the tenant with ``tenant_id``,
as on every route that reads a tenant's data): what happened in it (members added, roles
changed, the model configuration and its provider key changed), newest first, each event saying
whether the caller has read it. Receipts, the last-seen marker and the unread count are the
calling user's own. Appending is for Quarterdeck services and has no endpoint here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from quarterdeck.telemetry.v1 import activity_pb2 as pb
from services.gateway.activity.schemas import (
    ActivityList,
    MarkReadBody,
    MarkReadResult,
    MarkSeenBody,
    MarkSeenResult,
    UnreadCount,
)
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
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
