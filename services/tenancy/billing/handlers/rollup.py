"""Roll-up: sums the day counters of a subscription's current period into one
``subscription_usage`` row per plan feature, overwriting, so it is idempotent. Counters are per UTC
day, so a period counts the days from its start's date up to its end's date (exclusive): exact for
periods starting at midnight UTC."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.tenancy.billing.convert import usage_to_proto
from services.tenancy.billing.handlers.subscriptions import SubscriptionHandlers
from services.tenancy.billing.models import (
    COUNTER_COLUMNS,
    Granularity,
    SubscriptionRecord,
    SubscriptionUsageRecord,
    UsageCounterRecord,
)
from shared.auth import (
    require_operator,
)
from shared.db_types import utcnow
from shared.ids import parse_id


class RollUpHandlers(SubscriptionHandlers):
    async def _roll_up(
        self, session: AsyncSession, sub: SubscriptionRecord
    ) -> list[SubscriptionUsageRecord]:
        assert sub.current_period_start is not None and sub.current_period_end is not None
        return await self._roll_up_period(
            session, sub, sub.current_period_start, sub.current_period_end
        )

    async def _roll_up_period(
        self, session: AsyncSession, sub: SubscriptionRecord, start: datetime, end: datetime
    ) -> list[SubscriptionUsageRecord]:
        counter = UsageCounterRecord
        sums = (
            await session.execute(
                select(
                    func.coalesce(func.sum(counter.input_tokens), 0),
                    func.coalesce(func.sum(counter.output_tokens), 0),
                    func.coalesce(func.sum(counter.requests), 0),
                    func.coalesce(func.sum(counter.storage_bytes), 0),
                ).where(
                    counter.tenant_id == sub.tenant_id,
                    counter.granularity == Granularity.DAY,
                    counter.period_start >= start.date(),
                    counter.period_start < end.date(),
                )
            )
        ).one()
        totals = dict(zip(COUNTER_COLUMNS, (int(v) for v in sums), strict=True))
        totals["total_tokens"] = totals["input_tokens"] + totals["output_tokens"]
        table = SubscriptionUsageRecord.__table__
        now = utcnow()
        for feature in await self._features(session, sub.plan_id):
            stmt = self._insert(table).values(
                id=uuid.uuid4(),
                subscription_id=sub.id,
                feature_key=feature.feature_key,
                unit=feature.unit,
                period_start=start,
                period_end=end,
                quantity=totals[feature.metric.value],
                reported_at=now,
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["subscription_id", "feature_key", "period_start"],
                    set_={
                        name: stmt.excluded[name]
                        for name in ("unit", "period_end", "quantity", "reported_at")
                    },
                )
            )
        rows = await session.scalars(
            select(SubscriptionUsageRecord)
            .where(
                SubscriptionUsageRecord.subscription_id == sub.id,
                SubscriptionUsageRecord.period_start == start,
            )
            .order_by(SubscriptionUsageRecord.feature_key)
            .execution_options(populate_existing=True)
        )
        return list(rows.all())

    async def roll_up_usage(self, request: pb.RollUpUsageRequest) -> pb.RollUpUsageResponse:
        require_operator()
        sub_id = parse_id(request.subscription_id, "subscription_id")
        async with self._db.transaction() as session:
            sub = await self._subscription(session, sub_id)
            rows = await self._roll_up(session, sub)
            return pb.RollUpUsageResponse(usage=[usage_to_proto(r) for r in rows])
