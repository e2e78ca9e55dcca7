"""partition spans: on PostgreSQL, spans RANGE-partitioned by UTC day on start_time_unix_nano;
the primary key gains start_time_unix_nano on both backends

PostgreSQL: a partitioned table is created beside the plain one (LIKE it, so the same columns,
defaults and CHECK constraints), with a DEFAULT partition (a span of any time is accepted) and a
partition for every UTC day the stored spans start on and for yesterday to three days ahead;
the rows are copied over, the plain table dropped, the new one takes its name, and the primary
key and indexes are built once, after the copy. A unique key of a partitioned table must hold
the partition column, hence the wider key; a retried export repeats a span's start time, so ON
CONFLICT still skips it. Retention then drops expired days whole (services/telemetry/partitions.py
creates the coming days' partitions each pass; this sets it up self-contained, as a migration
must not depend on code that changes after it).

SQLite keeps a plain table and batched deletes; it only gets the wider primary key, so the ON
CONFLICT target of ingest is the same on both backends.

Downgrade restores the plain table keyed by (trace_id, span_id) (a span id stored twice with
different start times keeps one row).

Revision ID: 0009_partition_spans
Revises: 0008_analytics_indexes
Create Date: 2026-11-23 17:10:00
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0009_partition_spans"
down_revision: str | Sequence[str] | None = "0008_analytics_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NANOS_PER_DAY = 86_400 * 10**9
EPOCH_DAY = date(1970, 1, 1)
_INDEXES = {
    "ix_spans_tenant_id_start_time_unix_nano": "tenant_id, start_time_unix_nano",
    "ix_spans_service_name_start_time_unix_nano": "service_name, start_time_unix_nano",
    "ix_spans_start_time_unix_nano": "start_time_unix_nano",
}


def _partition(day: int) -> str:
    return f"spans_p{EPOCH_DAY + timedelta(days=day):%Y%m%d}"


def _build_keys(table: str, key: str) -> None:
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_spans PRIMARY KEY ({key})")
    for name, columns in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("spans", recreate="always") as batch_op:
            batch_op.drop_constraint("pk_spans", type_="primary")
            batch_op.create_primary_key("pk_spans", ["trace_id", "span_id", "start_time_unix_nano"])
        return
    op.execute(
        "CREATE TABLE spans_partitioned (LIKE spans INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (start_time_unix_nano)"
    )
    op.execute("CREATE TABLE spans_default PARTITION OF spans_partitioned DEFAULT")
    stored = op.get_bind().execute(
        sa.text(f"SELECT DISTINCT start_time_unix_nano / {NANOS_PER_DAY} FROM spans")
    )
    today = (datetime.now(UTC).date() - EPOCH_DAY).days
    days = {int(day) for (day,) in stored} | set(range(today - 1, today + 4))
    for day in sorted(days):
        op.execute(
            f"CREATE TABLE {_partition(day)} PARTITION OF spans_partitioned FOR VALUES "
            f"FROM ({day * NANOS_PER_DAY}) TO ({(day + 1) * NANOS_PER_DAY})"
        )
    op.execute("INSERT INTO spans_partitioned SELECT * FROM spans")
    op.execute("DROP TABLE spans")
    op.execute("ALTER TABLE spans_partitioned RENAME TO spans")
    _build_keys("spans", "trace_id, span_id, start_time_unix_nano")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("spans", recreate="always") as batch_op:
            batch_op.drop_constraint("pk_spans", type_="primary")
            batch_op.create_primary_key("pk_spans", ["trace_id", "span_id"])
        return
    op.execute("CREATE TABLE spans_plain (LIKE spans INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    op.execute(
        "ALTER TABLE spans_plain ADD CONSTRAINT pk_spans_plain PRIMARY KEY (trace_id, span_id)"
    )
    op.execute("INSERT INTO spans_plain SELECT * FROM spans ON CONFLICT DO NOTHING")
    op.execute("DROP TABLE spans")  # and every partition with it
    op.execute("ALTER TABLE spans_plain RENAME TO spans")
    op.execute("ALTER TABLE spans RENAME CONSTRAINT pk_spans_plain TO pk_spans")
    for name, columns in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON spans ({columns})")
