"""The shared edge checks on their own: time ranges by field path, the once-per-caller refusal
log, from_timestamp's refusal, and SQLite files created owner-only."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from quarterdeck.telemetry.v1 import activity_pb2 as apb
from quarterdeck.telemetry.v1 import usage_pb2 as upb
from shared.db import Database
from shared.decoding import (
    MAX_TIMESTAMP_SECONDS,
    RefusalLog,
    Undecodable,
    checked_deserializer,
    out_of_range_field,
)
from shared.errors import FieldViolation, InvalidArgument
from shared.timestamps import from_timestamp


def test_a_timestamp_past_9999_is_named_by_its_path() -> None:
    request = upb.RecordUsageBatchRequest()
    request.records.add().time.seconds = 2**62
    violation = out_of_range_field(request)
    assert violation is not None
    assert violation.field == "records[0].time"


def test_times_inside_the_range_pass() -> None:
    request = apb.ListActivityRequest()
    request.since.seconds = MAX_TIMESTAMP_SECONDS
    assert out_of_range_field(request) is None
    request.since.nanos = -1
    assert out_of_range_field(request) == FieldViolation(
        "since", "nanos must be between 0 and 999,999,999"
    )


def test_the_checked_deserializer_never_raises() -> None:
    deserialize = checked_deserializer(apb.ListActivityRequest.FromString)
    assert deserialize is not None
    assert isinstance(deserialize(b"\x0a\x20\x01"), Undecodable)
    assert deserialize(apb.ListActivityRequest(tenant_id="t").SerializeToString()).tenant_id == "t"


def test_from_timestamp_refuses_with_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        from_timestamp(Timestamp(seconds=2**62), "since")
    assert caught.value.violations[0].field == "since"


def test_the_refusal_log_writes_once_per_caller_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusals = RefusalLog(interval_seconds=3600)
    refusal = Undecodable(FieldViolation("request", "bad"))
    with caplog.at_level(logging.WARNING, logger="quarterdeck.decoding"):
        logged = [refusals.refused("ipv4:10.0.0.1", "/m", refusal) for _ in range(50)]
        logged.append(refusals.refused("ipv4:10.0.0.2", "/m", refusal))
    assert logged.count(True) == 2
    assert len(caplog.records) == 2


def test_sqlite_files_are_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "service.db"

    async def write() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        async with database.transaction() as session:
            from sqlalchemy import text

            await session.execute(text("CREATE TABLE t (x INTEGER)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))
        await database.dispose()

    asyncio.run(write())
    files = [p for p in path.parent.iterdir() if p.name.startswith("service.db")]
    assert path in files
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    Database(f"sqlite+aiosqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
