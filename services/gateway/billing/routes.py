"""Billing over BillingService: usage totals, plans, subscriptions, usage roll-ups and invoices.

The service decides who may do what (the gateway passes the caller on): viewers and above read
their tenant's usage, subscription and invoices; owners subscribe and change the subscription;
platform operators manage plans, subscription statuses, roll-ups and invoices. RecordUsage is
for Quarterdeck services only and has no endpoint here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.gateway.billing.schemas import (
    AdvancePeriodsBody,
    AdvancePeriodsReport,
    ChangeSubscriptionBody,
    CreatePlanBody,
    CreateSubscriptionBody,
    Invoice,
    InvoiceStatusBody,
    Plan,
    PlanFeatureBody,
    PlanList,
    Subscription,
    SubscriptionStatusBody,
    UpdatePlanBody,
    UsageRollup,
    UsageTotals,
)
from services.gateway.proto_models import enum_number
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken

router = APIRouter(tags=["billing"], responses=ERROR_RESPONSES)


@router.get("/v1/usage")
async def get_usage(
    clients: Clients,
    start_date: Annotated[
        date | None,
        Query(description="The first day (YYYY-MM-DD), inclusive; 30 days before end_date."),
    ] = None,
    end_date: Annotated[
        date | None,
        Query(description="The day after the last (YYYY-MM-DD); tomorrow (UTC) by default."),
    ] = None,
    tenant_id: Annotated[
        str,
        Query(description="The tenant; your token's tenant by default (every tenant, operators)."),
    ] = "",
) -> UsageTotals:
    """Tokens and requests per tenant over [start_date, end_date), the last 30 days by default;
    the answer says which days it counted."""
    reply = await clients.billing.GetUsage(
        pb.GetUsageRequest(
            tenant_id=tenant_id,
            start_date=start_date.isoformat() if start_date else "",
            end_date=end_date.isoformat() if end_date else "",
        )
    )
    return UsageTotals.from_proto(reply)


@router.get("/v1/plans")
async def list_plans(
    clients: Clients,
    include_inactive: Annotated[bool, Query(description="List inactive plans too.")] = False,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> PlanList:
    """The plans, a page at a time, ordered by code; active ones only unless asked."""
    reply = await clients.billing.ListPlans(
        pb.ListPlansRequest(
            include_inactive=include_inactive, page_size=page_size, page_token=page_token
        )
    )
    return PlanList.from_proto(reply)


@router.post("/v1/plans", status_code=201)
async def create_plan(body: CreatePlanBody, clients: Clients, response: Response) -> Plan:
    """Add a billing plan (platform operators)."""
    reply = await clients.billing.CreatePlan(pb.CreatePlanRequest(plan=body.to_proto()))
    response.headers["Location"] = f"/v1/plans/{reply.plan.id}"
    return Plan.from_proto(reply.plan)


@router.get("/v1/plans/{plan_id}")
async def get_plan(plan_id: str, clients: Clients) -> Plan:
    reply = await clients.billing.GetPlan(pb.GetPlanRequest(id=plan_id))
    return Plan.from_proto(reply.plan)


@router.patch("/v1/plans/{plan_id}")
async def update_plan(plan_id: str, body: UpdatePlanBody, clients: Clients) -> Plan:
    """Change the fields present in the body (platform operators). A new price applies to
    invoices drafted from now on; is_active false stops new subscriptions while existing ones
    continue."""
    reply = await clients.billing.UpdatePlan(body.to_proto(plan_id))
    return Plan.from_proto(reply.plan)


async def _set_plan_feature(plan_id: str, body: PlanFeatureBody, clients: Clients) -> Plan:
    reply = await clients.billing.SetPlanFeature(
        pb.SetPlanFeatureRequest(plan_id=plan_id, feature=body.to_proto())
    )
    return Plan.from_proto(reply.plan)


@router.put("/v1/plans/{plan_id}/features")
async def put_plan_feature(plan_id: str, body: PlanFeatureBody, clients: Clients) -> Plan:
    """Add a feature to the plan, or replace its feature of the same key (platform operators).
    Answers the plan as changed."""
    return await _set_plan_feature(plan_id, body, clients)


@router.post("/v1/plans/{plan_id}/features")
async def post_plan_feature(plan_id: str, body: PlanFeatureBody, clients: Clients) -> Plan:
    """The same as PUT: add or replace one feature of the plan (platform operators)."""
    return await _set_plan_feature(plan_id, body, clients)


@router.get("/v1/tenants/{tenant_id}/subscription")
async def get_subscription(tenant_id: str, clients: Clients) -> Subscription:
    """The tenant's live (not canceled) subscription."""
    reply = await clients.billing.GetSubscription(pb.GetSubscriptionRequest(tenant_id=tenant_id))
    return Subscription.from_proto(reply.subscription)


@router.post("/v1/tenants/{tenant_id}/subscription", status_code=201)
async def create_subscription(
    tenant_id: str, body: CreateSubscriptionBody, clients: Clients
) -> Subscription:
    """Subscribe the tenant to a plan (tenant owners and operators)."""
    reply = await clients.billing.CreateSubscription(body.to_proto(tenant_id))
    return Subscription.from_proto(reply.subscription)


@router.patch("/v1/tenants/{tenant_id}/subscription")
async def change_subscription(
    tenant_id: str, body: ChangeSubscriptionBody, clients: Clients
) -> Subscription:
    """Change the plan, seats or cancel_at_period_end: the fields present in the body (tenant
    owners and operators)."""
    reply = await clients.billing.ChangeSubscription(body.to_proto(tenant_id))
    return Subscription.from_proto(reply.subscription)


async def _live_subscription_id(tenant_id: str, clients: Clients) -> str:
    reply = await clients.billing.GetSubscription(pb.GetSubscriptionRequest(tenant_id=tenant_id))
    return str(reply.subscription.id)


@router.post("/v1/tenants/{tenant_id}/subscription/status")
async def set_subscription_status(
    tenant_id: str, body: SubscriptionStatusBody, clients: Clients
) -> Subscription:
    """Move the tenant's live subscription to another status (platform operators)."""
    subscription_id = await _live_subscription_id(tenant_id, clients)
    reply = await clients.billing.SetSubscriptionStatus(
        pb.SetSubscriptionStatusRequest(
            subscription_id=subscription_id, status=enum_number(pb.SubscriptionStatus, body.status)
        )
    )
    return Subscription.from_proto(reply.subscription)


@router.post("/v1/tenants/{tenant_id}/subscription/usage-rollup")
async def roll_up_usage(tenant_id: str, clients: Clients) -> UsageRollup:
    """Sum the usage of the live subscription's current period into one row per metered
    feature; running it again gives the same rows (platform operators)."""
    subscription_id = await _live_subscription_id(tenant_id, clients)
    reply = await clients.billing.RollUpUsage(
        pb.RollUpUsageRequest(subscription_id=subscription_id)
    )
    return UsageRollup.from_proto(reply)


@router.post("/v1/tenants/{tenant_id}/invoices", status_code=201)
async def generate_invoice(tenant_id: str, clients: Clients, response: Response) -> Invoice:
    """Draft the invoice of the live subscription's current period (platform operators)."""
    subscription_id = await _live_subscription_id(tenant_id, clients)
    reply = await clients.billing.GenerateInvoice(
        pb.GenerateInvoiceRequest(subscription_id=subscription_id)
    )
    response.headers["Location"] = f"/v1/invoices/{reply.invoice.id}"
    return Invoice.from_proto(reply.invoice)


@router.get("/v1/invoices/{invoice_id}")
async def get_invoice(invoice_id: str, clients: Clients) -> Invoice:
    """One invoice with its line items (viewers of its tenant and above)."""
    reply = await clients.billing.GetInvoice(pb.GetInvoiceRequest(id=invoice_id))
    return Invoice.from_proto(reply.invoice)


@router.post("/v1/invoices/{invoice_id}/status")
async def set_invoice_status(invoice_id: str, body: InvoiceStatusBody, clients: Clients) -> Invoice:
    """Move the invoice from draft to open to paid, or from draft or open to void (platform
    operators); any other move is refused (400, FAILED_PRECONDITION)."""
    reply = await clients.billing.SetInvoiceStatus(
        pb.SetInvoiceStatusRequest(id=invoice_id, status=enum_number(pb.InvoiceStatus, body.status))
    )
    return Invoice.from_proto(reply.invoice)


@router.post("/v1/billing/periods:advance")
async def advance_periods(body: AdvancePeriodsBody, clients: Clients) -> AdvancePeriodsReport:
    """Close the subscription periods and trials that have ended: roll usage up, draft the
    period's invoice, renew or cancel at period end, and prune old plan-limit counters
    (platform operators and services; only operators may pass now). Idempotent; call again
    while remaining is above 0."""
    reply = await clients.billing.AdvanceSubscriptionPeriods(body.to_proto())
    return AdvancePeriodsReport.from_proto(reply)
