"""Plans, managed by platform operators. Plans are updated with a field mask; a price change
applies to invoices drafted later and never to existing ones (their lines keep their amounts); a
deactivated plan takes no new subscriptions while existing ones renew on it."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.tenancy.billing.convert import plan_to_proto
from services.tenancy.billing.handlers.base import BillingBase
from services.tenancy.billing.models import (
    BillingPlanRecord,
    PlanFeatureRecord,
    SubscriptionRecord,
    SubscriptionStatus,
)
from services.tenancy.billing.rules import (
    UPDATABLE_PLAN_FIELDS,
    feature_values,
    plan_update_values,
    plan_values,
)
from services.tenancy.models import Base
from shared.auth import (
    require_operator,
    require_principal,
)
from shared.db import unique_violation
from shared.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from shared.field_mask import paths_to_update
from shared.ids import parse_id
from shared.pagination import fetch_page


class PlanHandlers(BillingBase):
    async def _features(self, session: AsyncSession, plan_id: uuid.UUID) -> list[PlanFeatureRecord]:
        stmt = select(PlanFeatureRecord).where(PlanFeatureRecord.plan_id == plan_id)
        return list((await session.scalars(stmt)).all())

    async def _plan(self, session: AsyncSession, plan_id: uuid.UUID) -> BillingPlanRecord:
        row = await session.get(BillingPlanRecord, plan_id)
        if row is None:
            raise NotFound("no such plan", reason="PLAN_NOT_FOUND")
        return row

    async def create_plan(self, request: pb.CreatePlanRequest) -> pb.CreatePlanResponse:
        require_operator()
        values = plan_values(request.plan)
        features = [
            feature_values(f, f"plan.features[{i}]") for i, f in enumerate(request.plan.features)
        ]
        async with self._db.transaction() as session:
            plan = BillingPlanRecord(**values)
            session.add(plan)
            try:
                await session.flush()
            except IntegrityError as exc:
                if unique_violation(exc, Base.metadata) == ("code",):
                    raise AlreadyExists(
                        f"a plan with code '{values['code']}' already exists",
                        reason="PLAN_CODE_TAKEN",
                        metadata={"field": "plan.code"},
                    ) from None
                raise
            rows = [PlanFeatureRecord(plan_id=plan.id, **f) for f in features]
            session.add_all(rows)
            await session.flush()
            return pb.CreatePlanResponse(plan=plan_to_proto(plan, rows))

    async def get_plan(self, request: pb.GetPlanRequest) -> pb.GetPlanResponse:
        require_principal()
        plan_id = parse_id(request.id, "id")
        async with self._db.reading() as session:
            plan = await self._plan(session, plan_id)
            return pb.GetPlanResponse(
                plan=plan_to_proto(plan, await self._features(session, plan_id))
            )

    async def list_plans(self, request: pb.ListPlansRequest) -> pb.ListPlansResponse:
        require_principal()
        statement = select(BillingPlanRecord)
        if not request.include_inactive:
            statement = statement.where(BillingPlanRecord.is_active.is_(True))
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(BillingPlanRecord.code,),
                position_of=lambda row: (row.code,),
                codec=self._pages,
                query="BillingService.ListPlans",
                filters={"include_inactive": request.include_inactive},
                page_size=request.page_size,
                page_token=request.page_token,
            )
            ids = [plan.id for plan in page.items]
            features = (
                list(
                    (
                        await session.scalars(
                            select(PlanFeatureRecord).where(PlanFeatureRecord.plan_id.in_(ids))
                        )
                    ).all()
                )
                if ids
                else []
            )
        by_plan: dict[uuid.UUID, list[PlanFeatureRecord]] = {}
        for feature in features:
            by_plan.setdefault(feature.plan_id, []).append(feature)
        return pb.ListPlansResponse(
            plans=[plan_to_proto(p, by_plan.get(p.id, [])) for p in page.items],
            next_page_token=page.next_page_token,
        )

    async def update_plan(self, request: pb.UpdatePlanRequest) -> pb.UpdatePlanResponse:
        require_operator()
        plan = request.plan
        plan_id = parse_id(plan.id, "plan.id")
        if not request.update_mask.paths:
            raise InvalidArgument.field("update_mask", "must name the fields to change")
        paths = paths_to_update(request.update_mask, plan, UPDATABLE_PLAN_FIELDS)
        values = plan_update_values(plan, paths)
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(BillingPlanRecord).where(BillingPlanRecord.id == plan_id).with_for_update()
            )
            if row is None:
                raise NotFound("no such plan", reason="PLAN_NOT_FOUND")
            seats = values.get("seat_included")
            if seats is not None:
                most = await session.scalar(
                    select(func.max(SubscriptionRecord.seat_count)).where(
                        SubscriptionRecord.plan_id == plan_id,
                        SubscriptionRecord.status != SubscriptionStatus.CANCELED,
                    )
                )
                if most is not None and most > seats:
                    raise FailedPrecondition(
                        f"a subscription to plan '{row.code}' has {most} seats, more than {seats}",
                        reason="PLAN_SEAT_LIMIT",
                        metadata={"field": "plan.seat_included", "most_seats": str(most)},
                    )
            for name, value in values.items():
                setattr(row, name, value)
            await session.flush()
            return pb.UpdatePlanResponse(
                plan=plan_to_proto(row, await self._features(session, plan_id))
            )

    async def set_plan_feature(
        self, request: pb.SetPlanFeatureRequest
    ) -> pb.SetPlanFeatureResponse:
        require_operator()
        plan_id = parse_id(request.plan_id, "plan_id")
        values = feature_values(request.feature, "feature")
        async with self._db.transaction() as session:
            plan = await self._plan(session, plan_id)
            existing = await session.scalar(
                select(PlanFeatureRecord)
                .where(
                    PlanFeatureRecord.plan_id == plan_id,
                    PlanFeatureRecord.feature_key == values["feature_key"],
                )
                .with_for_update()
            )
            if existing is None:
                session.add(PlanFeatureRecord(plan_id=plan_id, **values))
            else:
                for key, value in values.items():
                    setattr(existing, key, value)
            try:
                await session.flush()
            except IntegrityError:
                raise Aborted("the feature was added meanwhile; retry") from None
            return pb.SetPlanFeatureResponse(
                plan=plan_to_proto(plan, await self._features(session, plan_id))
            )
