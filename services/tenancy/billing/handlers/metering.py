"""Metering: RecordUsage (Quarterdeck services only) adds to the counters of the UTC day and
month the usage occurred in with one ``INSERT ... ON CONFLICT DO UPDATE SET c = c + excluded.c``
of both rows, on both databases, so concurrent calls never lose an increment. A call with no user
lands on the NULL-user row, which the conditional unique index keeps unique. The upsert is
prepared (``shared.db.PreparedStatement``: every agent turn reports usage), and is the call's
only statement besides its request_id's: an unknown tenant is the counters' foreign key
refusing it, not a lookup first. GetUsage sums the day counters."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, date
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.tenancy.billing.convert import counter_to_proto
from services.tenancy.billing.handlers.base import BillingBase
from services.tenancy.billing.math import (
    COUNT_FIELDS,
    count_violations,
    month_start,
)
from services.tenancy.billing.models import (
    COUNTER_COLUMNS,
    Granularity,
    UsageCounterRecord,
)
from services.tenancy.billing.rules import parse_date
from services.tenancy.tenants.models import TenantRecord
from services.tenancy.tenants.validation import raise_if_any
from shared.auth import (
    require_internal,
)
from shared.db import DriverTransaction, PreparedStatement, column_param, execute_prepared
from shared.db_types import utcnow
from shared.errors import (
    FieldViolation,
    NotFound,
)
from shared.ids import parse_id
from shared.inserts import dialect_insert
from shared.tenant_scope import tenant_for_read
from shared.time_range import date_window
from shared.timestamps import REPORT_WINDOW, from_timestamp

#: The most of any counter one RecordUsage call may add (a terabyte, or a trillion tokens), so
#: millions of such calls still fit a BIGINT counter.
MAX_INCREMENT = 10**12


_COUNTERS = cast(Table, UsageCounterRecord.__table__)
#: The day's and the month's counters incremented, by (dialect, whether a user is named).
_INCREMENTS: dict[tuple[str, bool], PreparedStatement] = {}
#: PostgreSQL's SQLSTATE for a foreign key violation.
_FOREIGN_KEY_VIOLATION = "23503"


def _upsert_counters(dialect: str, for_user: bool) -> PreparedStatement:
    """Adds the counts to the day's and the month's counters in one upsert of two rows (both
    land on the same unique index: the user's, or the NULL-user rows' partial one), returning
    the rows as stored. Parameters: ``day_id``/``month_id`` (a new row's id), ``tenant_id``,
    ``user_id`` (with a user), ``day``, ``month``, ``now`` and the counts."""
    prepared = _INCREMENTS.get((dialect, for_user))
    if prepared is None:
        c = _COUNTERS.c
        counts = {name: column_param(name, c[name]) for name in COUNTER_COLUMNS}
        now = column_param("now", c.updated_at)
        stmt = dialect_insert(dialect, _COUNTERS).values(
            [
                {
                    "id": column_param(f"{period}_id", c.id),
                    "tenant_id": column_param("tenant_id", c.tenant_id),
                    "user_id": column_param("user_id", c.user_id) if for_user else None,
                    "period_start": column_param(period, c.period_start),
                    "granularity": granularity,
                    "created_at": now,
                    "updated_at": now,
                    **counts,
                }
                for period, granularity in (("day", Granularity.DAY), ("month", Granularity.MONTH))
            ]
        )
        target: dict[str, Any] = (
            {"index_elements": ["tenant_id", "user_id", "period_start", "granularity"]}
            if for_user
            else {
                "index_elements": ["tenant_id", "period_start", "granularity"],
                "index_where": c.user_id.is_(None),
            }
        )
        prepared = _INCREMENTS[(dialect, for_user)] = PreparedStatement(
            stmt.on_conflict_do_update(
                **target,
                set_={
                    **{name: c[name] + stmt.excluded[name] for name in COUNTER_COLUMNS},
                    "updated_at": stmt.excluded.updated_at,
                },
            ).returning(*c)
        )
    return prepared


def _unknown_tenant(error: IntegrityError) -> bool:
    """Whether the counters' one foreign key (to their tenant) refused the upsert."""
    orig = error.orig
    if isinstance(orig, sqlite3.IntegrityError):
        return "FOREIGN KEY constraint failed" in str(orig)
    return getattr(orig, "sqlstate", None) == _FOREIGN_KEY_VIOLATION


class MeteringHandlers(BillingBase):
    async def _increment(
        self,
        transaction: DriverTransaction,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID | None,
        day: date,
        counts: dict[str, int],
    ) -> dict[Granularity, Any]:
        """Adds ``counts`` to the day's and the month's counters; their rows as stored, by
        granularity. An unknown tenant is NOT_FOUND."""
        try:
            stored = await execute_prepared(
                transaction,
                _upsert_counters(self._db.dialect, user_id is not None),
                {
                    "day_id": uuid.uuid4(),
                    "month_id": uuid.uuid4(),
                    "tenant_id": tenant_id,
                    "user_id": user_id,
                    "day": day,
                    "month": month_start(day),
                    "now": utcnow(),
                    **counts,
                },
            )
        except IntegrityError as error:
            if _unknown_tenant(error):
                raise NotFound("no such tenant", reason="TENANT_NOT_FOUND") from None
            raise
        # RETURNING's row order is not promised: each row says which counter it is.
        return {Granularity(row.granularity): row for row in stored.rows}

    async def record_usage(self, request: pb.RecordUsageRequest) -> pb.RecordUsageResponse:
        require_internal()
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        user_id = parse_id(request.user_id, "user_id") if request.user_id else None
        counts = {name: getattr(request, name) for name in COUNT_FIELDS}
        problems = count_violations(counts)
        problems += [
            FieldViolation(name, f"must be at most {MAX_INCREMENT}")
            for name, value in counts.items()
            if value > MAX_INCREMENT
        ]
        raise_if_any(problems)
        occurred = (
            from_timestamp(request.occurred_at) if request.HasField("occurred_at") else utcnow()
        )
        day = occurred.astimezone(UTC).date()

        async def record(transaction: DriverTransaction) -> pb.RecordUsageResponse:
            rows = await self._increment(transaction, tenant_id, user_id, day, counts)
            return pb.RecordUsageResponse(
                day=counter_to_proto(rows[Granularity.DAY]),
                month=counter_to_proto(rows[Granularity.MONTH]),
            )

        # With a request_id, the counters move once per id (the key is claimed in the same
        # transaction as the increment); without one, every call adds. Every statement is
        # prepared: a driver transaction, no session.
        return await self._idempotency.run_on_driver(
            endpoint="BillingService.RecordUsage",
            request=request,
            response_type=pb.RecordUsageResponse,
            create=record,
            resource_id_of=lambda _response: str(tenant_id),
            scope=str(tenant_id),
        )

    async def get_usage(self, request: pb.GetUsageRequest) -> pb.GetUsageResponse:
        if request.tenant_id:
            parse_id(request.tenant_id, "tenant_id")
        scope = tenant_for_read(request.tenant_id)
        tenant_id = uuid.UUID(scope) if scope is not None else None
        # By default the last 30 days, today (UTC) included.
        start, end = date_window(
            parse_date(request.start_date, "start_date") if request.start_date else None,
            parse_date(request.end_date, "end_date") if request.end_date else None,
            default=REPORT_WINDOW,
            today=utcnow().date(),
        )
        counter = UsageCounterRecord
        stmt = (
            select(
                counter.tenant_id,
                TenantRecord.name,
                func.sum(counter.input_tokens),
                func.sum(counter.output_tokens),
                func.sum(counter.requests),
            )
            .join(TenantRecord, TenantRecord.id == counter.tenant_id)
            .where(
                counter.granularity == Granularity.DAY,
                counter.period_start >= start,
                counter.period_start < end,
            )
            .group_by(counter.tenant_id, TenantRecord.name)
            .order_by(TenantRecord.name, counter.tenant_id)
        )
        if tenant_id is not None:
            stmt = stmt.where(counter.tenant_id == tenant_id)
        async with self._db.reading() as session:
            rows = (await session.execute(stmt)).all()
        return pb.GetUsageResponse(
            tenants=[
                pb.TenantUsage(
                    tenant_id=str(tid),
                    tenant_name=name,
                    input_tokens=int(inp),
                    output_tokens=int(out),
                    total_tokens=int(inp) + int(out),
                    requests=int(req),
                )
                for tid, name, inp, out, req in rows
            ],
            start_date=start.isoformat(),
            end_date=end.isoformat(),
        )
