"""Retention's pure parts: cutoffs in each column's own terms, and policies that cannot be
enforced named before any pass runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from services.telemetry.config import TelemetrySettings
from services.telemetry.retention import RetentionPolicy, cutoff_value, policy_problem
from services.telemetry.schema import RETENTION_POLICIES, metadata
from services.telemetry.traces.models import SpanRecord

MOMENT = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
SETTINGS = TelemetrySettings()


def test_a_unix_nano_column_gets_the_cutoff_in_exact_nanoseconds() -> None:
    column = SpanRecord.__table__.c.start_time_unix_nano
    assert cutoff_value(column, MOMENT) == 1_795_435_200_123_456_000


def test_a_timestamp_column_gets_the_cutoff_as_it_is() -> None:
    assert cutoff_value(SpanRecord.__table__.c.received_at, MOMENT) == MOMENT


def test_a_column_of_another_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"spans\.name is neither"):
        cutoff_value(SpanRecord.__table__.c.name, MOMENT)


def test_the_spans_policy_is_listed_and_enforceable_with_a_30_day_default() -> None:
    # Partitioned by day on PostgreSQL (expired days dropped whole), batched deletes on SQLite.
    policy = RetentionPolicy(
        "spans", "start_time_unix_nano", "spans_retention_days", daily_partitions=True
    )
    assert policy in RETENTION_POLICIES
    assert policy_problem(policy, metadata, SETTINGS) is None
    assert SETTINGS.spans_retention_days == 30


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        (RetentionPolicy("nowhere", "created_at", "spans_retention_days"), "no table 'nowhere'"),
        (
            RetentionPolicy("events", "missing", "spans_retention_days"),
            "events has no column 'missing'",
        ),
        (RetentionPolicy("events", "created_at", "no_such_days"), "no integer setting"),
        (RetentionPolicy("events", "label", "spans_retention_days"), "events.label is neither"),
    ],
)
def test_a_policy_that_cannot_be_enforced_is_named(policy: RetentionPolicy, problem: str) -> None:
    tables = MetaData()
    Table(
        "events",
        tables,
        Column("id", Integer, primary_key=True),
        Column("created_at", Integer),
        Column("label", String(10)),
    )
    found = policy_problem(policy, tables, SETTINGS)
    assert found is not None and problem in found


def test_retention_days_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="spans_retention_days"):
        TelemetrySettings(spans_retention_days=-1)
