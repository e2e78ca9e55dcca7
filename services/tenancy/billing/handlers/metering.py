"""Metering: RecordUsage (Quarterdeck services only) adds to the counters of the UTC day and
month the usage occurred in with one ``INSERT ... ON CONFLICT DO UPDATE SET c = c + excluded.c``
of both rows, on both databases, so concurrent calls never lose an increment. A call with no user
lands on the NULL-user row, which the conditional unique index keeps unique. GetUsage sums the
day counters."""

from __future__ import annotations

import uuid
from datetime import UTC, date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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
from shared.db_types import utcnow
from shared.errors import (
    FieldViolation,
    NotFound,
)
from shared.ids import parse_id
from shared.tenant_scope import tenant_for_read
from shared.time_range import date_window
from shared.timestamps import REPORT_WINDOW, from_timestamp

#: The most of any counter one RecordUsage call may add (a terabyte, or a trillion tokens), so
#: millions of such calls still fit a BIGINT counter.
MAX_INCREMENT = 10**12


class MeteringHandlers(BillingBase):
    async def _increment(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID | None,
        day: date,
        counts: dict[str, int],
    ) -> dict[Granularity, Any]:
        """Adds ``counts`` to the day's and the month's counters in one upsert of two rows
        (both land on the same unique index); their rows as stored, by granularity."""
        table = UsageCounterRecord.__table__
        now = utcnow()
        stmt = self._insert(table).values(
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant_id,
                    "user_id": user_id,
                    "period_start": period_start,
                    "granularity": granularity,
                    "created_at": now,
                    "updated_at": now,
                    **counts,
                }
                for period_start, granularity in (
                    (day, Granularity.DAY),
                    (month_start(day), Granularity.MONTH),
                )
            ]
        )
        target: dict[str, Any] = (
            {
                "index_elements": ["tenant_id", "period_start", "granularity"],
                "index_where": table.c.user_id.is_(None),
            }
            if user_id is None
            else {"index_elements": ["tenant_id", "user_id", "period_start", "granularity"]}
        )
        upsert = stmt.on_conflict_do_update(
            **target,
            set_={
                **{c: table.c[c] + stmt.excluded[c] for c in COUNTER_COLUMNS},
                "updated_at": stmt.excluded.updated_at,
            },
        ).returning(*table.c)
        # RETURNING's row order is not promised: each row says which counter it is.
        return {Granularity(row.granularity): row for row in await session.execute(upsert)}

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

        async def record(session: AsyncSession) -> pb.RecordUsageResponse:
            tenant = select(TenantRecord.id).where(TenantRecord.id == tenant_id)
            if await session.scalar(tenant) is None:
                raise NotFound("no such tenant", reason="TENANT_NOT_FOUND")
            rows = await self._increment(session, tenant_id, user_id, day, counts)
            return pb.RecordUsageResponse(
                day=counter_to_proto(rows[Granularity.DAY]),
                month=counter_to_proto(rows[Granularity.MONTH]),
            )

        # With a request_id, the counters move once per id (the key is claimed in the same
        # transaction as the increment); without one, every call adds.
        return await self._idempotency.run(
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
