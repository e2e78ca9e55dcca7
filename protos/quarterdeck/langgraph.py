"""A LangGraph checkpointer over Quarterdeck's tooling service.

``QuarterdeckCheckpointSaver`` stores a graph's checkpoints, channel values and pending writes
through the CheckpointService RPCs, under the tenant of the caller's access token: a thread of
one tenant is invisible to another, whatever thread_id it sends. Sync methods (``graph.invoke``)
use a blocking channel; async methods (``graph.ainvoke``) a ``grpc.aio`` channel of the running
event loop. Values are serialized here with the saver's serde; the service keeps them opaque.

    saver = QuarterdeckCheckpointSaver("tooling:50054", metadata=[("authorization", "Bearer ...")])
    graph = builder.compile(checkpointer=saver)
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import grpc
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from quarterdeck.tooling.v1 import checkpoints_pb2 as pb
from quarterdeck.tooling.v1.checkpoints_pb2_grpc import CheckpointServiceStub

#: The type tag of a channel that has no value at a version.
EMPTY = "empty"
DEFAULT_PAGE_SIZE = 100


class QuarterdeckCheckpointSaver(BaseCheckpointSaver[str]):
    def __init__(
        self,
        target: str,
        *,
        metadata: Sequence[tuple[str, str]] = (),
        tenant_id: str = "",
        serde: SerializerProtocol | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self._target = target
        self._metadata = list(metadata)
        self._tenant_id = tenant_id
        self._credentials = credentials
        self._sync_channel = self._open(grpc)
        self._sync = CheckpointServiceStub(self._sync_channel)
        self._aio: tuple[asyncio.AbstractEventLoop, grpc.aio.Channel, CheckpointServiceStub] | None
        self._aio = None

    def _open(self, module: Any) -> Any:
        if self._credentials is not None:
            return module.secure_channel(self._target, self._credentials)
        return module.insecure_channel(self._target)

    def _async_stub(self) -> CheckpointServiceStub:
        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio[0] is not loop:
            channel = self._open(grpc.aio)
            self._aio = (loop, channel, CheckpointServiceStub(channel))
        return self._aio[2]

    def close(self) -> None:
        self._sync_channel.close()

    async def aclose(self) -> None:
        self._sync_channel.close()
        if self._aio is not None:
            await self._aio[1].close()
            self._aio = None

    # -- Requests and replies ---------------------------------------------------------------

    def _typed(self, value: Any) -> pb.TypedValue:
        kind, data = self.serde.dumps_typed(value)
        return pb.TypedValue(type=kind, data=data)

    def _put_request(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> pb.PutCheckpointRequest:
        configurable = config["configurable"]
        stored = checkpoint.copy()
        values: dict[str, Any] = stored.pop("channel_values")  # type: ignore[misc]
        return pb.PutCheckpointRequest(
            tenant_id=self._tenant_id,
            checkpoint=pb.Checkpoint(
                thread_id=str(configurable["thread_id"]),
                checkpoint_ns=configurable.get("checkpoint_ns", ""),
                checkpoint_id=checkpoint["id"],
                parent_checkpoint_id=configurable.get("checkpoint_id") or "",
                checkpoint=self._typed(stored),
                metadata=json.dumps(
                    get_serializable_checkpoint_metadata(config, metadata)
                ).encode(),
                channel_versions=[
                    pb.ChannelVersion(channel=channel, version=str(version))
                    for channel, version in checkpoint["channel_versions"].items()
                ],
            ),
            new_blobs=[
                pb.ChannelBlob(
                    channel=channel,
                    version=str(version),
                    value=self._typed(values[channel])
                    if channel in values
                    else pb.TypedValue(type=EMPTY, data=b""),
                )
                for channel, version in new_versions.items()
            ],
        )

    @staticmethod
    def _saved_config(config: RunnableConfig, checkpoint_id: str) -> RunnableConfig:
        configurable = config["configurable"]
        return {
            "configurable": {
                "thread_id": configurable["thread_id"],
                "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                "checkpoint_id": checkpoint_id,
            }
        }

    def _writes_request(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> pb.PutWritesRequest:
        configurable = config["configurable"]
        return pb.PutWritesRequest(
            tenant_id=self._tenant_id,
            thread_id=str(configurable["thread_id"]),
            checkpoint_ns=configurable.get("checkpoint_ns", ""),
            checkpoint_id=configurable["checkpoint_id"],
            writes=[
                pb.PendingWrite(
                    task_id=task_id,
                    idx=WRITES_IDX_MAP.get(channel, idx),
                    channel=channel,
                    value=self._typed(value),
                    task_path=task_path,
                )
                for idx, (channel, value) in enumerate(writes)
            ],
        )

    def _get_request(self, config: RunnableConfig) -> pb.GetCheckpointRequest:
        configurable = config["configurable"]
        return pb.GetCheckpointRequest(
            tenant_id=self._tenant_id,
            thread_id=str(configurable["thread_id"]),
            checkpoint_ns=configurable.get("checkpoint_ns", ""),
            checkpoint_id=get_checkpoint_id(config) or "",
        )

    def _list_request(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        page_size: int,
        page_token: str,
    ) -> pb.ListCheckpointsRequest:
        request = pb.ListCheckpointsRequest(
            tenant_id=self._tenant_id, page_size=page_size, page_token=page_token
        )
        if config is not None:
            configurable = config["configurable"]
            if configurable.get("thread_id") is not None:
                request.thread_id = str(configurable["thread_id"])
            if configurable.get("checkpoint_ns") is not None:
                request.checkpoint_ns = configurable["checkpoint_ns"]
            request.checkpoint_id = get_checkpoint_id(config) or ""
        if before is not None:
            request.before_checkpoint_id = get_checkpoint_id(before) or ""
        if filter:
            request.metadata_filter = json.dumps(filter).encode()
        return request

    def _tuple(self, stored: pb.Checkpoint) -> CheckpointTuple:
        checkpoint = self.serde.loads_typed((stored.checkpoint.type, stored.checkpoint.data))
        checkpoint["channel_values"] = {
            blob.channel: self.serde.loads_typed((blob.value.type, blob.value.data))
            for blob in stored.blobs
            if blob.value.type != EMPTY
        }
        location = {
            "thread_id": stored.thread_id,
            "checkpoint_ns": stored.checkpoint_ns,
        }
        return CheckpointTuple(
            config={"configurable": {**location, "checkpoint_id": stored.checkpoint_id}},
            checkpoint=checkpoint,
            metadata=json.loads(stored.metadata) if stored.metadata else {},
            parent_config=(
                {"configurable": {**location, "checkpoint_id": stored.parent_checkpoint_id}}
                if stored.parent_checkpoint_id
                else None
            ),
            pending_writes=[
                (w.task_id, w.channel, self.serde.loads_typed((w.value.type, w.value.data)))
                for w in stored.pending_writes
            ],
        )

    @staticmethod
    def _page_size(remaining: int | None) -> int:
        return DEFAULT_PAGE_SIZE if remaining is None else min(remaining, DEFAULT_PAGE_SIZE)

    # -- Sync -------------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        response = self._sync.GetCheckpoint(self._get_request(config), metadata=self._metadata)
        return self._tuple(response.checkpoint) if response.found else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        remaining, token = limit, ""
        while remaining is None or remaining > 0:
            request = self._list_request(config, filter, before, self._page_size(remaining), token)
            response = self._sync.ListCheckpoints(request, metadata=self._metadata)
            for stored in response.checkpoints:
                yield self._tuple(stored)
            if remaining is not None:
                remaining -= len(response.checkpoints)
            token = response.next_page_token
            if not token:
                return

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        request = self._put_request(config, checkpoint, metadata, new_versions)
        self._sync.PutCheckpoint(request, metadata=self._metadata)
        return self._saved_config(config, checkpoint["id"])

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        request = self._writes_request(config, writes, task_id, task_path)
        self._sync.PutWrites(request, metadata=self._metadata)

    def delete_thread(self, thread_id: str) -> None:
        self._sync.DeleteThread(
            pb.DeleteThreadRequest(tenant_id=self._tenant_id, thread_id=str(thread_id)),
            metadata=self._metadata,
        )

    # -- Async ------------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        response = await self._async_stub().GetCheckpoint(
            self._get_request(config), metadata=self._metadata
        )
        return self._tuple(response.checkpoint) if response.found else None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        remaining, token = limit, ""
        while remaining is None or remaining > 0:
            request = self._list_request(config, filter, before, self._page_size(remaining), token)
            response = await self._async_stub().ListCheckpoints(request, metadata=self._metadata)
            for stored in response.checkpoints:
                yield self._tuple(stored)
            if remaining is not None:
                remaining -= len(response.checkpoints)
            token = response.next_page_token
            if not token:
                return

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        request = self._put_request(config, checkpoint, metadata, new_versions)
        await self._async_stub().PutCheckpoint(request, metadata=self._metadata)
        return self._saved_config(config, checkpoint["id"])

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        request = self._writes_request(config, writes, task_id, task_path)
        await self._async_stub().PutWrites(request, metadata=self._metadata)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._async_stub().DeleteThread(
            pb.DeleteThreadRequest(tenant_id=self._tenant_id, thread_id=str(thread_id)),
            metadata=self._metadata,
        )

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Versions sort as strings: a zero-padded counter, then a random tie-breaker (as
        LangGraph's own savers make them)."""
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(current.split(".")[0])
        return f"{number + 1:032}.{random.random():016}"
