"""Activity events as their protobuf messages, and the enum maps between the two."""

from __future__ import annotations

from quarterdeck.telemetry.v1 import activity_pb2 as pb
from services.telemetry.activity.models import (
    ActivityEventRecord,
    ActivityStatus,
    ActorType,
)
from services.telemetry.batch_rows import struct_of
from shared.proto_enums import to_proto_map
from shared.timestamps import to_timestamp

ACTOR_TYPE_TO_PROTO = to_proto_map(pb.ActivityActorType, ActorType)
ACTOR_TYPE_FROM_PROTO = {v: k for k, v in ACTOR_TYPE_TO_PROTO.items()}
STATUS_TO_PROTO = to_proto_map(pb.ActivityStatus, ActivityStatus)
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}


#: Stored values are plain strings (the seed's columns): an unknown one reads as UNSPECIFIED.
_ACTOR_TYPE_BY_VALUE: dict[str, pb.ActivityActorType] = {
    k.value: v for k, v in ACTOR_TYPE_TO_PROTO.items()
}
_STATUS_BY_VALUE: dict[str, pb.ActivityStatus] = {k.value: v for k, v in STATUS_TO_PROTO.items()}


def event_to_proto(row: ActivityEventRecord, *, read: bool) -> pb.ActivityEvent:
    event = pb.ActivityEvent(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        action=row.action,
        create_time=to_timestamp(row.created_at),
        actor_id=str(row.actor_id) if row.actor_id else "",
        actor_type=_ACTOR_TYPE_BY_VALUE.get(
            row.actor_type or "", pb.ACTIVITY_ACTOR_TYPE_UNSPECIFIED
        ),
        actor_role=row.actor_role or "",
        object_type=row.object_type or "",
        object_id=row.object_id or "",
        object_name=row.object_name or "",
        status=_STATUS_BY_VALUE.get(row.status, pb.ACTIVITY_STATUS_UNSPECIFIED),
        source=row.source or "",
        request_id=row.request_id or "",
        ip_hash=row.ip_hash or "",
        user_agent=row.user_agent or "",
        summary=row.summary or "",
        trace_id=row.trace_id or "",
        span_id=row.span_id or "",
        read=read,
    )
    if row.metadata_json is not None:
        event.metadata.CopyFrom(struct_of(row.metadata_json))
    return event
