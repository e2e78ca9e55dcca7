"""The shared bulk-insert helper's pure parts: targets, the staging SQL, JSON encoding."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Text

from services.telemetry.bulk_insert import BulkTarget, encode_json
from services.telemetry.traces.models import SpanRecord
from services.telemetry.traces.spans import SPAN_TARGET
from services.telemetry.usage.rows import COPY_COLUMNS, USAGE_TARGET


def test_a_target_names_only_columns_its_table_has() -> None:
    with pytest.raises(ValueError, match="no_such_column"):
        BulkTarget(
            SpanRecord.__table__,
            columns=("trace_id", "no_such_column"),
            conflict_columns=("trace_id", "span_id"),
            returning="trace_id",
        )


def test_the_targets_cover_every_column_of_their_tables() -> None:
    assert set(SPAN_TARGET.columns) == set(SpanRecord.__table__.columns.keys())
    assert USAGE_TARGET.columns == COPY_COLUMNS
    assert set(COPY_COLUMNS) == set(USAGE_TARGET.table.columns.keys())


def test_the_staging_move_skips_stored_keys_and_returns_what_it_inserted() -> None:
    move = USAGE_TARGET.move_staged
    assert move.startswith("INSERT INTO agent_telemetry (")
    assert "FROM agent_telemetry_staging" in move
    assert move.endswith('ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING "event_id"')
    assert "ON COMMIT DELETE ROWS" in SPAN_TARGET.create_staging


def test_sqlite_takes_json_columns_as_the_encoded_text() -> None:
    columns = SPAN_TARGET.sqlite_table.columns
    for name in ("attributes", "resource_attributes", "events"):
        assert isinstance(columns[name].type, Text)
    assert not isinstance(columns["start_time_unix_nano"].type, Text)


@pytest.mark.parametrize(
    "value",
    [{}, [], {"a": 1, "b": [True, None, 1.5], "c": {"d": 'é\n"q"'}}, {"n": -(2**63)}],
)
def test_json_is_compact_and_reads_back_the_same(value: object) -> None:
    encoded = encode_json(value)
    assert json.loads(encoded) == value
    assert encoded == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_json_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(TypeError, match="set"):
        encode_json({"a": {1, 2}})
