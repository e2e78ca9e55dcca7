"""The durable spool between the OTLP receiver and the spans table.

An Export is answered once its request is *accepted*: its caller checked (who may export, for
which tenant), its spans checked (the rejections answered as partial success), and the request's
bytes appended to a local append-only file with the exporting tenant and the time received. A
background job (:func:`spool_job`, woken by every append) then decodes the accepted requests and
stores their spans in batches. So an exporter waits for an append, not for the database: the
stock OpenTelemetry SDK blocks on each export while its queue fills, and drops what overflows.

Durability: the append is written to the OS before the answer, so killing the process loses
nothing. ``otlp_spool_fsync_seconds`` (default 0.2) fsyncs in the background at most that long
after an append, so a power cut loses at most that much of what was answered; at 0 each append is
fsynced before its answer (one fsync shared by the exports in flight), which here costs an
exporter 6-14 ms per export on a busy disk. Each record carries a CRC: a record torn by a crash
mid-append was never answered, and is cut off on replay.

Replay: each process appends to a file of its own, held under an exclusive ``flock``. At start a
process takes over every spool file in its directory that no live process holds (its own from
before a restart, or a dead replica's) and stores their requests first. Storing skips spans
already stored (trace, span and start time), so a request stored before the crash but not yet
marked done is stored once.

Backpressure: when the requests not yet stored reach ``otlp_spool_max_bytes``, Export answers
RESOURCE_EXHAUSTED with a RetryInfo; the stock exporter retries after that delay.

The directory is per database (``<data_dir>/telemetry-spool/<database>``): a taken-over file's
spans belong to the database its process wrote to.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from shared.errors import ResourceExhausted

log = logging.getLogger("quarterdeck.telemetry.spool")

#: magic, tenant length, payload length, CRC-32 of tenant and payload, time received (ns).
_HEADER = struct.Struct("<4sHIIq")
_MAGIC = b"QDS1"
#: An active file this big is closed for appends and a new one started; the old one is deleted
#: once every request in it is stored.
SEGMENT_BYTES = 16 * 1024 * 1024
#: What one storing batch takes at most (request bytes): a few SDK batches per transaction.
BATCH_BYTES = 2 * 1024 * 1024
#: What a refused exporter is told to wait before retrying.
RETRY_AFTER_SECONDS = 1.0
SUFFIX = ".spool"


def spool_directory(data_dir: Path, database_url: str) -> Path:
    """``<data_dir>/telemetry-spool/<database>``: the database named by a digest of its URL
    (password left out), so processes share a directory only when they share a database."""
    url = make_url(database_url).render_as_string(hide_password=True)
    return data_dir / "telemetry-spool" / hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(eq=False)
class _Segment:
    path: Path
    fd: int
    #: Requests appended here and not yet stored.
    pending: int = 0
    size: int = 0
    active: bool = False


@dataclass(frozen=True, eq=False)
class SpooledExport:
    """One accepted Export: the request's bytes, who exported it and when it was received."""

    tenant_id: str | None
    received_unix_nano: int
    payload: bytes
    segment: _Segment = field(repr=False)

    @property
    def size(self) -> int:
        return _HEADER.size + len(self.payload)


class SpanSpool:
    """Accepted exports, in order, on disk and in memory until stored. Every method runs on the
    event loop (appends, takes and completions never interleave), except the fsyncs."""

    def __init__(self, directory: Path, max_bytes: int, fsync_seconds: float) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._fsync_seconds = fsync_seconds
        self._flusher: asyncio.Task[None] | None = None
        self._queue: deque[SpooledExport] = deque()
        self._pending_bytes = 0
        self._segments: list[_Segment] = []
        self._active: _Segment | None = None
        self._wake: Callable[[], None] = lambda: None
        self._empty = asyncio.Event()
        self._empty.set()
        #: Appends written, and how many of them are known fsynced.
        self._written = 0
        self._synced = 0
        self._syncing: asyncio.Task[None] | None = None
        self.replayed = 0

    # ----- opening and closing -----

    def open(self) -> None:
        """Take over the spool files no live process holds, then start a file of this process's."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            self._take_over(path)
        self._active = self._new_segment()
        if self.replayed:
            log.info("span spool: %d accepted exports to store from before", self.replayed)
            self._empty.clear()

    def _take_over(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return  # its owner stored everything and deleted it meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # a live process holds it and stores it itself
            return
        with open(fd, "rb", closefd=False) as reader:
            data = reader.read()
        segment = _Segment(path, fd, size=len(data))
        offset = 0
        while offset + _HEADER.size <= len(data):
            magic, tenant_len, payload_len, crc, received = _HEADER.unpack_from(data, offset)
            body = offset + _HEADER.size
            end = body + tenant_len + payload_len
            if magic != _MAGIC or end > len(data) or zlib.crc32(data[body:end]) != crc:
                break
            tenant = data[body : body + tenant_len].decode() if tenant_len else None
            self._enqueue(SpooledExport(tenant, received, data[body + tenant_len : end], segment))
            self.replayed += 1
            offset = end
        if offset < len(data):
            log.warning(
                "span spool %s: %d bytes at its end are a torn append (never answered); cut off",
                path.name,
                len(data) - offset,
            )
        if segment.pending:
            self._segments.append(segment)
        else:
            self._delete(segment)

    def _new_segment(self) -> _Segment:
        name = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_directory(self.directory)  # the new file's name survives a power cut too
        segment = _Segment(path, fd, active=True)
        self._segments.append(segment)
        return segment

    def close(self) -> None:
        """Release the files: those with exports not yet stored stay (fsynced), for the next
        start; the others are deleted."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        for segment in list(self._segments):
            if segment.pending:
                with contextlib.suppress(OSError):
                    os.fsync(segment.fd)
            if segment.pending:
                with contextlib.suppress(OSError):
                    os.close(segment.fd)
            else:
                self._delete(segment)
        self._segments.clear()
        self._active = None

    def on_append(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` after each append (the storing job's :meth:`PeriodicJob.wake`)."""
        self._wake = wake

    # ----- the receiver's side -----

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def pending_exports(self) -> int:
        return len(self._queue)

    async def append(self, tenant_id: str | None, received_unix_nano: int, payload: bytes) -> None:
        """Accept one export: on disk (and fsynced, under that policy) when this returns."""
        active = self._active
        if active is None:
            raise RuntimeError("the span spool is not open")
        tenant = tenant_id.encode() if tenant_id else b""
        size = _HEADER.size + len(tenant) + len(payload)
        if self._queue and self._pending_bytes + size > self.max_bytes:
            raise ResourceExhausted(
                "the span receiver's spool is full while it stores what it accepted; retry",
                reason="SPAN_SPOOL_FULL",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        if active.size >= SEGMENT_BYTES:
            active.active = False
            if not active.pending:
                self._delete(active)
            active = self._active = self._new_segment()
        header = _HEADER.pack(
            _MAGIC, len(tenant), len(payload), zlib.crc32(tenant + payload), received_unix_nano
        )
        _write_all(active.fd, header + tenant + payload)
        active.size += size
        self._written += 1
        self._enqueue(SpooledExport(tenant_id, received_unix_nano, payload, active))
        self._empty.clear()
        self._wake()
        if self._fsync_seconds <= 0:
            await self._synced_through(self._written)
        elif self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        """fsyncs what was appended up to ``fsync_seconds`` ago, off the answer's path."""
        await asyncio.sleep(self._fsync_seconds)
        self._flusher = None
        await self._synced_through(self._written)

    def _enqueue(self, export: SpooledExport) -> None:
        self._queue.append(export)
        self._pending_bytes += export.size
        export.segment.pending += 1

    async def _synced_through(self, count: int) -> None:
        """Until the first ``count`` appends are fsynced: one fsync serves every append written
        before it started (group commit)."""
        while self._synced < count:
            if self._syncing is None:
                self._syncing = asyncio.get_running_loop().create_task(self._sync())
            await asyncio.shield(self._syncing)

    async def _sync(self) -> None:
        try:
            through = self._written
            fds = [segment.fd for segment in self._segments if segment.pending]
            await asyncio.to_thread(_fsync_all, fds)
            self._synced = max(self._synced, through)
        finally:
            self._syncing = None

    # ----- the storing job's side -----

    def take(self, max_bytes: int = BATCH_BYTES) -> list[SpooledExport]:
        """The oldest accepted exports, up to ``max_bytes`` (one at least); they stay spooled
        until :meth:`done`."""
        taken: list[SpooledExport] = []
        size = 0
        for export in self._queue:
            if taken and size + export.size > max_bytes:
                break
            taken.append(export)
            size += export.size
        return taken

    def done(self, exports: Sequence[SpooledExport]) -> None:
        """``exports`` (the oldest, as :meth:`take` gave them) are stored: forget them, and
        delete (or empty, the active one) the files left with nothing to store."""
        for export in exports:
            head = self._queue.popleft()
            assert head is export, "spooled exports are completed in the order taken"
            self._pending_bytes -= export.size
            segment = export.segment
            segment.pending -= 1
            if segment.pending:
                continue
            if segment.active:
                # Everything appended here is stored: start the file over.
                os.ftruncate(segment.fd, 0)
                segment.size = 0
            else:
                self._delete(segment)
        if not self._queue:
            self._empty.set()

    async def drained(self) -> None:
        """Returns once every export accepted so far is stored."""
        await self._empty.wait()

    def _delete(self, segment: _Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        with contextlib.suppress(OSError):
            os.close(segment.fd)
        if segment in self._segments:
            self._segments.remove(segment)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):  # a file deleted meanwhile needs no fsync
            os.fsync(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
