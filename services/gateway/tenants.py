"""``/v1/tenants``: REST over TenancyService, one gRPC call per request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from google.protobuf.field_mask_pb2 import FieldMask

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.clients import CallerClients, clients_of
from services.gateway.schemas import (
    CreateTenantBody,
    ErrorResponse,
    Tenant,
    TenantList,
    TenantSettings,
    TenantStatusName,
    UpdateTenantBody,
    UpdateTenantSettingsBody,
    status_value,
)
from shared.idempotency import MAX_REQUEST_ID_LENGTH

INT32_MAX = 2**31 - 1  # page_size is an int32: larger values cannot be encoded at all

#: Declaring the error ranges documents the real error body and keeps FastAPI from advertising
#: its default 422, which this gateway never sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "The request was refused."},
    "5XX": {"model": ErrorResponse, "description": "A service failed or did not answer."},
}

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], responses=ERROR_RESPONSES)

Clients = Annotated[CallerClients, Depends(clients_of)]
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
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=MAX_REQUEST_ID_LENGTH,
            description="A client-chosen key (a UUID is recommended): a repeat returns the "
            "tenant the first request created.",
        ),
    ] = None,
) -> Tenant:
    reply = await clients.tenancy.CreateTenant(
        pb.CreateTenantRequest(tenant=body.to_proto(), request_id=idempotency_key or ""),
        timeout=clients.timeout,
    )
    tenant = Tenant.from_proto(reply.tenant)
    response.headers["Location"] = f"{router.prefix}/{tenant.id}"
    return tenant


@router.get("")
async def list_tenants(
    clients: Clients,
    page_size: Annotated[
        int,
        Query(
            ge=0,
            le=INT32_MAX,
            description="At most this many tenants; 0 means the default (50), and values above "
            "1000 are capped.",
        ),
    ] = 0,
    page_token: Annotated[str, Query(description="The next_page_token of the previous page.")] = "",
    status: Annotated[
        TenantStatusName | None, Query(description="Only tenants in this state.")
    ] = None,
) -> TenantList:
    reply = await clients.tenancy.ListTenants(
        pb.ListTenantsRequest(
            page_size=page_size, page_token=page_token, status=status_value(status)
        ),
        timeout=clients.timeout,
    )
    return TenantList(
        tenants=[Tenant.from_proto(tenant) for tenant in reply.tenants],
        next_page_token=reply.next_page_token,
    )


@router.get("/{tenant_id}")
async def get_tenant(tenant_id: str, clients: Clients) -> Tenant:
    reply = await clients.tenancy.GetTenant(
        pb.GetTenantRequest(id=tenant_id), timeout=clients.timeout
    )
    return Tenant.from_proto(reply.tenant)


@router.patch("/{tenant_id}")
async def update_tenant(
    tenant_id: str, body: UpdateTenantBody, clients: Clients, update_mask: UpdateMask = None
) -> Tenant:
    reply = await clients.tenancy.UpdateTenant(
        pb.UpdateTenantRequest(
            tenant=body.to_proto(tenant_id), update_mask=mask_of(update_mask, body)
        ),
        timeout=clients.timeout,
    )
    return Tenant.from_proto(reply.tenant)


@router.get("/{tenant_id}/settings")
async def get_tenant_settings(tenant_id: str, clients: Clients) -> TenantSettings:
    reply = await clients.tenancy.GetTenantSettings(
        pb.GetTenantSettingsRequest(tenant_id=tenant_id), timeout=clients.timeout
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
        ),
        timeout=clients.timeout,
    )
    return TenantSettings.from_proto(reply.settings)
