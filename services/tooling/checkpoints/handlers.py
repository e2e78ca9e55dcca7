"""CheckpointService: LangGraph checkpoints, channel blobs and pending writes, in the shape of
LangGraph's own savers, each row keyed first by the caller's tenant. Members write; viewers read.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, delete, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tooling.v1 import checkpoints_pb2 as pb
from services.tooling.checkpoints.convert import checkpoint_to_proto
from services.tooling.checkpoints.models import (
    MAX_ID_LENGTH,
    CheckpointBlobRecord,
    CheckpointRecord,
    CheckpointWriteRecord,
)
from services.tooling.context import ToolingContext
from services.tooling.validation import Violations
from shared.errors import InvalidArgument
from shared.ids import parse_id
from shared.inserts import dialect_insert, insert_ignoring_duplicates
from shared.pagination import fetch_page
from shared.tenant_scope import one_tenant_for_read, tenant_for_write

MAX_TYPE = 64
MAX_METADATA_BYTES = 256 * 1024
MAX_FILTER_KEYS = 20


def _metadata(raw: bytes, field: str) -> dict[str, Any]:
    if not raw:
        return {}
    if len(raw) > MAX_METADATA_BYTES:
        raise InvalidArgument.field(field, f"must be at most {MAX_METADATA_BYTES} bytes")
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidArgument.field(field, "must be a JSON object in UTF-8") from None
    if not isinstance(value, dict):
        raise InvalidArgument.field(field, "must be a JSON object")
    return value


def _ids(violations: Violations, prefix: str, **values: str) -> None:
    for name, value in values.items():
        violations.text(f"{prefix}{name}", value, MAX_ID_LENGTH, required=name != "checkpoint_ns")


def _typed(violations: Violations, field: str, value: pb.TypedValue) -> None:
    violations.text(f"{field}.type", value.type, MAX_TYPE, required=True)


def _writing_tenant(requested: str) -> uuid.UUID:
    """The tenant a write is for: the token's own, or the one a Quarterdeck service names."""
    return parse_id(tenant_for_write(requested, minimum_role="member"), "tenant_id")


def _reading_tenant(requested: str) -> uuid.UUID:
    return parse_id(one_tenant_for_read(requested), "tenant_id")


class CheckpointHandlers:
    def __init__(self, ctx: ToolingContext) -> None:
        self._ctx = ctx

    @property
    def _dialect(self) -> str:
        return self._ctx.database.dialect

    async def put_checkpoint(self, request: pb.PutCheckpointRequest) -> pb.PutCheckpointResponse:
        tenant = _writing_tenant(request.tenant_id)
        c = request.checkpoint
        violations = Violations()
        _ids(
            violations,
            "checkpoint.",
            thread_id=c.thread_id,
            checkpoint_ns=c.checkpoint_ns,
            checkpoint_id=c.checkpoint_id,
        )
        violations.text("checkpoint.parent_checkpoint_id", c.parent_checkpoint_id, MAX_ID_LENGTH)
        _typed(violations, "checkpoint.checkpoint", c.checkpoint)
        for i, blob in enumerate(request.new_blobs):
            violations.text(f"new_blobs[{i}].channel", blob.channel, MAX_ID_LENGTH, required=True)
            violations.text(f"new_blobs[{i}].version", blob.version, MAX_ID_LENGTH, required=True)
            _typed(violations, f"new_blobs[{i}].value", blob.value)
        violations.raise_if_any()
        metadata = _metadata(c.metadata, "checkpoint.metadata")
        key = {"tenant_id": tenant, "thread_id": c.thread_id, "checkpoint_ns": c.checkpoint_ns}
        row = {
            **key,
            "checkpoint_id": c.checkpoint_id,
            "parent_checkpoint_id": c.parent_checkpoint_id or None,
            "type": c.checkpoint.type,
            "checkpoint": c.checkpoint.data,
            "metadata": metadata,
            "channel_versions": {v.channel: v.version for v in c.channel_versions},
        }
        async with self._ctx.database.transaction() as session:
            if request.new_blobs:
                await session.execute(
                    insert_ignoring_duplicates(
                        self._dialect,
                        CheckpointBlobRecord.__table__,
                        ["tenant_id", "thread_id", "checkpoint_ns", "channel", "version"],
                    ),
                    [
                        {
                            **key,
                            "channel": blob.channel,
                            "version": blob.version,
                            "type": blob.value.type,
                            "blob": blob.value.data,
                        }
                        for blob in request.new_blobs
                    ],
                )
            # A checkpoint put again under its id replaces the stored one (as LangGraph's).
            insert = dialect_insert(self._dialect, CheckpointRecord.__table__)
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["tenant_id", "thread_id", "checkpoint_ns", "checkpoint_id"],
                    set_={
                        name: insert.excluded[name]
                        for name in (
                            "parent_checkpoint_id",
                            "type",
                            "checkpoint",
                            "metadata",
                            "channel_versions",
                        )
                    },
                ),
                [row],
            )
        return pb.PutCheckpointResponse(
            thread_id=c.thread_id, checkpoint_ns=c.checkpoint_ns, checkpoint_id=c.checkpoint_id
        )

    async def put_writes(self, request: pb.PutWritesRequest) -> pb.PutWritesResponse:
        tenant = _writing_tenant(request.tenant_id)
        violations = Violations()
        _ids(
            violations,
            "",
            thread_id=request.thread_id,
            checkpoint_ns=request.checkpoint_ns,
            checkpoint_id=request.checkpoint_id,
        )
        for i, write in enumerate(request.writes):
            violations.text(f"writes[{i}].task_id", write.task_id, MAX_ID_LENGTH, required=True)
            violations.text(f"writes[{i}].channel", write.channel, MAX_ID_LENGTH, required=True)
            violations.text(f"writes[{i}].task_path", write.task_path, 1024)
            _typed(violations, f"writes[{i}].value", write.value)
        violations.raise_if_any()
        if not request.writes:
            return pb.PutWritesResponse()
        rows: list[dict[str, Any]] = [
            {
                "tenant_id": tenant,
                "thread_id": request.thread_id,
                "checkpoint_ns": request.checkpoint_ns,
                "checkpoint_id": request.checkpoint_id,
                "task_id": write.task_id,
                "idx": write.idx,
                "channel": write.channel,
                "type": write.value.type,
                "blob": write.value.data,
                "task_path": write.task_path,
            }
            for write in request.writes
        ]
        primary_key = ["tenant_id", "thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"]
        # A regular write is kept once (the first wins); a special one (error, interrupt,
        # resume: negative idx) is replaced by the latest, as LangGraph's savers do.
        regular = [row for row in rows if row["idx"] >= 0]
        special = [row for row in rows if row["idx"] < 0]
        async with self._ctx.database.transaction() as session:
            if regular:
                await session.execute(
                    insert_ignoring_duplicates(
                        self._dialect, CheckpointWriteRecord.__table__, primary_key
                    ),
                    regular,
                )
            if special:
                insert = dialect_insert(self._dialect, CheckpointWriteRecord.__table__)
                await session.execute(
                    insert.on_conflict_do_update(
                        index_elements=primary_key,
                        set_={
                            name: insert.excluded[name]
                            for name in ("channel", "type", "blob", "task_path")
                        },
                    ),
                    special,
                )
        return pb.PutWritesResponse()

    async def get_checkpoint(self, request: pb.GetCheckpointRequest) -> pb.GetCheckpointResponse:
        tenant = _reading_tenant(request.tenant_id)
        violations = Violations()
        violations.text("thread_id", request.thread_id, MAX_ID_LENGTH, required=True)
        violations.raise_if_any()
        statement = select(CheckpointRecord).where(
            CheckpointRecord.tenant_id == tenant,
            CheckpointRecord.thread_id == request.thread_id,
            CheckpointRecord.checkpoint_ns == request.checkpoint_ns,
        )
        if request.checkpoint_id:
            statement = statement.where(CheckpointRecord.checkpoint_id == request.checkpoint_id)
        else:
            statement = statement.order_by(CheckpointRecord.checkpoint_id.desc()).limit(1)
        async with self._ctx.database.reading() as session:
            row = await session.scalar(statement)
            if row is None:
                return pb.GetCheckpointResponse(found=False)
            return pb.GetCheckpointResponse(
                found=True, checkpoint=await self._complete(session, row)
            )

    async def list_checkpoints(
        self, request: pb.ListCheckpointsRequest
    ) -> pb.ListCheckpointsResponse:
        tenant = _reading_tenant(request.tenant_id)
        statement = select(CheckpointRecord).where(CheckpointRecord.tenant_id == tenant)
        filters: dict[str, Any] = {"tenant": str(tenant)}
        if request.thread_id:
            statement = statement.where(CheckpointRecord.thread_id == request.thread_id)
            filters["thread"] = request.thread_id
        if request.HasField("checkpoint_ns"):
            statement = statement.where(CheckpointRecord.checkpoint_ns == request.checkpoint_ns)
            filters["ns"] = request.checkpoint_ns
        if request.checkpoint_id:
            statement = statement.where(CheckpointRecord.checkpoint_id == request.checkpoint_id)
            filters["id"] = request.checkpoint_id
        if request.before_checkpoint_id:
            statement = statement.where(
                CheckpointRecord.checkpoint_id < request.before_checkpoint_id
            )
            filters["before"] = request.before_checkpoint_id
        wanted = _metadata(request.metadata_filter, "metadata_filter")
        if len(wanted) > MAX_FILTER_KEYS:
            raise InvalidArgument.field(
                "metadata_filter", f"may hold at most {MAX_FILTER_KEYS} keys"
            )
        if wanted:
            statement = statement.where(*self._metadata_matches(wanted))
            filters["metadata"] = wanted
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[
                    CheckpointRecord.checkpoint_id,
                    CheckpointRecord.thread_id,
                    CheckpointRecord.checkpoint_ns,
                ],
                position_of=lambda row: [row.checkpoint_id, row.thread_id, row.checkpoint_ns],
                codec=self._ctx.pages,
                query="tooling.ListCheckpoints",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
            checkpoints = [await self._complete(session, row) for row in page.items]
        return pb.ListCheckpointsResponse(
            checkpoints=checkpoints, next_page_token=page.next_page_token
        )

    def _metadata_matches(self, wanted: dict[str, Any]) -> list[ColumnElement[bool]]:
        """Checkpoints whose metadata holds each key of ``wanted`` with the same value."""
        column = CheckpointRecord.checkpoint_metadata
        if self._dialect == "postgresql":
            return [cast(column, JSONB).contains({key: value}) for key, value in wanted.items()]
        conditions: list[ColumnElement[bool]] = []
        for key, value in wanted.items():
            path = "$." + json.dumps(key)
            if isinstance(value, (dict, list)):
                conditions.append(
                    func.json(func.json_extract(column, path))
                    == func.json(literal(json.dumps(value)))
                )
            elif value is None:
                conditions.append(func.json_type(column, path) == "null")
            elif isinstance(value, bool):
                conditions.append(
                    and_(
                        func.json_type(column, path) == ("true" if value else "false"),
                    )
                )
            elif isinstance(value, str):
                conditions.append(
                    and_(
                        func.json_type(column, path) == "text",
                        cast(func.json_extract(column, path), String) == value,
                    )
                )
            else:
                conditions.append(func.json_extract(column, path) == value)
        return conditions

    async def _complete(self, session: AsyncSession, row: CheckpointRecord) -> pb.Checkpoint:
        """The checkpoint with the blobs of its channel versions and its pending writes."""
        versions = row.channel_versions
        blobs = []
        if versions:
            candidates = await session.scalars(
                select(CheckpointBlobRecord).where(
                    CheckpointBlobRecord.tenant_id == row.tenant_id,
                    CheckpointBlobRecord.thread_id == row.thread_id,
                    CheckpointBlobRecord.checkpoint_ns == row.checkpoint_ns,
                    CheckpointBlobRecord.channel.in_(list(versions)),
                )
            )
            blobs = [b for b in candidates if versions.get(b.channel) == b.version]
        writes = list(
            await session.scalars(
                select(CheckpointWriteRecord)
                .where(
                    CheckpointWriteRecord.tenant_id == row.tenant_id,
                    CheckpointWriteRecord.thread_id == row.thread_id,
                    CheckpointWriteRecord.checkpoint_ns == row.checkpoint_ns,
                    CheckpointWriteRecord.checkpoint_id == row.checkpoint_id,
                )
                .order_by(
                    CheckpointWriteRecord.task_path,
                    CheckpointWriteRecord.task_id,
                    CheckpointWriteRecord.idx,
                )
            )
        )
        return checkpoint_to_proto(row, blobs, writes)

    async def delete_thread(self, request: pb.DeleteThreadRequest) -> pb.DeleteThreadResponse:
        tenant = _writing_tenant(request.tenant_id)
        violations = Violations()
        violations.text("thread_id", request.thread_id, MAX_ID_LENGTH, required=True)
        violations.raise_if_any()
        async with self._ctx.database.transaction() as session:
            for model in (CheckpointWriteRecord, CheckpointBlobRecord, CheckpointRecord):
                await session.execute(
                    delete(model).where(
                        model.tenant_id == tenant, model.thread_id == request.thread_id
                    )
                )
        return pb.DeleteThreadResponse()
