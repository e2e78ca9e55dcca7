"""The tenancy service as the shared bootstrap runs it: one servicer per proto service (area),
each over its transport-free handlers, all built from one :class:`TenancyContext`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from quarterdeck.tenancy.v1 import (
    billing_pb2,
    billing_pb2_grpc,
    limits_pb2,
    limits_pb2_grpc,
    model_configs_pb2,
    model_configs_pb2_grpc,
    pricing_pb2,
    pricing_pb2_grpc,
    stripe_pb2,
    stripe_pb2_grpc,
    tenancy_pb2,
    tenancy_pb2_grpc,
)
from services.tenancy.billing.background import billing_periods_job
from services.tenancy.billing.handlers import BillingHandlers
from services.tenancy.billing.servicer import BillingServicer
from services.tenancy.config import TenancySettings
from services.tenancy.context import TenancyContext, TenancyState
from services.tenancy.limits.handlers import LimitHandlers
from services.tenancy.limits.servicer import LimitsServicer
from services.tenancy.model_configs.handlers import ModelConfigHandlers
from services.tenancy.model_configs.servicer import TenantModelConfigServicer
from services.tenancy.model_configs.tooling_grants import ToolingGrants
from services.tenancy.models import IdempotencyKey
from services.tenancy.pricing.handlers import PricingHandlers
from services.tenancy.pricing.servicer import ModelCatalogServicer
from services.tenancy.schema import metadata
from services.tenancy.stripe.background import stripe_dispatch_job
from services.tenancy.stripe.handlers import StripeInbox
from services.tenancy.stripe.servicer import StripeInboxServicer
from services.tenancy.tenants.background import membership_revocations_job
from services.tenancy.tenants.handlers.memberships import MembershipHandlers
from services.tenancy.tenants.handlers.tenants import TenantHandlers
from services.tenancy.tenants.servicer import TenancyServicer
from shared.activity_link import ActivityLink
from shared.background import PeriodicJob
from shared.server import ServiceContext, ServiceSpec


def _full_name(descriptor: Any, service: str) -> str:
    return str(descriptor.services_by_name[service].full_name)


def register(server: grpc.aio.Server, context: TenancyContext) -> Sequence[str]:
    tenancy_pb2_grpc.add_TenancyServiceServicer_to_server(
        TenancyServicer(TenantHandlers(context), MembershipHandlers(context)), server
    )
    pricing_pb2_grpc.add_ModelCatalogServiceServicer_to_server(
        ModelCatalogServicer(PricingHandlers(context)), server
    )
    model_configs_pb2_grpc.add_TenantModelConfigServiceServicer_to_server(
        TenantModelConfigServicer(ModelConfigHandlers(context)), server
    )
    limits = LimitHandlers(context)
    # The Redis backend's pool is released when the service stops.
    context.resources.on_close(limits.close)
    limits_pb2_grpc.add_LimitsServiceServicer_to_server(LimitsServicer(limits), server)
    billing_pb2_grpc.add_BillingServiceServicer_to_server(
        BillingServicer(BillingHandlers(context)), server
    )
    stripe_pb2_grpc.add_StripeInboxServiceServicer_to_server(
        StripeInboxServicer(StripeInbox(context)), server
    )
    return [
        _full_name(tenancy_pb2.DESCRIPTOR, "TenancyService"),
        _full_name(pricing_pb2.DESCRIPTOR, "ModelCatalogService"),
        _full_name(model_configs_pb2.DESCRIPTOR, "TenantModelConfigService"),
        _full_name(limits_pb2.DESCRIPTOR, "LimitsService"),
        _full_name(billing_pb2.DESCRIPTOR, "BillingService"),
        _full_name(stripe_pb2.DESCRIPTOR, "StripeInboxService"),
    ]


async def prepare(context: ServiceContext[TenancySettings, Any]) -> TenancyState:
    """Tenancy's own long-lived objects: the link its handlers append activity events with."""
    link = ActivityLink(context.settings.telemetry_target, "tenancy", context.identity)
    context.resources.on_close(link.close)
    tooling = ToolingGrants(context.settings.tooling_target, context.identity)
    context.resources.on_close(tooling.close)
    return TenancyState(activity=link, tooling=tooling)


def background_jobs(context: TenancyContext) -> list[PeriodicJob]:
    """Tenancy's periodic jobs, for ``ServiceSpec.background`` (which starts those whose interval
    is not 0): billing periods advance, due Stripe events are applied, membership revocations past
    every token they could refuse are deleted."""
    return [
        billing_periods_job(context),
        stripe_dispatch_job(context),
        membership_revocations_job(context),
    ]


SPEC = ServiceSpec(
    name="tenancy",
    settings_type=TenancySettings,
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
    prepare=prepare,
    # Periods advance and due Stripe events are applied without an operator's call.
    background=background_jobs,
    # LimitsService's Reserve and Settle each run as one such statement (limits/postgres.py); a
    # statement lasts a round trip, so a few connections serve many callers.
    unflushed_connections=4,
)
