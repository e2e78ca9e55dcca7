"""The tenancy service as the shared bootstrap runs it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from quarterdeck.tenancy.v1 import tenancy_pb2, tenancy_pb2_grpc
from services.tenancy import (
    background,
    billing_service,
    limits_service,
    model_configs_service,
    pricing_service,
    stripe_service,
)
from services.tenancy.config import TenancySettings
from services.tenancy.context import TenancyContext, TenancyState
from services.tenancy.memberships import MembershipHandlers
from services.tenancy.models import IdempotencyKey
from services.tenancy.schema import metadata
from services.tenancy.servicer import TenancyServicer
from services.tenancy.tenants import TenantHandlers
from shared.activity_link import ActivityLink
from shared.server import ServiceContext, ServiceSpec


def register(server: grpc.aio.Server, context: TenancyContext) -> Sequence[str]:
    tenancy_pb2_grpc.add_TenancyServiceServicer_to_server(
        TenancyServicer(TenantHandlers(context), MembershipHandlers(context)), server
    )
    names = [
        tenancy_pb2.DESCRIPTOR.services_by_name["TenancyService"].full_name,
        *pricing_service.register(server, context),
        *model_configs_service.register(server, context),
        *limits_service.register(server, context),
        *billing_service.register(server, context),
        *stripe_service.register(server, context),
    ]
    return names


async def prepare(context: ServiceContext[TenancySettings, Any]) -> TenancyState:
    """Tenancy's own long-lived objects: the link its handlers append activity events with."""
    link = ActivityLink(context.settings.telemetry_target, "tenancy", context.identity)
    context.resources.on_close(link.close)
    return TenancyState(activity=link)


SPEC = ServiceSpec(
    name="tenancy",
    settings_type=TenancySettings,
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    idempotency_model=IdempotencyKey,
    register=register,
    prepare=prepare,
    # Periods advance and due Stripe events are applied without an operator's call.
    background=background.background_jobs,
)
