"""``/v1/tenants``: REST over TenancyService, one gRPC call per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.routing import ERROR_RESPONSES, Clients, IdempotencyKey, PageSize, PageToken
from services.gateway.tenants.schemas import (
    CheckTenantStatusBody,
    CreateTenantBody,
    SuspendTenantBody,
    Tenant,
    TenantList,
    TenantSettings,
    TenantStatusCheck,
    TenantStatusChecks,
    TenantStatusName,
    UpdateTenantBody,
    UpdateTenantSettingsBody,
    status_value,
)

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], responses=ERROR_RESPONSES)

UpdateMask = Annotated[
    str | None,
    Query(
        description="Comma-separated fields to change; by default, the fields present in the body."
    ),
]


def mask_of(explicit: str | None, body: UpdateTenantBody | UpdateTenantSettingsBody) -> FieldMask:
    paths = [path.strip() for path in (explicit or "").split(",") if path.strip()]
    return FieldMask(paths=paths or body.mask_paths())


@router.post("", status_code=201)
async def create_tenant(
    body: CreateTenantBody,
    clients: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Tenant:
    reply = await clients.tenancy.CreateTenant(
        pb.CreateTenantRequest(tenant=body.to_proto(), request_id=idempotency_key or "")
    )
    response.headers["Location"] = f"{router.prefix}/{reply.tenant.id}"
    return Tenant.from_proto(reply.tenant)


@router.get("")
async def list_tenants(
    clients: Clients,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    status: Annotated[
        TenantStatusName | None, Query(description="Only tenants in this state.")
    ] = None,
) -> TenantList:
    reply = await clients.tenancy.ListTenants(
        pb.ListTenantsRequest(
            page_size=page_size, page_token=page_token, status=status_value(status)
        )
    )
    return TenantList.from_proto(reply)


@router.get("/{tenant_id}")
async def get_tenant(tenant_id: str, clients: Clients) -> Tenant:
    reply = await clients.tenancy.GetTenant(pb.GetTenantRequest(id=tenant_id))
    return Tenant.from_proto(reply.tenant)


@router.patch("/{tenant_id}")
async def update_tenant(
    tenant_id: str, body: UpdateTenantBody, clients: Clients, update_mask: UpdateMask = None
) -> Tenant:
    reply = await clients.tenancy.UpdateTenant(
        pb.UpdateTenantRequest(
            tenant=body.to_proto(tenant_id), update_mask=mask_of(update_mask, body)
        )
    )
    return Tenant.from_proto(reply.tenant)


@router.get("/{tenant_id}/settings")
async def get_tenant_settings(tenant_id: str, clients: Clients) -> TenantSettings:
    reply = await clients.tenancy.GetTenantSettings(
        pb.GetTenantSettingsRequest(tenant_id=tenant_id)
    )
    return TenantSettings.from_proto(reply.settings)


@router.patch("/{tenant_id}/settings")
async def update_tenant_settings(
    tenant_id: str,
    body: UpdateTenantSettingsBody,
    clients: Clients,
    update_mask: UpdateMask = None,
) -> TenantSettings:
    reply = await clients.tenancy.UpdateTenantSettings(
        pb.UpdateTenantSettingsRequest(
            settings=body.to_proto(tenant_id), update_mask=mask_of(update_mask, body)
        )
    )
    return TenantSettings.from_proto(reply.settings)


@router.post("/status:batchCheck")
async def check_tenant_statuses(
    body: CheckTenantStatusBody, clients: Clients
) -> TenantStatusChecks:
    """Each tenant's status and whether it may act, in one call (platform operators and
    Quarterdeck services); an unknown id is answered with found false."""
    reply = await clients.tenancy.CheckTenantStatus(
        pb.CheckTenantStatusRequest(tenant_ids=body.tenant_ids)
    )
    return TenantStatusChecks.from_proto(reply)


@router.get("/{tenant_id}/status")
async def get_tenant_status(tenant_id: str, clients: Clients) -> TenantStatusCheck:
    """The tenant's status and whether it may act (its own members, operators and services);
    an unknown tenant is answered with found false."""
    reply = await clients.tenancy.CheckTenantStatus(
        pb.CheckTenantStatusRequest(tenant_ids=[tenant_id])
    )
    return TenantStatusCheck.from_proto(reply.checks[0])


@router.post("/{tenant_id}:suspend")
async def suspend_tenant(
    tenant_id: str, clients: Clients, body: SuspendTenantBody | None = None
) -> Tenant:
    """Stop an active tenant from acting (platform operators); other services see it within
    their status cache's few seconds."""
    reply = await clients.tenancy.SuspendTenant(
        pb.SuspendTenantRequest(id=tenant_id, reason=body.reason if body else "")
    )
    return Tenant.from_proto(reply.tenant)


@router.post("/{tenant_id}:reactivate")
async def reactivate_tenant(tenant_id: str, clients: Clients) -> Tenant:
    """Let a suspended tenant act again (platform operators); a deleted one stays deleted."""
    reply = await clients.tenancy.ReactivateTenant(pb.ReactivateTenantRequest(id=tenant_id))
    return Tenant.from_proto(reply.tenant)


@router.delete("/{tenant_id}")
async def delete_tenant(tenant_id: str, clients: Clients) -> Tenant:
    """Mark the tenant deleted, which is final; its records are kept for audit (platform
    operators). Answers the tenant as deleted."""
    reply = await clients.tenancy.DeleteTenant(pb.DeleteTenantRequest(id=tenant_id))
    return Tenant.from_proto(reply.tenant)
