"""Model catalogue and price use cases, free of any transport: protobuf in, protobuf out.

Anyone authenticated reads the catalogue and prices usage; only platform operators change it.
A price is never rewritten: SetModelPrice closes the current price of the model and tier at the
new price's ``effective_from`` (which may not lie in the past) and adds the new one, so ranges
of one model and tier never overlap and usage is priced with the price in effect when it
occurred. The money arithmetic lives in :mod:`shared.pricing_math`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from services.tenancy.context import TenancyContext
from services.tenancy.models import Base
from services.tenancy.pricing.cache import CachedModel, CachedPrice, ModelPriceCache
from services.tenancy.pricing.convert import (
    RATE_FIELDS,
    SIZE_FROM_PROTO,
    TIER_FROM_PROTO,
    TIER_TO_PROTO,
    model_to_proto,
    money,
    price_to_proto,
)
from services.tenancy.pricing.models import ModelPriceRecord, ModelRecord, PriceTier, SizeClass
from services.tenancy.tenants.validation import raise_if_any
from shared.auth import require_operator, require_principal
from shared.db import unique_violation
from shared.db_types import utcnow
from shared.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from shared.field_mask import paths_to_update
from shared.ids import parse_id
from shared.json_values import has_non_finite
from shared.pagination import fetch_page
from shared.pricing_math import (
    Rates,
    Usage,
    parse_usd_micros,
    price_usage,
    usage_violations,
)
from shared.timestamps import from_timestamp

PROVIDER_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,48}[a-z0-9])?$")
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9@/._:-]{1,100}$")
BILLING_UNITS = frozenset({"tokens", "neurons"})
MAX_DISPLAY_NAME = 200
MAX_CAPABILITIES = 50
MAX_CAPABILITY = 64
#: How far in the past a new price's effective_from may lie, for clock skew only.
PAST_TOLERANCE = timedelta(seconds=60)

FLAG_FIELDS = (
    "supports_cache",
    "supports_tools",
    "supports_vision",
    "supports_web_search",
    "supports_fast_mode",
    "is_active",
)
UPDATABLE_MODEL_FIELDS = frozenset(
    {
        "display_name",
        "billing_unit",
        "context_window",
        "context_default_tokens",
        "capabilities",
        "size_class",
        "metadata",
        *FLAG_FIELDS,
    }
)


def rates_of(row: ModelPriceRecord) -> Rates:
    return Rates(
        input_per_mtok=row.input_per_mtok_micros,
        output_per_mtok=row.output_per_mtok_micros,
        cache_write_per_mtok=row.cache_write_per_mtok_micros,
        cache_read_per_mtok=row.cache_read_per_mtok_micros,
        web_search_per_1k=row.web_search_per_1k_micros,
        neurons_per_1k=row.neurons_per_1k_micros,
        code_exec_per_second=row.code_exec_per_second_micros,
    )


def _model_violations(model: pb.Model, fields: set[str]) -> list[FieldViolation]:
    problems: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        problems.append(FieldViolation(f"model.{field}", description))

    if "provider" in fields and not PROVIDER_PATTERN.match(model.provider):
        bad("provider", "must be 1 to 50 lowercase letters, digits, '.', '_' or '-'")
    if "model_name" in fields and not MODEL_NAME_PATTERN.match(model.model_name):
        bad("model_name", "must be 1 to 100 letters, digits or '@/._:-'")
    if "display_name" in fields:
        if not model.display_name.strip():
            bad("display_name", "is required")
        elif len(model.display_name) > MAX_DISPLAY_NAME:
            bad("display_name", f"must be at most {MAX_DISPLAY_NAME} characters")
    if "billing_unit" in fields and model.billing_unit not in BILLING_UNITS:
        bad("billing_unit", "must be 'tokens' or 'neurons'")
    for field in ("context_window", "context_default_tokens"):
        if field in fields and getattr(model, field) < 0:
            bad(field, "must not be negative")
    if "size_class" in fields and model.size_class not in SIZE_FROM_PROTO:
        bad("size_class", "must be SMALL, MEDIUM or LARGE")
    if "capabilities" in fields:
        if len(model.capabilities) > MAX_CAPABILITIES:
            bad("capabilities", f"must have at most {MAX_CAPABILITIES} entries")
        elif any(not c.strip() or len(c) > MAX_CAPABILITY for c in model.capabilities):
            bad("capabilities", f"entries must be 1 to {MAX_CAPABILITY} characters")
    if "metadata" in fields and has_non_finite(model.metadata):
        bad("metadata", "numbers must be finite (no NaN or Infinity)")
    return problems


class PricingHandlers:
    def __init__(self, context: TenancyContext) -> None:
        self._db = context.database
        self._pages = context.page_tokens
        self._prices = ModelPriceCache(context.settings.price_cache_seconds)

    @asynccontextmanager
    async def _changing_catalogue(self) -> AsyncIterator[None]:
        """Around a transaction that changes models or prices: once it is over (committed, or
        not), PriceUsage in this process reads the catalogue afresh."""
        try:
            yield
        finally:
            self._prices.clear()

    # ----- catalogue -----

    async def _model(
        self, session: AsyncSession, model_id: uuid.UUID, *, lock: bool = False
    ) -> ModelRecord:
        statement = select(ModelRecord).where(ModelRecord.id == model_id)
        if lock:
            statement = statement.with_for_update()
        row = await session.scalar(statement)
        if row is None:
            raise NotFound(f"model {model_id} not found", reason="MODEL_NOT_FOUND")
        return row

    async def _flush_unique(self, session: AsyncSession, model: pb.Model) -> None:
        try:
            await session.flush()
        except IntegrityError as exc:
            if unique_violation(exc, Base.metadata) == ("provider", "model_name"):
                raise AlreadyExists(
                    f"provider '{model.provider}' already has a model '{model.model_name}'",
                    reason="MODEL_NAME_TAKEN",
                    metadata={"field": "model.model_name"},
                ) from None
            raise

    async def list_models(self, request: pb.ListModelsRequest) -> pb.ListModelsResponse:
        require_principal()
        statement = select(ModelRecord)
        filters: dict[str, object] = {}
        if request.provider:
            statement = statement.where(ModelRecord.provider == request.provider)
            filters["provider"] = request.provider
        if request.HasField("is_active"):
            statement = statement.where(ModelRecord.is_active == request.is_active)
            filters["is_active"] = request.is_active
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(ModelRecord.provider, ModelRecord.model_name),
                codec=self._pages,
                query="ModelCatalogService.ListModels",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListModelsResponse(
            models=[model_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def get_model(self, request: pb.GetModelRequest) -> pb.GetModelResponse:
        require_principal()
        model_id = parse_id(request.id, "id")
        async with self._db.reading() as session:
            return pb.GetModelResponse(model=model_to_proto(await self._model(session, model_id)))

    async def create_model(self, request: pb.CreateModelRequest) -> pb.CreateModelResponse:
        require_operator()
        model = request.model
        checked = {"provider", "model_name", "display_name", "context_window"}
        checked |= {"context_default_tokens", "capabilities", "metadata"}
        if model.billing_unit:
            checked.add("billing_unit")
        if model.size_class != pb.MODEL_SIZE_CLASS_UNSPECIFIED:
            checked.add("size_class")
        raise_if_any(_model_violations(model, checked))
        async with self._changing_catalogue(), self._db.transaction() as session:
            row = ModelRecord(
                provider=model.provider,
                model_name=model.model_name,
                display_name=model.display_name.strip(),
                billing_unit=model.billing_unit or "tokens",
                context_window=model.context_window,
                context_default_tokens=model.context_default_tokens,
                capabilities=list(model.capabilities),
                size_class=SIZE_FROM_PROTO.get(model.size_class, SizeClass.MEDIUM),
                metadata_json=MessageToDict(model.metadata),
                **{flag: getattr(model, flag) for flag in FLAG_FIELDS},
            )
            session.add(row)
            await self._flush_unique(session, model)
            return pb.CreateModelResponse(model=model_to_proto(row))

    async def update_model(self, request: pb.UpdateModelRequest) -> pb.UpdateModelResponse:
        require_operator()
        model = request.model
        model_id = parse_id(model.id, "model.id")
        paths = paths_to_update(request.update_mask, model, UPDATABLE_MODEL_FIELDS)
        raise_if_any(_model_violations(model, set(paths)))
        if model.version <= 0:
            raise InvalidArgument.field("model.version", "is required: send the version you read")
        try:
            async with self._changing_catalogue(), self._db.transaction() as session:
                row = await self._model(session, model_id)
                if model.version != row.version:
                    raise Aborted(
                        f"the model changed since version {model.version} (now {row.version}); "
                        "read it again",
                        reason="VERSION_MISMATCH",
                        metadata={"current_version": str(row.version)},
                    )
                for path in paths:
                    if path == "size_class":
                        row.size_class = SIZE_FROM_PROTO[model.size_class]
                    elif path == "metadata":
                        row.metadata_json = MessageToDict(model.metadata)
                    elif path == "capabilities":
                        row.capabilities = list(model.capabilities)
                    elif path == "display_name":
                        row.display_name = model.display_name.strip()
                    else:
                        setattr(row, path, getattr(model, path))
                await session.flush()
                return pb.UpdateModelResponse(model=model_to_proto(row))
        except StaleDataError:
            raise Aborted(
                "the model changed concurrently; read it again", reason="VERSION_MISMATCH"
            ) from None

    # ----- prices -----

    async def set_model_price(self, request: pb.SetModelPriceRequest) -> pb.SetModelPriceResponse:
        require_operator()
        price = request.price
        model_id = parse_id(price.model_id, "price.model_id")
        violations: list[FieldViolation] = []
        rates: dict[str, int] = {}
        for name, column in RATE_FIELDS.items():
            try:
                rates[column] = parse_usd_micros(getattr(price, name), f"price.{name}")
            except InvalidArgument as exc:
                violations += exc.violations
        if price.tier != pb.PRICE_TIER_UNSPECIFIED and price.tier not in TIER_FROM_PROTO:
            violations.append(FieldViolation("price.tier", "is not a known tier"))
        if len(price.source) > 64:
            violations.append(FieldViolation("price.source", "must be at most 64 characters"))
        now = utcnow()
        effective_from = now
        if price.HasField("effective_from"):
            effective_from = from_timestamp(price.effective_from)
            if effective_from < now - PAST_TOLERANCE:
                violations.append(
                    FieldViolation(
                        "price.effective_from",
                        "must not lie in the past: prices already in effect are history",
                    )
                )
        raise_if_any(violations)
        tier = TIER_FROM_PROTO.get(price.tier, PriceTier.STANDARD)
        try:
            async with self._changing_catalogue(), self._db.transaction() as session:
                # The model's row lock serialises price changes of one model.
                await self._model(session, model_id, lock=True)
                latest = await session.scalar(
                    select(ModelPriceRecord)
                    .where(ModelPriceRecord.model_id == model_id, ModelPriceRecord.tier == tier)
                    .order_by(ModelPriceRecord.effective_from.desc())
                    .limit(1)
                )
                if latest is not None:
                    if effective_from <= latest.effective_from:
                        raise FailedPrecondition(
                            "effective_from must be later than the start of the current price "
                            f"({latest.effective_from.isoformat()})",
                            reason="PRICE_NOT_AFTER_CURRENT",
                            metadata={"field": "price.effective_from"},
                        )
                    if latest.effective_to is None or latest.effective_to > effective_from:
                        latest.effective_to = effective_from
                row = ModelPriceRecord(
                    model_id=model_id,
                    tier=tier,
                    source=price.source or "operator",
                    effective_from=effective_from,
                    effective_to=None,
                    **rates,
                )
                session.add(row)
                await session.flush()
                return pb.SetModelPriceResponse(
                    price=price_to_proto(row),
                    previous=price_to_proto(latest) if latest is not None else None,
                )
        except IntegrityError:
            raise Aborted(
                "the model's prices changed concurrently; read them again",
                reason="PRICE_CONFLICT",
            ) from None

    async def list_model_prices(
        self, request: pb.ListModelPricesRequest
    ) -> pb.ListModelPricesResponse:
        require_principal()
        model_id = parse_id(request.model_id, "model_id")
        statement = select(ModelPriceRecord).where(ModelPriceRecord.model_id == model_id)
        filters: dict[str, object] = {"model_id": str(model_id)}
        if request.tier != pb.PRICE_TIER_UNSPECIFIED:
            if request.tier not in TIER_FROM_PROTO:
                raise InvalidArgument.field("tier", "is not a known tier")
            statement = statement.where(ModelPriceRecord.tier == TIER_FROM_PROTO[request.tier])
            filters["tier"] = TIER_FROM_PROTO[request.tier].value
        async with self._db.reading() as session:
            await self._model(session, model_id)
            page = await fetch_page(
                session,
                statement,
                sort_key=(ModelPriceRecord.effective_from, ModelPriceRecord.id),
                codec=self._pages,
                query="ModelCatalogService.ListModelPrices",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return pb.ListModelPricesResponse(
            prices=[price_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    # ----- usage -----

    async def price_usage(self, request: pb.PriceUsageRequest) -> pb.PriceUsageResponse:
        require_principal()
        usage, occurred_at, tier = self._usage_of(request)
        key: tuple[Any, ...]
        if request.WhichOneof("model") == "model_id":
            model_id = parse_id(request.model_id, "model_id")
            key, missing = ("id", model_id), f"model {model_id} not found"
        else:
            provider, name = request.model_ref.provider, request.model_ref.model_name
            key, missing = ("ref", provider, name), f"model '{provider}/{name}' not found"
        model = await self._prices.get(key, lambda: self._load_model(key))
        if model is None:
            raise NotFound(missing, reason="MODEL_NOT_FOUND")
        price = model.price_at(tier, occurred_at)
        if price is None:
            raise FailedPrecondition(
                f"model {model.model_id} has no {tier.value} price in effect at "
                f"{occurred_at.isoformat()}",
                reason="NO_PRICE",
                metadata={
                    "model_id": str(model.model_id),
                    "tier": tier.value,
                    "occurred_at": occurred_at.isoformat(),
                },
            )
        cost = price_usage(usage, price.rates)
        return pb.PriceUsageResponse(
            model_id=str(model.model_id),
            tier=TIER_TO_PROTO[tier],
            price=price.message,
            uncached_input_tokens=cost.uncached_input_tokens,
            cost=pb.CostBreakdown(
                input=money(cost.input),
                output=money(cost.output),
                cache_write=money(cost.cache_write),
                cache_read=money(cost.cache_read),
                web_search=money(cost.web_search),
                code_exec=money(cost.code_exec),
                neurons=money(cost.neurons),
                total=money(cost.total),
            ),
        )

    async def _load_model(self, key: tuple[Any, ...]) -> CachedModel | None:
        """The model under ``key`` (("id", uuid) or ("ref", provider, name)) with every price
        it has, or None when there is no such model."""
        if key[0] == "id":
            wanted = ModelRecord.id == key[1]
        else:
            wanted = (ModelRecord.provider == key[1]) & (ModelRecord.model_name == key[2])
        async with self._db.reading() as session:
            model_id = await session.scalar(select(ModelRecord.id).where(wanted))
            if model_id is None:
                return None
            rows = await session.scalars(
                select(ModelPriceRecord)
                .where(ModelPriceRecord.model_id == model_id)
                .order_by(ModelPriceRecord.effective_from.desc())
            )
            prices = tuple(
                CachedPrice(
                    tier=row.tier,
                    effective_from=row.effective_from,
                    effective_to=row.effective_to,
                    rates=rates_of(row),
                    message=price_to_proto(row),
                )
                for row in rows
            )
        return CachedModel(model_id, prices)

    @staticmethod
    def _usage_of(request: pb.PriceUsageRequest) -> tuple[Usage, datetime, PriceTier]:
        """The request's usage, checked in full before any database work."""
        convention = request.token_convention
        usage = Usage(
            input_tokens=request.input_tokens,
            output_tokens=request.output_tokens,
            cache_creation_tokens=request.cache_creation_tokens,
            cache_read_tokens=request.cache_read_tokens,
            web_search_requests=request.web_search_requests,
            code_exec_seconds=request.code_exec_seconds,
            neurons=request.neurons,
            includes_cached=convention == pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED,
        )
        violations = usage_violations(usage)
        if convention not in (
            pb.TOKEN_CONVENTION_UNSPECIFIED,
            pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
            pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED,
        ):
            violations.append(FieldViolation("token_convention", "is not a known convention"))
        elif convention == pb.TOKEN_CONVENTION_UNSPECIFIED and (
            request.cache_creation_tokens or request.cache_read_tokens
        ):
            violations.append(
                FieldViolation(
                    "token_convention",
                    "is required when cache tokens are given: say whether input_tokens "
                    "includes them",
                )
            )
        which = request.WhichOneof("model")
        if which is None:
            violations.append(FieldViolation("model_id", "is required (or model_ref)"))
        elif which == "model_ref":
            for field in ("provider", "model_name"):
                if not getattr(request.model_ref, field):
                    violations.append(FieldViolation(f"model_ref.{field}", "is required"))
        raise_if_any(violations)
        occurred_at = (
            from_timestamp(request.occurred_at) if request.HasField("occurred_at") else utcnow()
        )
        if request.batch and request.long_context:
            tier = PriceTier.BATCH_LONG_CONTEXT
        elif request.batch:
            tier = PriceTier.BATCH
        elif request.long_context:
            tier = PriceTier.LONG_CONTEXT
        else:
            tier = PriceTier.STANDARD
        return usage, occurred_at, tier
