"""``/v1/models`` and ``/v1/usage/price``: REST over ModelCatalogService, one gRPC call per request.

Anyone authenticated reads the catalogue, its prices, and prices usage; only platform operators
add models, change them and set prices (the service decides, the gateway passes the caller on).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from services.gateway.catalogue.schemas import (
    CreateModelBody,
    Model,
    ModelList,
    ModelPriceList,
    PriceChange,
    PriceTierName,
    PriceUsageBody,
    SetModelPriceBody,
    UpdateModelBody,
    UsagePrice,
    price_tier_value,
)
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken

router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERROR_RESPONSES)

usage = APIRouter(prefix="/v1/usage", tags=["models"], responses=ERROR_RESPONSES)


@router.get("")
async def list_models(
    clients: Clients,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    provider: Annotated[str, Query(description="Only models of this provider.")] = "",
    active: Annotated[
        bool | None,
        Query(description="true: only active models; false: only inactive ones; unset: all."),
    ] = None,
) -> ModelList:
    request = pb.ListModelsRequest(page_size=page_size, page_token=page_token, provider=provider)
    if active is not None:
        request.is_active = active
    reply = await clients.catalogue.ListModels(request)
    return ModelList.from_proto(reply)


@router.post("", status_code=201)
async def create_model(body: CreateModelBody, clients: Clients, response: Response) -> Model:
    """Add a model to the catalogue (platform operators)."""
    reply = await clients.catalogue.CreateModel(pb.CreateModelRequest(model=body.to_proto()))
    response.headers["Location"] = f"{router.prefix}/{reply.model.id}"
    return Model.from_proto(reply.model)


@router.get("/{model_id}")
async def get_model(model_id: str, clients: Clients) -> Model:
    reply = await clients.catalogue.GetModel(pb.GetModelRequest(id=model_id))
    return Model.from_proto(reply.model)


@router.patch("/{model_id}")
async def update_model(model_id: str, body: UpdateModelBody, clients: Clients) -> Model:
    """Change the fields present in the body (platform operators); send the version you read."""
    reply = await clients.catalogue.UpdateModel(
        pb.UpdateModelRequest(model=body.to_proto(model_id), update_mask=body.update_mask())
    )
    return Model.from_proto(reply.model)


@router.get("/{model_id}/prices")
async def list_model_prices(
    model_id: str,
    clients: Clients,
    tier: Annotated[PriceTierName | None, Query(description="Only this tier.")] = None,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> ModelPriceList:
    """The model's price history, newest first."""
    reply = await clients.catalogue.ListModelPrices(
        pb.ListModelPricesRequest(
            model_id=model_id,
            tier=price_tier_value(tier),
            page_size=page_size,
            page_token=page_token,
        )
    )
    return ModelPriceList.from_proto(reply)


@router.post("/{model_id}/prices", status_code=201)
async def set_model_price(model_id: str, body: SetModelPriceBody, clients: Clients) -> PriceChange:
    """Start a new price of the model and tier (platform operators). The current price ends where
    the new one starts; earlier prices never change."""
    reply = await clients.catalogue.SetModelPrice(
        pb.SetModelPriceRequest(price=body.to_proto(model_id))
    )
    return PriceChange.from_proto(reply)


@usage.post("/price")
async def price_usage(body: PriceUsageBody, clients: Clients) -> UsagePrice:
    """The exact cost of one usage, with the price in effect when it occurred. Stores nothing."""
    reply = await clients.catalogue.PriceUsage(body.to_proto())
    return UsagePrice.from_proto(reply)
