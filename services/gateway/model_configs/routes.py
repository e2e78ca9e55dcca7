"""``/v1/tenants/{tenant_id}/model-config`` and ``/v1/onboarding``: REST over
TenantModelConfigService, one gRPC call per request.

The provider key is write-only: owners send it, no response carries it, only its hint.
RevealProviderKey, for internal callers only, is deliberately not exposed.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from quarterdeck.tenancy.v1 import model_configs_pb2 as pb
from services.gateway.model_configs.schemas import (
    ModelConfig,
    OnboardedTenant,
    OnboardTenantBody,
    SetModelConfigBody,
)
from services.gateway.routing import ERROR_RESPONSES, Clients, IdempotencyKey

router = APIRouter(prefix="/v1/tenants", tags=["model configuration"], responses=ERROR_RESPONSES)

onboarding = APIRouter(prefix="/v1/onboarding", tags=["onboarding"], responses=ERROR_RESPONSES)


@router.get("/{tenant_id}/model-config")
async def get_model_config(tenant_id: str, clients: Clients) -> ModelConfig:
    """The tenant's configuration (its members), with the provider key's hint only."""
    reply = await clients.model_configs.GetTenantModelConfig(
        pb.GetTenantModelConfigRequest(tenant_id=tenant_id)
    )
    return ModelConfig.from_proto(reply.config)


async def _set_model_config(
    tenant_id: str, body: SetModelConfigBody, clients: Clients
) -> ModelConfig:
    reply = await clients.model_configs.SetTenantModelConfig(
        pb.SetTenantModelConfigRequest(
            config=body.to_proto(tenant_id), update_mask=body.update_mask()
        )
    )
    return ModelConfig.from_proto(reply.config)


@router.put("/{tenant_id}/model-config")
async def put_model_config(
    tenant_id: str, body: SetModelConfigBody, clients: Clients
) -> ModelConfig:
    """Create the configuration (version 0, with llm_model_id and api_key) or set the fields
    present in the body. Only owners may set api_key; admins change the model and the limits."""
    return await _set_model_config(tenant_id, body, clients)


@router.patch("/{tenant_id}/model-config")
async def patch_model_config(
    tenant_id: str, body: SetModelConfigBody, clients: Clients
) -> ModelConfig:
    """Set the fields present in the body, as PUT does."""
    return await _set_model_config(tenant_id, body, clients)


@onboarding.post("", status_code=201)
async def onboard_tenant(
    body: OnboardTenantBody,
    clients: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OnboardedTenant:
    """Create a tenant, its settings, its optional owner, its model configuration and its grants
    in one transaction (platform operators). A repeat with the same Idempotency-Key returns what
    the first request created."""
    reply = await clients.model_configs.OnboardTenant(body.to_proto(idempotency_key or ""))
    response.headers["Location"] = f"/v1/tenants/{reply.tenant.id}"
    return OnboardedTenant.from_proto(reply)
