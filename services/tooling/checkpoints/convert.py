"""Checkpoints between their rows and their protobuf messages."""

from __future__ import annotations

import json
from collections.abc import Sequence

from quarterdeck.tooling.v1 import checkpoints_pb2 as pb
from services.tooling.checkpoints.models import (
    CheckpointBlobRecord,
    CheckpointRecord,
    CheckpointWriteRecord,
)
from shared.timestamps import to_timestamp


def checkpoint_to_proto(
    row: CheckpointRecord,
    blobs: Sequence[CheckpointBlobRecord],
    writes: Sequence[CheckpointWriteRecord],
) -> pb.Checkpoint:
    return pb.Checkpoint(
        thread_id=row.thread_id,
        checkpoint_ns=row.checkpoint_ns,
        checkpoint_id=row.checkpoint_id,
        parent_checkpoint_id=row.parent_checkpoint_id or "",
        checkpoint=pb.TypedValue(type=row.type, data=row.checkpoint),
        metadata=json.dumps(row.checkpoint_metadata).encode(),
        channel_versions=[
            pb.ChannelVersion(channel=channel, version=version)
            for channel, version in sorted(row.channel_versions.items())
        ],
        blobs=[
            pb.ChannelBlob(
                channel=blob.channel,
                version=blob.version,
                value=pb.TypedValue(type=blob.type, data=blob.blob),
            )
            for blob in blobs
        ],
        pending_writes=[
            pb.PendingWrite(
                task_id=write.task_id,
                idx=write.idx,
                channel=write.channel,
                value=pb.TypedValue(type=write.type, data=write.blob),
                task_path=write.task_path,
            )
            for write in writes
        ],
        create_time=to_timestamp(row.created_at),
    )
