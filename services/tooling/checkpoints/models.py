"""LangGraph checkpoints in the shape of its PostgreSQL saver (seed 004 ``checkpoints``):
checkpoints, channel blobs and pending writes, each keyed first by tenant, so a thread id another
tenant guesses finds nothing. Serialized values are opaque bytes with their serializer's tag."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.tooling.models import Base
from shared.db_types import JSONType, UTCDateTime, utcnow

MAX_ID_LENGTH = 255


class CheckpointRecord(Base):
    __tablename__ = "checkpoints"
    __table_args__ = (
        Index(
            "ix_checkpoints_parent",
            "tenant_id",
            "thread_id",
            "checkpoint_ns",
            "parent_checkpoint_id",
        ),
        Index("ix_checkpoints_tenant_id_order", "tenant_id", "checkpoint_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    checkpoint_ns: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    checkpoint_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    parent_checkpoint_id: Mapped[str | None] = mapped_column(String(MAX_ID_LENGTH))
    type: Mapped[str] = mapped_column(String(64))
    checkpoint: Mapped[bytes] = mapped_column(LargeBinary)
    checkpoint_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType)
    #: {channel: version} the checkpoint holds, to find its blobs.
    channel_versions: Mapped[dict[str, str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CheckpointBlobRecord(Base):
    __tablename__ = "checkpoint_blobs"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    checkpoint_ns: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    channel: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    version: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class CheckpointWriteRecord(Base):
    __tablename__ = "checkpoint_writes"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    checkpoint_ns: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    checkpoint_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    type: Mapped[str] = mapped_column(String(64))
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    task_path: Mapped[str] = mapped_column(String(1024), default="")
