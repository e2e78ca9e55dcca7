"""BillingService over a real in-process gRPC server, on SQLite and on PostgreSQL: metering
(with concurrent increments), plans, subscriptions, usage roll-up and invoices."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.billing_pb2_grpc import BillingServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.tenancy.billing.models import (
    Granularity,
    InvoiceRecord,
    SubscriptionPeriodRecord,
    SubscriptionRecord,
    SubscriptionUsageRecord,
    UsageCounterRecord,
)
from services.tenancy.limits.models import LimitCounterRecord
from services.tenancy.tenants.models import TenantRecord
from shared.db import Database
from shared.grpc_client import open_channel
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer

PERIOD_START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@dataclass
class Billing:
    stub: BillingServiceStub
    tenancy: TenancyServiceStub
    issuer: TestIssuer
    operator: list[tuple[str, str]]
    internal: list[tuple[str, str]]

    def owner(self, tenant_id: str) -> list[tuple[str, str]]:
        return self.issuer.member(tenant_id, "owner")

    def role(self, tenant_id: str, role: str) -> list[tuple[str, str]]:
        return self.issuer.member(tenant_id, role)


@pytest.fixture(scope="module")
async def billing(backend: str, databases: Databases, issuer: TestIssuer) -> AsyncIterator[Billing]:
    url = await databases.url(backend, "tenancy")
    async with (
        running_service("tenancy", url, authenticator=issuer.authenticator()) as running,
        open_channel(running.target) as channel,
    ):
        yield Billing(
            BillingServiceStub(channel),
            TenancyServiceStub(channel),
            issuer,
            issuer.operator(),
            issuer.internal(),
        )


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


async def new_tenant(billing: Billing, members: int = 0) -> str:
    suffix = uuid.uuid4().hex[:10]
    response = await billing.tenancy.CreateTenant(
        tpb.CreateTenantRequest(
            tenant=tpb.Tenant(slug=f"t-{suffix}", name=f"Tenant {suffix}"),
            owner_user_id=str(uuid.uuid4()) if members else "",
        ),
        metadata=billing.operator,
    )
    tenant_id = response.tenant.id
    for _ in range(members - 1):
        await billing.tenancy.AddMembership(
            tpb.AddMembershipRequest(
                membership=tpb.Membership(
                    tenant_id=tenant_id,
                    user_id=str(uuid.uuid4()),
                    role=tpb.MEMBERSHIP_ROLE_MEMBER,
                )
            ),
            metadata=billing.operator,
        )
    return tenant_id


async def record(billing: Billing, tenant_id: str, at: datetime, user_id: str = "", **counts):
    return await billing.stub.RecordUsage(
        pb.RecordUsageRequest(
            tenant_id=tenant_id, user_id=user_id, occurred_at=stamp(at), **counts
        ),
        metadata=billing.internal,
    )


async def usage(billing: Billing, tenant_id: str, start: str, end: str) -> pb.TenantUsage | None:
    response = await billing.stub.GetUsage(
        pb.GetUsageRequest(tenant_id=tenant_id, start_date=start, end_date=end),
        metadata=billing.role(tenant_id, "viewer"),
    )
    return response.tenants[0] if response.tenants else None


def tokens_feature(**fields: object) -> pb.PlanFeature:
    fields.setdefault("feature_key", "tokens")
    fields.setdefault("metric", pb.USAGE_METRIC_TOTAL_TOKENS)
    fields.setdefault("unit", "tokens")
    fields.setdefault("is_metered", True)
    fields.setdefault("included_quantity", 1000)
    fields.setdefault("overage_unit_price", "0.002500")
    fields.setdefault("overage_unit_block", 1000)
    return pb.PlanFeature(**fields)


async def new_plan(billing: Billing, **fields: object) -> pb.Plan:
    fields.setdefault("code", f"plan-{uuid.uuid4().hex[:10]}")
    fields.setdefault("name", "Team")
    fields.setdefault("price", "49.99")
    response = await billing.stub.CreatePlan(
        pb.CreatePlanRequest(plan=pb.Plan(**fields)), metadata=billing.operator
    )
    return response.plan


async def subscribe(billing: Billing, tenant_id: str, plan: pb.Plan, **fields: object):
    fields.setdefault("start_time", stamp(PERIOD_START))
    response = await billing.stub.CreateSubscription(
        pb.CreateSubscriptionRequest(tenant_id=tenant_id, plan_id=plan.id, **fields),
        metadata=billing.owner(tenant_id),
    )
    return response.subscription


# ----- metering -----


async def test_record_usage_increments_day_and_month_rows(billing: Billing) -> None:
    tenant = await new_tenant(billing)
    user = str(uuid.uuid4())
    at = datetime(2026, 3, 14, 23, 59, tzinfo=UTC)
    first = await record(billing, tenant, at, input_tokens=10, output_tokens=5, requests=1)
    assert first.day.period_start == "2026-03-14"
    assert first.day.granularity == pb.USAGE_GRANULARITY_DAY
    assert first.month.period_start == "2026-03-01"
    assert first.month.granularity == pb.USAGE_GRANULARITY_MONTH
    assert first.day.user_id == ""
    second = await record(
        billing, tenant, at, input_tokens=1, output_tokens=2, requests=3, storage_bytes=4
    )
    assert (second.day.input_tokens, second.day.output_tokens) == (11, 7)
    assert (second.day.requests, second.day.storage_bytes) == (4, 4)
    assert second.month.input_tokens == 11
    # Another day of the same month: a new day row, the same month row.
    third = await record(billing, tenant, datetime(2026, 3, 2, tzinfo=UTC), input_tokens=100)
    assert third.day.input_tokens == 100 and third.month.input_tokens == 111
    # A user's usage has rows of its own.
    mine = await record(billing, tenant, at, user_id=user, output_tokens=7)
    assert mine.day.user_id == user and mine.day.output_tokens == 7
    assert mine.month.output_tokens == 7

    totals = await usage(billing, tenant, "2026-03-01", "2026-04-01")
    assert totals is not None
    assert (totals.input_tokens, totals.output_tokens, totals.requests) == (111, 14, 4)
    assert totals.total_tokens == 125
    only_14th = await usage(billing, tenant, "2026-03-14", "2026-03-15")
    assert only_14th is not None and only_14th.input_tokens == 11
    assert await usage(billing, tenant, "2026-04-01", "2026-05-01") is None


async def test_concurrent_increments_are_never_lost(billing: Billing) -> None:
    tenant = await new_tenant(billing)
    user = str(uuid.uuid4())
    at = datetime(2026, 5, 5, 12, tzinfo=UTC)
    calls = 30
    await asyncio.gather(
        *(
            record(billing, tenant, at, user_id=user if i % 2 else "", input_tokens=3, requests=1)
            for i in range(calls)
        )
    )
    totals = await usage(billing, tenant, "2026-05-01", "2026-06-01")
    assert totals is not None
    assert (totals.input_tokens, totals.requests) == (3 * calls, calls)
    null_user = await record(billing, tenant, at)  # adds nothing, reads the rows
    assert null_user.day.requests == calls // 2 and null_user.month.requests == calls // 2
    user_rows = await record(billing, tenant, at, user_id=user)
    assert user_rows.day.input_tokens == 3 * calls // 2


async def test_record_usage_with_a_request_id_counts_once(billing: Billing) -> None:
    tenant = await new_tenant(billing)
    at = datetime(2026, 7, 7, 7, tzinfo=UTC)
    first = await record(billing, tenant, at, input_tokens=4, requests=1, request_id="run:a:0")
    again = await asyncio.gather(
        *(
            record(billing, tenant, at, input_tokens=4, requests=1, request_id="run:a:0")
            for _ in range(3)
        )
    )
    assert {(r.day.input_tokens, r.day.requests) for r in [first, *again]} == {(4, 1)}
    other = await record(billing, tenant, at, input_tokens=4, requests=1, request_id="run:a:1")
    assert (other.day.input_tokens, other.month.requests) == (8, 2)
    # The same id for another usage is refused, naming the field; nothing is added.
    refused = await failure(
        record(billing, tenant, at, input_tokens=5, requests=1, request_id="run:a:0")
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in (refused.details() or "")
    totals = await usage(billing, tenant, "2026-07-01", "2026-08-01")
    assert totals is not None and (totals.input_tokens, totals.requests) == (8, 2)


async def test_record_usage_refuses_bad_input_and_changes_nothing(billing: Billing) -> None:
    tenant = await new_tenant(billing)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    await record(billing, tenant, at, input_tokens=5)
    refused = await failure(
        record(
            billing,
            tenant,
            at,
            input_tokens=-1,
            output_tokens=-2,
            requests=-3,
            storage_bytes=-4,
        )
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_error(refused).field_violations) == {
        "input_tokens",
        "output_tokens",
        "requests",
        "storage_bytes",
    }
    refused = await failure(record(billing, tenant, at, input_tokens=10, requests=-1))
    assert set(rich_error(refused).field_violations) == {"requests"}
    refused = await failure(record(billing, tenant, at, input_tokens=10**13))
    assert set(rich_error(refused).field_violations) == {"input_tokens"}
    refused = await failure(record(billing, "nope", at, input_tokens=1))
    assert set(rich_error(refused).field_violations) == {"tenant_id"}
    refused = await failure(record(billing, tenant, at, user_id="nope", input_tokens=1))
    assert set(rich_error(refused).field_violations) == {"user_id"}
    refused = await failure(record(billing, str(uuid.uuid4()), at, input_tokens=1))
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    # Only Quarterdeck services record usage, not even an owner or an operator.
    for caller in (billing.owner(tenant), billing.operator):
        refused = await failure(
            billing.stub.RecordUsage(
                pb.RecordUsageRequest(tenant_id=tenant, input_tokens=1), metadata=caller
            )
        )
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        assert rich_error(refused).reason == "INTERNAL_ONLY"
    totals = await usage(billing, tenant, "2026-06-01", "2026-06-02")
    assert totals is not None and (totals.input_tokens, totals.requests) == (5, 0)


async def test_usage_defaults_to_the_last_30_days_and_says_which(billing: Billing) -> None:
    tenant = await new_tenant(billing)
    now = datetime.now(UTC)
    await record(billing, tenant, now, input_tokens=4, output_tokens=1, requests=1)
    await record(billing, tenant, now - timedelta(days=45), input_tokens=100, requests=1)
    reply = await billing.stub.GetUsage(
        pb.GetUsageRequest(), metadata=billing.role(tenant, "viewer")
    )
    [totals] = reply.tenants
    assert (totals.tenant_id, totals.input_tokens, totals.requests) == (tenant, 4, 1)
    start, end = date.fromisoformat(reply.start_date), date.fromisoformat(reply.end_date)
    assert end - start == timedelta(days=30) and start < now.date() < end


async def test_usage_by_tenant_for_viewers_and_operators(billing: Billing) -> None:
    a, b = await new_tenant(billing), await new_tenant(billing)
    at = datetime(2027, 2, 3, tzinfo=UTC)
    await record(billing, a, at, input_tokens=1, output_tokens=2, requests=1)
    await record(billing, b, at, input_tokens=10, output_tokens=20, requests=2)
    everyone = await billing.stub.GetUsage(
        pb.GetUsageRequest(start_date="2027-02-01", end_date="2027-03-01"),
        metadata=billing.operator,
    )
    by_id = {t.tenant_id: t for t in everyone.tenants}
    assert by_id[a].total_tokens == 3 and by_id[b].total_tokens == 30
    assert by_id[b].requests == 2 and by_id[b].tenant_name.startswith("Tenant ")
    # A viewer sees its own tenant only (naming none means its own), never every tenant or
    # another one.
    own = await billing.stub.GetUsage(
        pb.GetUsageRequest(start_date="2027-02-01", end_date="2027-03-01"),
        metadata=billing.role(a, "viewer"),
    )
    assert [(t.tenant_id, t.total_tokens) for t in own.tenants] == [(a, 3)]
    assert (own.start_date, own.end_date) == ("2027-02-01", "2027-03-01")
    refused = await failure(
        billing.stub.GetUsage(
            pb.GetUsageRequest(tenant_id=b, start_date="2027-02-01", end_date="2027-03-01"),
            metadata=billing.role(a, "owner"),
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    for start, end, field in (
        ("2027-03-02", "", "end_date"),  # the default end (tomorrow) is before the start
        ("2027-02-01", "2027-02-30", "end_date"),
        ("2027-2-1", "2027-03-01", "start_date"),
        ("2027-03-01", "2027-03-01", "end_date"),
    ):
        refused = await failure(
            billing.stub.GetUsage(
                pb.GetUsageRequest(tenant_id=a, start_date=start, end_date=end),
                metadata=billing.role(a, "viewer"),
            )
        )
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(rich_error(refused).field_violations) == {field}


# ----- plans -----


async def test_operators_manage_plans(billing: Billing) -> None:
    plan = await new_plan(
        billing,
        price="49.99",
        trial_days=14,
        seat_included=5,
        features=[tokens_feature(hard_limit=10**7, soft_limit=10**6)],
    )
    assert plan.price == "49.990000" and plan.currency == "USD"
    assert plan.interval == "monthly" and plan.interval_count == 1 and plan.is_active
    (feature,) = plan.features
    assert feature.overage_unit_price == "0.002500" and feature.overage_unit_block == 1000
    assert feature.hard_limit == 10**7 and feature.soft_limit == 10**6
    tenant = await new_tenant(billing)
    got = await billing.stub.GetPlan(pb.GetPlanRequest(id=plan.id), metadata=billing.owner(tenant))
    assert got.plan == plan
    listed = await billing.stub.ListPlans(pb.ListPlansRequest(), metadata=billing.owner(tenant))
    assert plan.id in {p.id for p in listed.plans}

    changed = await billing.stub.SetPlanFeature(
        pb.SetPlanFeatureRequest(
            plan_id=plan.id,
            feature=tokens_feature(included_quantity=5000, overage_unit_price="0.01"),
        ),
        metadata=billing.operator,
    )
    (feature,) = changed.plan.features
    assert feature.included_quantity == 5000 and feature.overage_unit_price == "0.010000"
    assert not feature.HasField("hard_limit")
    added = await billing.stub.SetPlanFeature(
        pb.SetPlanFeatureRequest(
            plan_id=plan.id,
            feature=pb.PlanFeature(feature_key="requests", metric=pb.USAGE_METRIC_REQUESTS),
        ),
        metadata=billing.operator,
    )
    assert [f.feature_key for f in added.plan.features] == ["requests", "tokens"]
    assert added.plan.features[0].unit == "requests"

    refused = await failure(
        billing.stub.CreatePlan(
            pb.CreatePlanRequest(plan=pb.Plan(code=plan.code, name="Again", price="1")),
            metadata=billing.operator,
        )
    )
    assert refused.code() == grpc.StatusCode.ALREADY_EXISTS
    assert rich_error(refused).reason == "PLAN_CODE_TAKEN"
    refused = await failure(
        billing.stub.CreatePlan(
            pb.CreatePlanRequest(plan=pb.Plan(code="x-plan", name="X", price="1")),
            metadata=billing.owner(tenant),
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    refused = await failure(
        billing.stub.SetPlanFeature(
            pb.SetPlanFeatureRequest(plan_id=plan.id, feature=tokens_feature()),
            metadata=billing.owner(tenant),
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_bad_plans_and_features_are_refused_by_field(billing: Billing) -> None:
    refused = await failure(
        billing.stub.CreatePlan(
            pb.CreatePlanRequest(
                plan=pb.Plan(
                    code="Bad Code",
                    name="",
                    interval="weekly",
                    price="-1",
                    currency="EUR",
                    trial_days=-1,
                    seat_included=0,
                    features=[
                        pb.PlanFeature(
                            feature_key="",
                            included_quantity=-1,
                            hard_limit=5,
                            soft_limit=6,
                            overage_unit_price="0.0000001",
                            overage_unit_block=3,
                        )
                    ],
                )
            ),
            metadata=billing.operator,
        )
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_error(refused).field_violations) == {
        "plan.code",
        "plan.name",
        "plan.interval",
        "plan.price",
        "plan.currency",
        "plan.trial_days",
        "plan.seat_included",
    }
    refused = await failure(
        billing.stub.CreatePlan(
            pb.CreatePlanRequest(
                plan=pb.Plan(
                    code=f"p-{uuid.uuid4().hex[:8]}",
                    name="P",
                    price="1.5",
                    features=[
                        pb.PlanFeature(
                            feature_key="",
                            included_quantity=-1,
                            hard_limit=5,
                            soft_limit=6,
                            overage_unit_price="0.0000001",
                            overage_unit_block=3,
                        )
                    ],
                )
            ),
            metadata=billing.operator,
        )
    )
    prefix = "plan.features[0]."
    assert set(rich_error(refused).field_violations) == {
        prefix + name
        for name in (
            "feature_key",
            "metric",
            "included_quantity",
            "soft_limit",
            "overage_unit_price",
            "overage_unit_block",
        )
    }
    unknown = str(uuid.uuid4())
    for call in (
        billing.stub.GetPlan(pb.GetPlanRequest(id=unknown), metadata=billing.operator),
        billing.stub.SetPlanFeature(
            pb.SetPlanFeatureRequest(plan_id=unknown, feature=tokens_feature()),
            metadata=billing.operator,
        ),
    ):
        refused = await failure(call)
        assert refused.code() == grpc.StatusCode.NOT_FOUND
        assert rich_error(refused).reason == "PLAN_NOT_FOUND"


# ----- subscriptions -----


async def test_owners_subscribe_and_change_plans(billing: Billing) -> None:
    tenant = await new_tenant(billing, members=3)
    trial = await new_plan(billing, trial_days=14, seat_included=10)
    sub = await subscribe(billing, tenant, trial)
    assert sub.status == pb.SUBSCRIPTION_STATUS_TRIALING
    assert sub.seat_count == 3 and sub.version == 1
    assert sub.current_period_start.ToDatetime(tzinfo=UTC) == PERIOD_START
    assert sub.current_period_end.ToDatetime(tzinfo=UTC) == datetime(2026, 2, 1, tzinfo=UTC)
    assert sub.trial_end_time.ToDatetime(tzinfo=UTC) == datetime(2026, 1, 15, tzinfo=UTC)
    got = await billing.stub.GetSubscription(
        pb.GetSubscriptionRequest(tenant_id=tenant), metadata=billing.role(tenant, "viewer")
    )
    assert got.subscription == sub

    refused = await failure(subscribe(billing, tenant, trial))
    assert refused.code() == grpc.StatusCode.ALREADY_EXISTS

    yearly = await new_plan(billing, interval="yearly", seat_included=4)
    changed = await billing.stub.ChangeSubscription(
        pb.ChangeSubscriptionRequest(
            tenant_id=tenant, plan_id=yearly.id, seat_count=4, cancel_at_period_end=True
        ),
        metadata=billing.owner(tenant),
    )
    assert changed.subscription.plan_id == yearly.id
    assert changed.subscription.seat_count == 4 and changed.subscription.cancel_at_period_end

    # Admins do not manage billing; another tenant's owner does not either.
    other = await new_tenant(billing)
    for caller in (billing.role(tenant, "admin"), billing.owner(other)):
        refused = await failure(
            billing.stub.ChangeSubscription(
                pb.ChangeSubscriptionRequest(tenant_id=tenant, seat_count=5), metadata=caller
            )
        )
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_plan_change_leaving_too_many_seats_changes_nothing(billing: Billing) -> None:
    tenant = await new_tenant(billing, members=3)
    big = await new_plan(billing, seat_included=10)
    small = await new_plan(billing, seat_included=2)
    sub = await subscribe(billing, tenant, big, seat_count=5)
    refused = await failure(
        billing.stub.ChangeSubscription(
            pb.ChangeSubscriptionRequest(tenant_id=tenant, plan_id=small.id, seat_count=2),
            metadata=billing.owner(tenant),
        )
    )
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused).reason == "SEATS_IN_USE"
    refused = await failure(
        billing.stub.ChangeSubscription(
            pb.ChangeSubscriptionRequest(tenant_id=tenant, plan_id=small.id),
            metadata=billing.owner(tenant),
        )
    )
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused).reason == "PLAN_SEAT_LIMIT"
    refused = await failure(
        billing.stub.ChangeSubscription(
            pb.ChangeSubscriptionRequest(tenant_id=tenant, seat_count=2),
            metadata=billing.owner(tenant),
        )
    )
    assert rich_error(refused).reason == "SEATS_IN_USE"
    refused = await failure(
        billing.stub.ChangeSubscription(
            pb.ChangeSubscriptionRequest(tenant_id=tenant, seat_count=0),
            metadata=billing.owner(tenant),
        )
    )
    assert set(rich_error(refused).field_violations) == {"seat_count"}
    refused = await failure(
        billing.stub.ChangeSubscription(
            pb.ChangeSubscriptionRequest(tenant_id=tenant, plan_id=str(uuid.uuid4())),
            metadata=billing.owner(tenant),
        )
    )
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    got = await billing.stub.GetSubscription(
        pb.GetSubscriptionRequest(tenant_id=tenant), metadata=billing.owner(tenant)
    )
    assert got.subscription == sub


async def test_bad_subscriptions_are_refused(billing: Billing) -> None:
    tenant = await new_tenant(billing, members=3)
    plan = await new_plan(billing, seat_included=2)
    refused = await failure(subscribe(billing, tenant, plan))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused).reason == "PLAN_SEAT_LIMIT"
    refused = await failure(subscribe(billing, tenant, pb.Plan(id=str(uuid.uuid4()))))
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    assert rich_error(refused).reason == "PLAN_NOT_FOUND"
    refused = await failure(subscribe(billing, tenant, plan, seat_count=-1, billing_email="x"))
    assert set(rich_error(refused).field_violations) == {"seat_count", "billing_email"}
    refused = await failure(
        billing.stub.CreateSubscription(
            pb.CreateSubscriptionRequest(tenant_id=tenant, plan_id=plan.id),
            metadata=billing.role(tenant, "admin"),
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    refused = await failure(
        billing.stub.GetSubscription(
            pb.GetSubscriptionRequest(tenant_id=tenant), metadata=billing.owner(tenant)
        )
    )
    assert refused.code() == grpc.StatusCode.NOT_FOUND


async def test_subscription_status_transitions(billing: Billing) -> None:
    tenant = await new_tenant(billing)
    plan = await new_plan(billing)
    sub = await subscribe(billing, tenant, plan)
    assert sub.status == pb.SUBSCRIPTION_STATUS_ACTIVE

    async def move(status: int, caller: list[tuple[str, str]] | None = None):
        return await billing.stub.SetSubscriptionStatus(
            pb.SetSubscriptionStatusRequest(subscription_id=sub.id, status=status),
            metadata=caller or billing.operator,
        )

    refused = await failure(move(pb.SUBSCRIPTION_STATUS_PAST_DUE, billing.owner(tenant)))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    refused = await failure(move(pb.SUBSCRIPTION_STATUS_TRIALING))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await move(pb.SUBSCRIPTION_STATUS_PAST_DUE)).subscription.status == (
        pb.SUBSCRIPTION_STATUS_PAST_DUE
    )
    refused = await failure(move(pb.SUBSCRIPTION_STATUS_UNSPECIFIED))
    assert set(rich_error(refused).field_violations) == {"status"}
    assert (await move(pb.SUBSCRIPTION_STATUS_CANCELED)).subscription.status == (
        pb.SUBSCRIPTION_STATUS_CANCELED
    )
    refused = await failure(move(pb.SUBSCRIPTION_STATUS_ACTIVE))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused).reason == "INVALID_SUBSCRIPTION_TRANSITION"
    # Canceled, the tenant may subscribe again.
    again = await subscribe(billing, tenant, plan)
    assert again.id != sub.id


# ----- roll-up and invoices -----


async def metered_subscription(billing: Billing) -> tuple[str, pb.Plan, pb.Subscription]:
    tenant = await new_tenant(billing)
    plan = await new_plan(
        billing,
        price="49.99",
        features=[
            tokens_feature(),
            pb.PlanFeature(
                feature_key="requests",
                metric=pb.USAGE_METRIC_REQUESTS,
                is_metered=True,
                included_quantity=10,
                overage_unit_price="0.000001",
            ),
            pb.PlanFeature(feature_key="storage", metric=pb.USAGE_METRIC_STORAGE_BYTES),
        ],
    )
    sub = await subscribe(billing, tenant, plan)
    return tenant, plan, sub


async def test_roll_up_is_idempotent(billing: Billing) -> None:
    tenant, _plan, sub = await metered_subscription(billing)
    await record(billing, tenant, datetime(2026, 1, 3, tzinfo=UTC), input_tokens=1000, requests=7)
    await record(
        billing,
        tenant,
        datetime(2026, 1, 31, 23, tzinfo=UTC),
        user_id=str(uuid.uuid4()),
        output_tokens=2001,
        requests=5,
        storage_bytes=9,
    )
    await record(billing, tenant, datetime(2026, 2, 1, tzinfo=UTC), input_tokens=10**6)

    async def roll() -> list[pb.SubscriptionUsage]:
        response = await billing.stub.RollUpUsage(
            pb.RollUpUsageRequest(subscription_id=sub.id), metadata=billing.operator
        )
        return list(response.usage)

    first = await roll()
    assert {u.feature_key: u.quantity for u in first} == {
        "requests": 12,
        "storage": 9,
        "tokens": 3001,
    }
    assert await roll() == first
    await record(billing, tenant, datetime(2026, 1, 4, tzinfo=UTC), requests=1)
    assert {u.feature_key: u.quantity for u in await roll()}["requests"] == 13

    refused = await failure(
        billing.stub.RollUpUsage(
            pb.RollUpUsageRequest(subscription_id=sub.id), metadata=billing.owner(tenant)
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    refused = await failure(
        billing.stub.RollUpUsage(
            pb.RollUpUsageRequest(subscription_id=str(uuid.uuid4())), metadata=billing.operator
        )
    )
    assert refused.code() == grpc.StatusCode.NOT_FOUND


async def test_invoice_amounts_are_exact_and_transitions_checked(billing: Billing) -> None:
    tenant, _plan, sub = await metered_subscription(billing)
    # 3001 tokens (1000 included: 2001 over at 0.0025 per 1000) and 13 requests (10
    # included: 3 over at 0.000001 each).
    await record(billing, tenant, datetime(2026, 1, 9, tzinfo=UTC), input_tokens=3001, requests=13)

    async def generate() -> pb.Invoice:
        response = await billing.stub.GenerateInvoice(
            pb.GenerateInvoiceRequest(subscription_id=sub.id), metadata=billing.operator
        )
        return response.invoice

    invoice = await generate()
    assert invoice.status == pb.INVOICE_STATUS_DRAFT
    lines = {line.description: line for line in invoice.line_items}
    assert set(lines) == {"plan:" + _plan.code, "overage:requests", "overage:tokens"}
    assert lines["plan:" + _plan.code].amount.amount == "49.990000000000"
    assert lines["overage:tokens"].quantity == 2001
    assert lines["overage:tokens"].amount.amount == "0.005002500000"
    assert lines["overage:requests"].amount.amount == "0.000003000000"
    assert invoice.total.amount == "49.995005500000" and invoice.total.currency_code == "USD"

    got = await billing.stub.GetInvoice(
        pb.GetInvoiceRequest(id=invoice.id), metadata=billing.role(tenant, "viewer")
    )
    assert got.invoice == invoice
    other = await new_tenant(billing)
    refused = await failure(
        billing.stub.GetInvoice(pb.GetInvoiceRequest(id=invoice.id), metadata=billing.owner(other))
    )
    assert refused.code() == grpc.StatusCode.NOT_FOUND

    refused = await failure(generate())
    assert refused.code() == grpc.StatusCode.ALREADY_EXISTS

    async def move(invoice_id: str, status: int) -> pb.Invoice:
        response = await billing.stub.SetInvoiceStatus(
            pb.SetInvoiceStatusRequest(id=invoice_id, status=status), metadata=billing.operator
        )
        return response.invoice

    refused = await failure(move(invoice.id, pb.INVOICE_STATUS_PAID))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(refused).reason == "INVALID_INVOICE_TRANSITION"
    assert (await move(invoice.id, pb.INVOICE_STATUS_OPEN)).status == pb.INVOICE_STATUS_OPEN
    refused = await failure(move(invoice.id, pb.INVOICE_STATUS_DRAFT))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    paid = await move(invoice.id, pb.INVOICE_STATUS_PAID)
    assert paid.status == pb.INVOICE_STATUS_PAID and paid.total == invoice.total
    for status in (pb.INVOICE_STATUS_VOID, pb.INVOICE_STATUS_OPEN, pb.INVOICE_STATUS_DRAFT):
        refused = await failure(move(invoice.id, status))
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    refused = await failure(move(invoice.id, pb.INVOICE_STATUS_UNSPECIFIED))
    assert set(rich_error(refused).field_violations) == {"status"}
    got = await billing.stub.GetInvoice(
        pb.GetInvoiceRequest(id=invoice.id), metadata=billing.operator
    )
    assert got.invoice.status == pb.INVOICE_STATUS_PAID

    refused = await failure(
        billing.stub.SetInvoiceStatus(
            pb.SetInvoiceStatusRequest(id=invoice.id, status=pb.INVOICE_STATUS_VOID),
            metadata=billing.owner(tenant),
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    refused = await failure(move(str(uuid.uuid4()), pb.INVOICE_STATUS_OPEN))
    assert refused.code() == grpc.StatusCode.NOT_FOUND


async def test_void_invoices_can_be_regenerated(billing: Billing) -> None:
    _tenant, plan, sub = await metered_subscription(billing)
    first = (
        await billing.stub.GenerateInvoice(
            pb.GenerateInvoiceRequest(subscription_id=sub.id), metadata=billing.operator
        )
    ).invoice
    assert first.total.amount == "49.990000000000"
    assert [line.quantity for line in first.line_items] == [1, 0, 0]
    voided = await billing.stub.SetInvoiceStatus(
        pb.SetInvoiceStatusRequest(id=first.id, status=pb.INVOICE_STATUS_VOID),
        metadata=billing.operator,
    )
    assert voided.invoice.status == pb.INVOICE_STATUS_VOID
    refused = await failure(
        billing.stub.SetInvoiceStatus(
            pb.SetInvoiceStatusRequest(id=first.id, status=pb.INVOICE_STATUS_OPEN),
            metadata=billing.operator,
        )
    )
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    second = (
        await billing.stub.GenerateInvoice(
            pb.GenerateInvoiceRequest(subscription_id=sub.id), metadata=billing.operator
        )
    ).invoice
    assert second.id != first.id and second.status == pb.INVOICE_STATUS_DRAFT
    assert plan.code in second.line_items[0].description


async def test_null_user_rows_are_unique_in_the_database(
    backend: str, databases: Databases
) -> None:
    """The conditional unique index: a unique constraint alone lets NULL user rows repeat."""
    database = Database(await databases.url(backend, "tenancy"))
    try:
        tenant = TenantRecord(slug=f"n-{uuid.uuid4().hex[:10]}", name="N")
        async with database.transaction() as session:
            session.add(tenant)

        def row(user_id: uuid.UUID | None) -> UsageCounterRecord:
            return UsageCounterRecord(
                tenant_id=tenant.id,
                user_id=user_id,
                period_start=datetime(2026, 1, 1).date(),
                granularity=Granularity.DAY,
            )

        user = uuid.uuid4()
        async with database.transaction() as session:
            session.add_all([row(None), row(user)])
        for user_id in (None, user):
            with pytest.raises(IntegrityError):
                async with database.transaction() as session:
                    session.add(row(user_id))
    finally:
        await database.dispose()


# ----- periods that advance, plan updates -----


@dataclass
class Fresh(Billing):
    url: str
    database: Database


@pytest.fixture
async def fresh(backend: str, databases: Databases, issuer: TestIssuer) -> AsyncIterator[Fresh]:
    """A tenancy service on a database of its own: advancing periods touches every
    subscription, so each of these tests sees only its own."""
    url = await databases.url(backend, "tenancy", f"periods-{uuid.uuid4().hex[:8]}")
    database = Database(url)
    try:
        async with (
            running_service("tenancy", url, authenticator=issuer.authenticator()) as running,
            open_channel(running.target) as channel,
        ):
            yield Fresh(
                BillingServiceStub(channel),
                TenancyServiceStub(channel),
                issuer,
                issuer.operator(),
                issuer.internal(),
                url,
                database,
            )
    finally:
        await database.dispose()


async def advance(billing: Billing, at: datetime, limit: int = 0):
    return await billing.stub.AdvanceSubscriptionPeriods(
        pb.AdvanceSubscriptionPeriodsRequest(now=stamp(at), limit=limit),
        metadata=billing.operator,
    )


def counts(report: pb.AdvanceSubscriptionPeriodsResponse) -> tuple[int, ...]:
    return (
        report.periods_renewed,
        report.subscriptions_canceled,
        report.trials_ended,
        report.invoices_drafted,
        report.limit_counters_pruned,
        report.remaining,
    )


async def invoices_of(fresh: Fresh, sub_id: str) -> list[tuple[datetime, datetime, int]]:
    async with fresh.database.reading() as session:
        rows = await session.scalars(
            select(InvoiceRecord)
            .where(InvoiceRecord.subscription_id == uuid.UUID(sub_id))
            .order_by(InvoiceRecord.period_start)
        )
        return [(r.period_start, r.period_end, r.total_picos) for r in rows]


async def subscription_row(fresh: Fresh, sub_id: str) -> SubscriptionRecord:
    async with fresh.database.reading() as session:
        row = await session.get(SubscriptionRecord, uuid.UUID(sub_id))
        assert row is not None
        return row


def at(month: int, day: int = 1, year: int = 2026) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


PLAN_PICOS = 49_990_000 * 10**6  # 49.99 USD


async def test_periods_renew_over_several_periods_in_batches_and_idempotently(
    fresh: Fresh,
) -> None:
    tenant, _plan, sub = await metered_subscription(fresh)
    await record(fresh, tenant, at(1, 10), input_tokens=3000)  # 2000 over: 2 blocks of 1000
    await record(fresh, tenant, at(2, 10), output_tokens=500)  # within the included 1000
    await record(fresh, tenant, at(3, 31), requests=15)  # 5 requests over at 0.000001
    assert counts(await advance(fresh, at(1, 31))) == (0, 0, 0, 0, 0, 0)

    first = await advance(fresh, at(4, 1), limit=2)
    assert counts(first) == (2, 0, 0, 2, 0, 1)
    assert list(first.subscription_ids) == [sub.id]
    second = await advance(fresh, at(4, 1))
    assert counts(second) == (1, 0, 0, 1, 0, 0)
    # Running again at the same moment changes nothing.
    assert counts(await advance(fresh, at(4, 1))) == (0, 0, 0, 0, 0, 0)

    row = await subscription_row(fresh, sub.id)
    assert (row.current_period_start, row.current_period_end) == (at(4, 1), at(5, 1))
    assert row.status.value == "active" and row.version == sub.version + 3
    assert await invoices_of(fresh, sub.id) == [
        (at(1, 1), at(2, 1), PLAN_PICOS + 2 * 2_500 * 10**6),
        (at(2, 1), at(3, 1), PLAN_PICOS),
        (at(3, 1), at(4, 1), PLAN_PICOS + 5 * 10**6),
    ]
    async with fresh.database.reading() as session:
        periods = (
            await session.execute(
                select(
                    SubscriptionPeriodRecord.period_start, SubscriptionPeriodRecord.outcome
                ).order_by(SubscriptionPeriodRecord.period_start)
            )
        ).all()
        rolled = (
            await session.execute(
                select(SubscriptionUsageRecord.period_start, SubscriptionUsageRecord.quantity)
                .where(SubscriptionUsageRecord.feature_key == "tokens")
                .order_by(SubscriptionUsageRecord.period_start)
            )
        ).all()
    assert periods == [(at(1), "renewed"), (at(2), "renewed"), (at(3), "renewed")]
    assert rolled == [(at(1), 3000), (at(2), 500), (at(3), 0)]


async def test_cancel_at_period_end_ends_the_subscription_instead_of_renewing(
    fresh: Fresh,
) -> None:
    tenant, _plan, sub = await metered_subscription(fresh)
    await fresh.stub.ChangeSubscription(
        pb.ChangeSubscriptionRequest(tenant_id=tenant, cancel_at_period_end=True),
        metadata=fresh.owner(tenant),
    )
    assert counts(await advance(fresh, at(3, 15))) == (0, 1, 0, 1, 0, 0)
    row = await subscription_row(fresh, sub.id)
    assert row.status.value == "canceled" and row.cancel_at == at(2, 1)
    assert (row.current_period_start, row.current_period_end) == (at(1, 1), at(2, 1))
    assert [start for start, _, _ in await invoices_of(fresh, sub.id)] == [at(1, 1)]
    refused = await failure(
        fresh.stub.GetSubscription(
            pb.GetSubscriptionRequest(tenant_id=tenant), metadata=fresh.owner(tenant)
        )
    )
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    assert counts(await advance(fresh, at(6, 1))) == (0, 0, 0, 0, 0, 0)
    # The tenant may subscribe again.
    plan = await new_plan(fresh)
    await subscribe(fresh, tenant, plan, start_time=stamp(at(6, 1)))


async def test_a_trial_ends_into_active_and_a_period_wholly_in_trial_is_not_billed(
    fresh: Fresh,
) -> None:
    short = await new_plan(fresh, trial_days=14)
    long = await new_plan(fresh, trial_days=45)
    short_tenant, long_tenant = await new_tenant(fresh), await new_tenant(fresh)
    short_sub = await subscribe(fresh, short_tenant, short)
    long_sub = await subscribe(fresh, long_tenant, long)
    assert short_sub.status == long_sub.status == pb.SUBSCRIPTION_STATUS_TRIALING

    assert counts(await advance(fresh, at(1, 20))) == (0, 0, 1, 0, 0, 0)
    assert (await subscription_row(fresh, short_sub.id)).status.value == "active"
    assert (await subscription_row(fresh, long_sub.id)).status.value == "trialing"

    # Feb 1: both periods close; the short trial's period is billed, the long one's is not.
    assert counts(await advance(fresh, at(2, 1))) == (2, 0, 0, 1, 0, 0)
    assert [s for s, _, _ in await invoices_of(fresh, short_sub.id)] == [at(1, 1)]
    assert await invoices_of(fresh, long_sub.id) == []
    long_row = await subscription_row(fresh, long_sub.id)
    assert long_row.status.value == "trialing" and long_row.current_period_start == at(2, 1)

    # Feb 15 (day 45): the long trial ends; its second period is billed at its end.
    assert counts(await advance(fresh, at(2, 15))) == (0, 0, 1, 0, 0, 0)
    assert (await subscription_row(fresh, long_sub.id)).status.value == "active"
    assert counts(await advance(fresh, at(3, 1))) == (2, 0, 0, 2, 0, 0)
    assert [s for s, _, _ in await invoices_of(fresh, long_sub.id)] == [at(2, 1)]


async def test_two_concurrent_advancers_close_each_period_once(
    fresh: Fresh, issuer: TestIssuer
) -> None:
    subs = [(await metered_subscription(fresh))[2] for _ in range(4)]
    async with (
        running_service("tenancy", fresh.url, authenticator=issuer.authenticator()) as other,
        open_channel(other.target) as channel,
    ):
        replica = Billing(
            BillingServiceStub(channel),
            TenancyServiceStub(channel),
            issuer,
            issuer.operator(),
            issuer.internal(),
        )
        reports = []
        for month in (2, 3, 4):
            reports += await asyncio.gather(
                advance(fresh, at(month)),
                advance(replica, at(month)),
                advance(fresh, at(month)),
                advance(replica, at(month)),
            )
    assert sum(r.periods_renewed for r in reports) == 3 * len(subs)
    assert sum(r.invoices_drafted for r in reports) == 3 * len(subs)
    for sub in subs:
        row = await subscription_row(fresh, sub.id)
        assert row.current_period_start == at(4) and row.version == sub.version + 3
        assert [s for s, _, _ in await invoices_of(fresh, sub.id)] == [at(1), at(2), at(3)]


async def test_plan_limit_counters_of_long_ended_periods_are_pruned(fresh: Fresh) -> None:
    tenant, _plan, sub = await metered_subscription(fresh)
    tenant_id = uuid.UUID(tenant)
    january, february = int(at(1).timestamp()), int(at(2).timestamp())
    kind = f"plan:{uuid.uuid4()}"
    async with fresh.database.transaction() as session:
        session.add_all(
            [
                LimitCounterRecord(tenant_id=tenant_id, kind=kind, window_start=january, used=5),
                LimitCounterRecord(tenant_id=tenant_id, kind=kind, window_start=february, used=1),
                LimitCounterRecord(tenant_id=tenant_id, kind="rpm", window_start=january, used=2),
            ]
        )

    async def kept() -> set[tuple[str, int]]:
        async with fresh.database.reading() as session:
            rows = await session.execute(
                select(LimitCounterRecord.kind, LimitCounterRecord.window_start).where(
                    LimitCounterRecord.tenant_id == tenant_id
                )
            )
            return set(rows.all())

    # January's period closes Feb 1 and is kept for the 7 days of retention.
    assert counts(await advance(fresh, at(2, 1))) == (1, 0, 0, 1, 0, 0)
    assert counts(await advance(fresh, at(2, 8))) == (0, 0, 0, 0, 0, 0)
    assert len(await kept()) == 3
    assert counts(await advance(fresh, at(2, 8) + timedelta(seconds=1))) == (0, 0, 0, 0, 1, 0)
    assert await kept() == {(kind, february), ("rpm", january)}
    assert counts(await advance(fresh, at(2, 20))) == (0, 0, 0, 0, 0, 0)
    assert sub.id


async def test_a_subscription_that_cannot_close_does_not_block_the_others(
    fresh: Fresh,
) -> None:
    huge = await new_plan(
        fresh,
        features=[
            pb.PlanFeature(
                feature_key="requests",
                metric=pb.USAGE_METRIC_REQUESTS,
                is_metered=True,
                overage_unit_price="1000000",
            )
        ],
    )
    stuck_tenant = await new_tenant(fresh)
    stuck = await subscribe(fresh, stuck_tenant, huge)
    # Ten requests at a million USD each: an invoice past what a BIGINT of pico-USD holds.
    await record(fresh, stuck_tenant, at(1, 5), requests=10)
    _tenant, _plan, fine = await metered_subscription(fresh)
    report = await advance(fresh, at(2))
    assert counts(report) == (1, 0, 0, 1, 0, 1)
    assert list(report.subscription_ids) == [fine.id]
    assert list(report.failed_subscription_ids) == [stuck.id]
    row = await subscription_row(fresh, stuck.id)
    assert row.current_period_end == at(2) and row.version == stuck.version
    assert await invoices_of(fresh, stuck.id) == []
    async with fresh.database.reading() as session:
        closed = await session.scalar(
            select(func.count())
            .select_from(SubscriptionPeriodRecord)
            .where(SubscriptionPeriodRecord.subscription_id == uuid.UUID(stuck.id))
        )
    assert closed == 0


async def test_advance_is_for_operators_and_services_and_checks_its_input(fresh: Fresh) -> None:
    tenant, _plan, _sub = await metered_subscription(fresh)
    refused = await failure(
        fresh.stub.AdvanceSubscriptionPeriods(
            pb.AdvanceSubscriptionPeriodsRequest(), metadata=fresh.owner(tenant)
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    # A service advances to the present only; choosing the time is an operator's test tool.
    refused = await failure(
        fresh.stub.AdvanceSubscriptionPeriods(
            pb.AdvanceSubscriptionPeriodsRequest(now=stamp(at(5))), metadata=fresh.internal
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    error = rich_error(
        await failure(
            fresh.stub.AdvanceSubscriptionPeriods(
                pb.AdvanceSubscriptionPeriodsRequest(limit=-1), metadata=fresh.operator
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "limit" in error.field_violations
    # Without a chosen time the service's clock decides: the subscription, started on
    # 2026-01-01, is brought up to the present period.
    report = await fresh.stub.AdvanceSubscriptionPeriods(
        pb.AdvanceSubscriptionPeriodsRequest(limit=1000), metadata=fresh.internal
    )
    row = await subscription_row(fresh, _sub.id)
    assert report.remaining == 0 and report.periods_renewed == report.invoices_drafted
    assert row.current_period_start <= datetime.now(UTC) < row.current_period_end


async def test_update_plan_changes_future_invoices_only_and_deactivation_keeps_subscribers(
    fresh: Fresh,
) -> None:
    tenant, plan, sub = await metered_subscription(fresh)
    await advance(fresh, at(2))
    updated = (
        await fresh.stub.UpdatePlan(
            pb.UpdatePlanRequest(
                plan=pb.Plan(id=plan.id, price="59.99", name="Team+", is_active=False),
                update_mask=FieldMask(paths=["price", "name", "is_active"]),
            ),
            metadata=fresh.operator,
        )
    ).plan
    assert (updated.price, updated.name, updated.is_active) == ("59.990000", "Team+", False)
    assert [f.feature_key for f in updated.features] == ["requests", "storage", "tokens"]
    # No new subscription to a deactivated plan...
    refused = rich_error(await failure(subscribe(fresh, await new_tenant(fresh), plan)))
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.reason == "PLAN_INACTIVE"
    # ...while the existing one renews, at the new price; January's invoice is untouched.
    assert counts(await advance(fresh, at(3))) == (1, 0, 0, 1, 0, 0)
    assert [total for _, _, total in await invoices_of(fresh, sub.id)] == [
        PLAN_PICOS,
        59_990_000 * 10**6,
    ]
    assert tenant


async def test_bad_plan_updates_are_refused_and_change_nothing(fresh: Fresh) -> None:
    tenant = await new_tenant(fresh, members=3)
    plan = await new_plan(fresh, seat_included=10)
    await subscribe(fresh, tenant, plan, seat_count=5)

    async def update(paths: list[str], metadata=None, **fields: object):
        return await fresh.stub.UpdatePlan(
            pb.UpdatePlanRequest(
                plan=pb.Plan(id=plan.id, **fields), update_mask=FieldMask(paths=paths)
            ),
            metadata=metadata or fresh.operator,
        )

    for paths, fields, field in [
        (["price"], {"price": "abc"}, "plan.price"),
        (["price"], {"price": "-1"}, "plan.price"),
        (["name"], {"name": " "}, "plan.name"),
        (["trial_days"], {"trial_days": 400}, "plan.trial_days"),
        (["seat_included"], {"seat_included": 0}, "plan.seat_included"),
        (["code"], {"code": "other"}, "update_mask"),
        ([], {"name": "x"}, "update_mask"),
    ]:
        error = rich_error(await failure(update(paths, **fields)))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, (paths, fields)
        assert field in error.field_violations, (paths, fields)
    error = rich_error(await failure(update(["seat_included"], seat_included=4)))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "PLAN_SEAT_LIMIT"
    refused = await failure(update(["name"], name="Mine", metadata=fresh.owner(tenant)))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    missing = await failure(
        fresh.stub.UpdatePlan(
            pb.UpdatePlanRequest(
                plan=pb.Plan(id=str(uuid.uuid4()), name="x"), update_mask=FieldMask(paths=["name"])
            ),
            metadata=fresh.operator,
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    unchanged = (
        await fresh.stub.GetPlan(pb.GetPlanRequest(id=plan.id), metadata=fresh.operator)
    ).plan
    assert unchanged == plan
    # Unsetting the masked seat limit removes it.
    assert not (await update(["seat_included"])).plan.HasField("seat_included")


async def test_list_plans_pages_and_filters_active(fresh: Fresh) -> None:
    codes = [f"p{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    plans = [await new_plan(fresh, code=code) for code in codes]
    await fresh.stub.UpdatePlan(
        pb.UpdatePlanRequest(
            plan=pb.Plan(id=plans[2].id, is_active=False),
            update_mask=FieldMask(paths=["is_active"]),
        ),
        metadata=fresh.operator,
    )

    async def all_pages(include_inactive: bool) -> list[str]:
        seen: list[str] = []
        token = ""
        while True:
            page = await fresh.stub.ListPlans(
                pb.ListPlansRequest(
                    include_inactive=include_inactive, page_size=2, page_token=token
                ),
                metadata=fresh.owner(str(uuid.uuid4())),
            )
            assert len(page.plans) <= 2
            seen += [p.code for p in page.plans]
            token = page.next_page_token
            if not token:
                return seen

    assert await all_pages(True) == sorted(codes)
    assert await all_pages(False) == sorted(c for c in codes if c != codes[2])
    first = await fresh.stub.ListPlans(pb.ListPlansRequest(page_size=2), metadata=fresh.operator)
    error = rich_error(
        await failure(
            fresh.stub.ListPlans(
                pb.ListPlansRequest(
                    include_inactive=True, page_size=2, page_token=first.next_page_token
                ),
                metadata=fresh.operator,
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in error.field_violations
