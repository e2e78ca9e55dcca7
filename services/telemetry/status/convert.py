"""Status subscriptions as their protobuf messages, and the enum maps between the two."""

from __future__ import annotations

from quarterdeck.telemetry.v1 import status_pb2 as pb
from services.telemetry.status.models import (
    StatusSubscriptionRecord,
    SubscriptionChannel,
    SubscriptionSeverity,
    SubscriptionStatus,
)
from shared.proto_enums import to_proto_map
from shared.timestamps import to_timestamp

# Stored value <-> proto number, derived from the descriptors (shared.proto_enums).
CHANNEL_TO_PROTO = to_proto_map(pb.SubscriptionChannel, SubscriptionChannel)
CHANNELS = {number: value for value, number in CHANNEL_TO_PROTO.items()}
SEVERITY_TO_PROTO = to_proto_map(pb.StatusSeverity, SubscriptionSeverity)
SEVERITIES = {number: value for value, number in SEVERITY_TO_PROTO.items()}
STATUS_TO_PROTO = to_proto_map(pb.SubscriptionStatus, SubscriptionStatus)
STATUSES = {number: value for value, number in STATUS_TO_PROTO.items()}


def subscription_to_proto(row: StatusSubscriptionRecord) -> pb.StatusSubscription:
    message = pb.StatusSubscription(
        id=str(row.id),
        tenant_id=str(row.tenant_id) if row.tenant_id else "",
        channel=CHANNEL_TO_PROTO[row.channel],
        target_masked=row.target_masked,
        severity_filter=SEVERITY_TO_PROTO[row.severity_filter],
        status=STATUS_TO_PROTO[row.status],
        created_by=row.created_by,
        revoked_reason=row.revoked_reason or "",
        verification_expire_time=to_timestamp(row.verification_expires_at),
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        revoke_time=to_timestamp(row.revoked_at),
        last_challenge_send_time=to_timestamp(row.last_challenge_sent_at),
    )
    message.metadata.update(row.metadata_json or {})
    return message
