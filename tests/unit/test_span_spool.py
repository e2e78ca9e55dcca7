"""The span spool's file on its own: appends come back in order after a restart, with their
tenant and time; a torn last append is cut off; files a live holder keeps are left to it; stored
exports leave no file behind; a full spool refuses with a retry delay."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from services.telemetry.traces.spool import SpanSpool
from shared.errors import ResourceExhausted


def opened(directory: Path, max_bytes: int = 1 << 20) -> SpanSpool:
    spool = SpanSpool(directory, max_bytes, fsync_seconds=0)
    spool.open()
    return spool


def files(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def contents(spool: SpanSpool) -> list[tuple[str | None, int, bytes]]:
    return [(e.tenant_id, e.received_unix_nano, e.payload) for e in spool.take(1 << 30)]


async def test_appends_not_stored_are_replayed_in_order_after_a_restart(tmp_path: Path) -> None:
    first = opened(tmp_path)
    await first.append("tenant-a", 1, b"one")
    await first.append(None, 2, b"two")
    first.close()  # as a killed process leaves it: nothing stored
    second = opened(tmp_path)
    assert second.replayed == 2
    assert contents(second) == [("tenant-a", 1, b"one"), (None, 2, b"two")]
    await second.append("tenant-b", 3, b"three")
    second.done(second.take(1 << 30))
    assert second.pending_exports == 0
    await second.drained()
    second.close()
    assert files(tmp_path) == []  # all stored: no file left


async def test_a_torn_last_append_is_cut_off(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    await spool.append("t", 1, b"whole")
    await spool.append("t", 2, b"torn-in-half")
    spool.close()
    (path,) = files(tmp_path)
    torn = path.stat().st_size - 5
    os.truncate(path, torn)
    again = opened(tmp_path)
    assert contents(again) == [("t", 1, b"whole")]
    again.close()


async def test_a_file_a_live_process_holds_is_left_to_it(tmp_path: Path) -> None:
    owner = opened(tmp_path)
    await owner.append(None, 1, b"mine")
    other = opened(tmp_path)
    assert other.replayed == 0 and contents(other) == []
    other.close()
    owner.close()


async def test_a_full_spool_refuses_with_a_retry_delay(tmp_path: Path) -> None:
    spool = opened(tmp_path, max_bytes=100)
    await spool.append(None, 1, b"x" * 60)  # the first always fits
    with pytest.raises(ResourceExhausted) as refused:
        await spool.append(None, 2, b"y" * 60)
    assert refused.value.reason == "SPAN_SPOOL_FULL"
    assert refused.value.retry_after_seconds is not None
    spool.done(spool.take())
    await spool.append(None, 3, b"y" * 60)
    spool.close()


async def test_the_files_are_locked_while_open(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    (path,) = files(tmp_path)
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
        spool.close()
