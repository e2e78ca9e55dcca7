"""Subscriptions, managed by tenant owners (and operators). A tenant has at most one
subscription that is not canceled."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.tenancy.billing.convert import SUB_STATUS_FROM_PROTO, subscription_to_proto
from services.tenancy.billing.handlers.plans import PlanHandlers
from services.tenancy.billing.math import (
    add_months,
    interval_months,
)
from services.tenancy.billing.models import (
    BillingPlanRecord,
    SubscriptionRecord,
    SubscriptionStatus,
)
from services.tenancy.billing.rules import SUB_TRANSITIONS, check_transition, requested_status
from services.tenancy.tenants.models import MembershipRecord, TenantRecord
from services.tenancy.tenants.validation import EMAIL_PATTERN, raise_if_any
from shared.auth import (
    require_operator,
    require_tenant,
)
from shared.db_types import utcnow
from shared.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from shared.ids import parse_id
from shared.timestamps import from_timestamp


class SubscriptionHandlers(PlanHandlers):
    async def _seats_in_use(self, session: AsyncSession, tenant_id: uuid.UUID) -> int:
        count = await session.scalar(
            select(func.count())
            .select_from(MembershipRecord)
            .where(MembershipRecord.tenant_id == tenant_id)
        )
        return int(count or 0)

    async def _live_subscription(
        self, session: AsyncSession, tenant_id: uuid.UUID, *, lock: bool = False
    ) -> SubscriptionRecord:
        stmt = select(SubscriptionRecord).where(
            SubscriptionRecord.tenant_id == tenant_id,
            SubscriptionRecord.status != SubscriptionStatus.CANCELED,
        )
        if lock:
            stmt = stmt.with_for_update()
        row = await session.scalar(stmt)
        if row is None:
            raise NotFound("the tenant has no subscription", reason="SUBSCRIPTION_NOT_FOUND")
        return row

    @staticmethod
    def _check_seats(plan: BillingPlanRecord, seat_count: int, in_use: int) -> None:
        if seat_count < in_use:
            raise FailedPrecondition(
                f"{in_use} seats are in use, more than the {seat_count} asked for",
                reason="SEATS_IN_USE",
                metadata={"seats_in_use": str(in_use)},
            )
        if plan.seat_included is not None and seat_count > plan.seat_included:
            raise FailedPrecondition(
                f"plan '{plan.code}' allows at most {plan.seat_included} seats",
                reason="PLAN_SEAT_LIMIT",
                metadata={"seat_included": str(plan.seat_included), "seats_in_use": str(in_use)},
            )

    @staticmethod
    def _usable_plan(plan: BillingPlanRecord) -> None:
        if not plan.is_active:
            raise FailedPrecondition(f"plan '{plan.code}' is not active", reason="PLAN_INACTIVE")

    async def create_subscription(
        self, request: pb.CreateSubscriptionRequest
    ) -> pb.CreateSubscriptionResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        require_tenant(str(tenant_id), "owner")
        plan_id = parse_id(request.plan_id, "plan_id")
        problems = []
        if request.seat_count < 0:
            problems.append(FieldViolation("seat_count", "must not be negative"))
        if request.billing_email and not EMAIL_PATTERN.match(request.billing_email):
            problems.append(FieldViolation("billing_email", "must be an email address"))
        raise_if_any(problems)
        start = from_timestamp(request.start_time) if request.HasField("start_time") else utcnow()
        async with self._db.transaction() as session:
            if await session.get(TenantRecord, tenant_id) is None:
                raise NotFound("no such tenant", reason="TENANT_NOT_FOUND")
            plan = await self._plan(session, plan_id)
            self._usable_plan(plan)
            in_use = await self._seats_in_use(session, tenant_id)
            seats = request.seat_count or max(1, in_use)
            self._check_seats(plan, seats, in_use)
            row = SubscriptionRecord(
                tenant_id=tenant_id,
                plan_id=plan_id,
                status=SubscriptionStatus.TRIALING
                if plan.trial_days
                else SubscriptionStatus.ACTIVE,
                billing_email=request.billing_email or None,
                starts_at=start,
                current_period_start=start,
                current_period_end=add_months(
                    start, interval_months(plan.interval, plan.interval_count)
                ),
                trial_ends_at=start + timedelta(days=plan.trial_days) if plan.trial_days else None,
                seat_count=seats,
            )
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise AlreadyExists(
                    "the tenant already has a subscription; change it instead",
                    reason="SUBSCRIPTION_EXISTS",
                ) from None
            return pb.CreateSubscriptionResponse(subscription=subscription_to_proto(row))

    async def get_subscription(
        self, request: pb.GetSubscriptionRequest
    ) -> pb.GetSubscriptionResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        require_tenant(str(tenant_id), "viewer")
        async with self._db.reading() as session:
            row = await self._live_subscription(session, tenant_id)
            return pb.GetSubscriptionResponse(subscription=subscription_to_proto(row))

    async def change_subscription(
        self, request: pb.ChangeSubscriptionRequest
    ) -> pb.ChangeSubscriptionResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        require_tenant(str(tenant_id), "owner")
        plan_id = parse_id(request.plan_id, "plan_id") if request.plan_id else None
        if request.HasField("seat_count") and request.seat_count < 1:
            raise InvalidArgument.field("seat_count", "must be at least 1")
        try:
            async with self._db.transaction() as session:
                row = await self._live_subscription(session, tenant_id, lock=True)
                plan = await self._plan(session, plan_id or row.plan_id)
                if plan_id is not None and plan_id != row.plan_id:
                    self._usable_plan(plan)
                seats = request.seat_count if request.HasField("seat_count") else row.seat_count
                in_use = await self._seats_in_use(session, tenant_id)
                self._check_seats(plan, seats or max(1, in_use), in_use)
                row.plan_id = plan.id
                row.seat_count = seats
                if request.HasField("cancel_at_period_end"):
                    row.cancel_at_period_end = request.cancel_at_period_end
                    row.cancel_at = row.current_period_end if row.cancel_at_period_end else None
                await session.flush()
                return pb.ChangeSubscriptionResponse(subscription=subscription_to_proto(row))
        except StaleDataError:
            raise Aborted("the subscription changed meanwhile; retry") from None

    async def set_subscription_status(
        self, request: pb.SetSubscriptionStatusRequest
    ) -> pb.SetSubscriptionStatusResponse:
        require_operator()
        sub_id = parse_id(request.subscription_id, "subscription_id")
        target = requested_status(request.status, SUB_STATUS_FROM_PROTO, "SUBSCRIPTION_STATUS_")
        async with self._db.transaction() as session:
            row = await self._subscription(session, sub_id, lock=True)
            check_transition(
                "subscription",
                row.status,
                target,
                SUB_TRANSITIONS,
                "INVALID_SUBSCRIPTION_TRANSITION",
            )
            row.status = target
            if target is SubscriptionStatus.CANCELED:
                row.cancel_at = utcnow()
            await session.flush()
            return pb.SetSubscriptionStatusResponse(subscription=subscription_to_proto(row))

    async def _subscription(
        self, session: AsyncSession, sub_id: uuid.UUID, *, lock: bool = False
    ) -> SubscriptionRecord:
        stmt = select(SubscriptionRecord).where(SubscriptionRecord.id == sub_id)
        if lock:
            stmt = stmt.with_for_update()
        row = await session.scalar(stmt)
        if row is None:
            raise NotFound("no such subscription", reason="SUBSCRIPTION_NOT_FOUND")
        return row
