"""ModelCatalogService over a real in-process gRPC server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from quarterdeck.tenancy.v1 import pricing_pb2 as pb
from quarterdeck.tenancy.v1.pricing_pb2_grpc import ModelCatalogServiceStub
from services.tenancy.pricing.seed_catalogue import MODELS, model_id
from shared.grpc_client import open_channel
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@dataclass
class Catalog:
    stub: ModelCatalogServiceStub
    operator: list[tuple[str, str]]
    member: list[tuple[str, str]]


@pytest.fixture(scope="module")
async def catalog(backend: str, databases: Databases, issuer: TestIssuer) -> AsyncIterator[Catalog]:
    url = await databases.url(backend, "tenancy")
    async with (
        running_service("tenancy", url, authenticator=issuer.authenticator()) as running,
        open_channel(running.target) as channel,
    ):
        yield Catalog(
            ModelCatalogServiceStub(channel),
            issuer.operator(),
            issuer.member(str(uuid.uuid4()), "owner"),
        )


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def future(days: float) -> datetime:
    """A whole second well in the future, so prices set there are never in the past."""
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3650)
    return base + timedelta(days=days)


async def new_model(catalog: Catalog, **fields: object) -> pb.Model:
    fields.setdefault("provider", "testprov")
    fields.setdefault("model_name", f"m-{uuid.uuid4().hex[:10]}")
    fields.setdefault("display_name", "Test model")
    fields.setdefault("context_window", 200000)
    fields.setdefault("is_active", True)
    response = await catalog.stub.CreateModel(
        pb.CreateModelRequest(model=pb.Model(**fields)), metadata=catalog.operator
    )
    return response.model


async def set_price(catalog: Catalog, model: pb.Model, at: datetime, **rates: object):
    rates.setdefault("tier", pb.PRICE_TIER_STANDARD)
    return await catalog.stub.SetModelPrice(
        pb.SetModelPriceRequest(
            price=pb.ModelPrice(model_id=model.id, effective_from=stamp(at), **rates)
        ),
        metadata=catalog.operator,
    )


# ----- catalogue -----


async def test_seeded_catalogue_is_there_after_migrate(catalog: Catalog) -> None:
    seen: list[pb.Model] = []
    token = ""
    while True:
        page = await catalog.stub.ListModels(
            pb.ListModelsRequest(page_size=3, page_token=token, provider="anthropic"),
            metadata=catalog.member,
        )
        seen += page.models
        token = page.next_page_token
        if not token:
            break
    expected = {m["model_name"] for m in MODELS if m["provider"] == "anthropic"}
    assert {m.model_name for m in seen} == expected
    sonnet = next(m for m in seen if m.model_name == "claude-3-5-sonnet-20241022")
    assert sonnet.id == str(model_id("anthropic", "claude-3-5-sonnet-20241022"))
    assert sonnet.context_window == 200000 and sonnet.supports_cache
    prices = await catalog.stub.ListModelPrices(
        pb.ListModelPricesRequest(model_id=sonnet.id, tier=pb.PRICE_TIER_STANDARD),
        metadata=catalog.member,
    )
    (price,) = prices.prices
    assert (price.input_per_mtok, price.output_per_mtok) == ("3.000000", "15.000000")
    assert (price.cache_write_per_mtok, price.cache_read_per_mtok) == ("3.750000", "0.300000")
    assert not price.HasField("effective_to")


async def test_operator_creates_updates_members_only_read(catalog: Catalog) -> None:
    model = await new_model(catalog, capabilities=["chat"], size_class=pb.MODEL_SIZE_CLASS_SMALL)
    assert model.version == 1 and model.billing_unit == "tokens" and model.is_active
    got = await catalog.stub.GetModel(pb.GetModelRequest(id=model.id), metadata=catalog.member)
    assert got.model == model

    refused = await failure(
        catalog.stub.CreateModel(
            pb.CreateModelRequest(model=pb.Model(provider="x", model_name="y", display_name="z")),
            metadata=catalog.member,
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rich_error(refused).reason == "OPERATOR_ONLY"
    refused = await failure(
        catalog.stub.UpdateModel(
            pb.UpdateModelRequest(
                model=pb.Model(id=model.id, version=1, display_name="Hacked"),
                update_mask=FieldMask(paths=["display_name"]),
            ),
            metadata=catalog.member,
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    refused = await failure(
        catalog.stub.SetModelPrice(
            pb.SetModelPriceRequest(price=pb.ModelPrice(model_id=model.id, input_per_mtok="1")),
            metadata=catalog.member,
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    unauthenticated = await failure(catalog.stub.GetModel(pb.GetModelRequest(id=model.id)))
    assert unauthenticated.code() == grpc.StatusCode.UNAUTHENTICATED

    updated = (
        await catalog.stub.UpdateModel(
            pb.UpdateModelRequest(
                model=pb.Model(id=model.id, version=1, display_name="Renamed", is_active=False),
                update_mask=FieldMask(paths=["display_name", "is_active"]),
            ),
            metadata=catalog.operator,
        )
    ).model
    assert (updated.display_name, updated.is_active, updated.version) == ("Renamed", False, 2)
    stale = await failure(
        catalog.stub.UpdateModel(
            pb.UpdateModelRequest(
                model=pb.Model(id=model.id, version=1, display_name="Again"),
                update_mask=FieldMask(paths=["display_name"]),
            ),
            metadata=catalog.operator,
        )
    )
    assert stale.code() == grpc.StatusCode.ABORTED
    inactive = await catalog.stub.ListModels(
        pb.ListModelsRequest(provider="testprov", is_active=False), metadata=catalog.member
    )
    assert model.id in {m.id for m in inactive.models}
    active = await catalog.stub.ListModels(
        pb.ListModelsRequest(provider="testprov", is_active=True), metadata=catalog.member
    )
    assert model.id not in {m.id for m in active.models}


async def test_bad_models_are_refused_naming_the_field(catalog: Catalog) -> None:
    model = await new_model(catalog)
    taken = await failure(new_model(catalog, model_name=model.model_name))
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS
    assert rich_error(taken).reason == "MODEL_NAME_TAKEN"
    bad = await failure(
        new_model(catalog, provider="Bad Provider", context_window=-1, billing_unit="cows")
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_error(bad).field_violations) == {
        "model.provider",
        "model.context_window",
        "model.billing_unit",
    }
    missing = await failure(
        catalog.stub.GetModel(pb.GetModelRequest(id=str(uuid.uuid4())), metadata=catalog.member)
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


# ----- prices -----


async def test_a_price_change_keeps_the_old_price_for_old_usage(catalog: Catalog) -> None:
    model = await new_model(catalog)
    t1, t2 = future(1), future(2)
    first = await set_price(catalog, model, t1, input_per_mtok="3", output_per_mtok="15")
    assert not first.HasField("previous")
    second = await set_price(catalog, model, t2, input_per_mtok="2.5", output_per_mtok="10")
    assert second.previous.id == first.price.id
    assert second.previous.effective_to == stamp(t2)
    assert not second.price.HasField("effective_to")

    async def cost_at(when: datetime) -> pb.PriceUsageResponse:
        return await catalog.stub.PriceUsage(
            pb.PriceUsageRequest(
                model_id=model.id,
                occurred_at=stamp(when),
                input_tokens=1_000_000,
                output_tokens=1_000_000,
            ),
            metadata=catalog.member,
        )

    old = await cost_at(t2 - timedelta(microseconds=1))
    assert old.price.id == first.price.id and old.cost.total.amount == "18.000000000000"
    new = await cost_at(t2)
    assert new.price.id == second.price.id and new.cost.total.amount == "12.500000000000"
    assert new.cost.total.currency_code == "USD"

    history = await catalog.stub.ListModelPrices(
        pb.ListModelPricesRequest(model_id=model.id, page_size=1), metadata=catalog.member
    )
    assert [p.id for p in history.prices] == [second.price.id]
    rest = await catalog.stub.ListModelPrices(
        pb.ListModelPricesRequest(model_id=model.id, page_token=history.next_page_token),
        metadata=catalog.member,
    )
    assert [p.id for p in rest.prices] == [first.price.id]
    assert rest.prices[0].effective_to == stamp(t2)

    # History is never rewritten: not before the current price, not in the past.
    before = await failure(set_price(catalog, model, t2 - timedelta(hours=1), input_per_mtok="1"))
    assert before.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(before).reason == "PRICE_NOT_AFTER_CURRENT"
    past = await failure(
        set_price(catalog, model, datetime.now(UTC) - timedelta(days=1), input_per_mtok="1")
    )
    assert past.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "price.effective_from" in rich_error(past).field_violations
    unchanged = await catalog.stub.ListModelPrices(
        pb.ListModelPricesRequest(model_id=model.id), metadata=catalog.member
    )
    assert [p.id for p in unchanged.prices] == [second.price.id, first.price.id]


async def priced_at(
    stub: ModelCatalogServiceStub, member: list[tuple[str, str]], model: pb.Model, when: datetime
) -> pb.PriceUsageResponse:
    return await stub.PriceUsage(
        pb.PriceUsageRequest(
            model_ref=pb.ModelRef(provider=model.provider, model_name=model.model_name),
            occurred_at=stamp(when),
            input_tokens=1_000_000,
        ),
        metadata=member,
    )


async def test_a_price_set_on_this_replica_is_used_at_once_though_prices_are_cached(
    catalog: Catalog,
) -> None:
    model = await new_model(catalog)
    t1 = future(1)
    first = await set_price(catalog, model, t1, input_per_mtok="3")
    later = t1 + timedelta(hours=2)
    cached = await priced_at(catalog.stub, catalog.member, model, later)
    assert cached.price.id == first.price.id and cached.cost.total.amount == "3.000000000000"
    # A new price from before that moment on: the cached history must not answer any more.
    second = await set_price(catalog, model, t1 + timedelta(hours=1), input_per_mtok="2")
    fresh = await priced_at(catalog.stub, catalog.member, model, later)
    assert fresh.price.id == second.price.id and fresh.cost.total.amount == "2.000000000000"
    before = await priced_at(catalog.stub, catalog.member, model, t1)
    assert before.price.id == first.price.id
    assert before.price.effective_to == second.price.effective_from


async def test_another_replica_keeps_its_cached_prices_until_they_expire(
    catalog: Catalog, backend: str, databases: Databases, issuer: TestIssuer
) -> None:
    """Replicas share prices by TTL alone: one with a long TTL answers from its cache after
    another replica changed a price, until a change of its own clears the cache."""
    url = await databases.url(backend, "tenancy")
    async with (
        running_service(
            "tenancy", url, authenticator=issuer.authenticator(), price_cache_seconds=3600
        ) as replica,
        open_channel(replica.target) as channel,
    ):
        other = ModelCatalogServiceStub(channel)
        model = await new_model(catalog)
        t1 = future(1)
        first = await set_price(catalog, model, t1, input_per_mtok="3")
        later = t1 + timedelta(hours=2)
        assert (await priced_at(other, catalog.member, model, later)).price.id == first.price.id
        second = await set_price(catalog, model, t1 + timedelta(hours=1), input_per_mtok="2")
        stale = await priced_at(other, catalog.member, model, later)
        assert stale.price.id == first.price.id  # within the TTL: the cached history
        # Any catalogue change through that replica clears its cache.
        await other.CreateModel(
            pb.CreateModelRequest(
                model=pb.Model(
                    provider="testprov",
                    model_name=f"m-{uuid.uuid4().hex[:10]}",
                    display_name="Another",
                )
            ),
            metadata=catalog.operator,
        )
        fresh = await priced_at(other, catalog.member, model, later)
        assert fresh.price.id == second.price.id


async def test_a_model_created_elsewhere_is_found_at_once(
    catalog: Catalog, backend: str, databases: Databases, issuer: TestIssuer
) -> None:
    """Unknown models are not cached: NOT_FOUND on one replica does not outlive the model's
    creation on another."""
    url = await databases.url(backend, "tenancy")
    async with (
        running_service(
            "tenancy", url, authenticator=issuer.authenticator(), price_cache_seconds=3600
        ) as replica,
        open_channel(replica.target) as channel,
    ):
        other = ModelCatalogServiceStub(channel)
        name = f"m-{uuid.uuid4().hex[:10]}"
        ghost = pb.Model(provider="testprov", model_name=name)
        missing = await failure(priced_at(other, catalog.member, ghost, future(2)))
        assert missing.code() == grpc.StatusCode.NOT_FOUND
        model = await new_model(catalog, model_name=name)
        no_price = await failure(priced_at(other, catalog.member, model, future(2)))
        assert no_price.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert rich_error(no_price).reason == "NO_PRICE"


async def test_bad_prices_are_refused_naming_the_field(catalog: Catalog) -> None:
    model = await new_model(catalog)
    bad = await failure(
        set_price(catalog, model, future(1), input_per_mtok="-1", output_per_mtok="0.0000001")
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_error(bad).field_violations) == {
        "price.input_per_mtok",
        "price.output_per_mtok",
    }
    missing = await failure(
        catalog.stub.SetModelPrice(
            pb.SetModelPriceRequest(price=pb.ModelPrice(model_id=str(uuid.uuid4()))),
            metadata=catalog.operator,
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    empty = await catalog.stub.ListModelPrices(
        pb.ListModelPricesRequest(model_id=model.id), metadata=catalog.member
    )
    assert list(empty.prices) == []


# ----- usage -----


async def test_price_usage_breakdown_is_exact(catalog: Catalog) -> None:
    model = await new_model(catalog)
    at = future(1)
    await set_price(
        catalog,
        model,
        at,
        input_per_mtok="3",
        output_per_mtok="15",
        cache_write_per_mtok="3.75",
        cache_read_per_mtok="0.3",
        web_search_per_1k="10",
        neurons_per_1k="0.011",
        code_exec_per_second="0.00005",
    )
    response = await catalog.stub.PriceUsage(
        pb.PriceUsageRequest(
            model_ref=pb.ModelRef(provider="testprov", model_name=model.model_name),
            occurred_at=stamp(at + timedelta(minutes=1)),
            token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED,
            input_tokens=1234,
            output_tokens=567,
            cache_creation_tokens=89,
            cache_read_tokens=10_000,
            web_search_requests=3,
            code_exec_seconds=7,
            neurons=333,
        ),
        metadata=catalog.member,
    )
    cost = response.cost
    assert response.model_id == model.id and response.tier == pb.PRICE_TIER_STANDARD
    assert response.uncached_input_tokens == 1234
    assert cost.input.amount == "0.003702000000"  # 1234 * 3 / 1e6
    assert cost.output.amount == "0.008505000000"  # 567 * 15 / 1e6
    assert cost.cache_write.amount == "0.000333750000"  # 89 * 3.75 / 1e6
    assert cost.cache_read.amount == "0.003000000000"  # 10000 * 0.3 / 1e6
    assert cost.web_search.amount == "0.030000000000"  # 3 * 10 / 1000
    assert cost.code_exec.amount == "0.000350000000"  # 7 * 0.00005
    assert cost.neurons.amount == "0.003663000000"  # 333 * 0.011 / 1000
    assert cost.total.amount == "0.049553750000"


async def test_cached_tokens_are_never_counted_twice(catalog: Catalog) -> None:
    """OpenAI reports prompt_tokens=10000 including 8000 cached: only 2000 pay the input rate.
    Pricing input_tokens as given would charge 10000 * 2.5 + 8000 * 1.25 (0.035 USD)."""
    model = await new_model(catalog)
    at = future(1)
    await set_price(catalog, model, at, input_per_mtok="2.5", cache_read_per_mtok="1.25")
    base = {"model_id": model.id, "occurred_at": stamp(at), "cache_read_tokens": 8000}
    inclusive = await catalog.stub.PriceUsage(
        pb.PriceUsageRequest(
            token_convention=pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED, input_tokens=10_000, **base
        ),
        metadata=catalog.member,
    )
    assert inclusive.uncached_input_tokens == 2000
    assert inclusive.cost.input.amount == "0.005000000000"
    assert inclusive.cost.cache_read.amount == "0.010000000000"
    assert inclusive.cost.total.amount == "0.015000000000"
    exclusive = await catalog.stub.PriceUsage(
        pb.PriceUsageRequest(
            token_convention=pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED, input_tokens=2000, **base
        ),
        metadata=catalog.member,
    )
    assert exclusive.cost == inclusive.cost
    unsaid = await failure(
        catalog.stub.PriceUsage(
            pb.PriceUsageRequest(input_tokens=10_000, **base), metadata=catalog.member
        )
    )
    assert unsaid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "token_convention" in rich_error(unsaid).field_violations
    too_few = await failure(
        catalog.stub.PriceUsage(
            pb.PriceUsageRequest(
                token_convention=pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED, input_tokens=10, **base
            ),
            metadata=catalog.member,
        )
    )
    assert too_few.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input_tokens" in rich_error(too_few).field_violations


async def test_batch_and_long_context_use_their_own_tier(catalog: Catalog) -> None:
    sonnet4 = str(model_id("anthropic", "claude-sonnet-4-20250514"))
    totals = {}
    for batch, long_context in [(False, False), (True, False), (False, True), (True, True)]:
        response = await catalog.stub.PriceUsage(
            pb.PriceUsageRequest(
                model_id=sonnet4,
                input_tokens=1_000_000,
                output_tokens=1_000_000,
                batch=batch,
                long_context=long_context,
            ),
            metadata=catalog.member,
        )
        totals[response.tier] = response.cost.total.amount
    assert totals == {
        pb.PRICE_TIER_STANDARD: "18.000000000000",
        pb.PRICE_TIER_BATCH: "9.000000000000",
        pb.PRICE_TIER_LONG_CONTEXT: "28.500000000000",
        pb.PRICE_TIER_BATCH_LONG_CONTEXT: "14.250000000000",
    }


async def test_bad_usage_is_refused_and_never_internal(catalog: Catalog) -> None:
    model = await new_model(catalog)
    at = future(1)
    await set_price(catalog, model, at, input_per_mtok="1")
    before = await catalog.stub.ListModelPrices(
        pb.ListModelPricesRequest(model_id=model.id), metadata=catalog.member
    )

    unknown = await failure(
        catalog.stub.PriceUsage(
            pb.PriceUsageRequest(model_id=str(uuid.uuid4()), input_tokens=1),
            metadata=catalog.member,
        )
    )
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert rich_error(unknown).reason == "MODEL_NOT_FOUND"
    unknown_ref = await failure(
        catalog.stub.PriceUsage(
            pb.PriceUsageRequest(model_ref=pb.ModelRef(provider="nope", model_name="nope")),
            metadata=catalog.member,
        )
    )
    assert unknown_ref.code() == grpc.StatusCode.NOT_FOUND

    negative = await failure(
        catalog.stub.PriceUsage(
            pb.PriceUsageRequest(
                model_id=model.id, occurred_at=stamp(at), output_tokens=-5, web_search_requests=-1
            ),
            metadata=catalog.member,
        )
    )
    assert negative.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_error(negative).field_violations) == {"output_tokens", "web_search_requests"}

    for when, batch in [(at - timedelta(seconds=1), False), (at, True)]:
        no_price = await failure(
            catalog.stub.PriceUsage(
                pb.PriceUsageRequest(model_id=model.id, occurred_at=stamp(when), batch=batch),
                metadata=catalog.member,
            )
        )
        assert no_price.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert rich_error(no_price).reason == "NO_PRICE"

    malformed = await failure(
        catalog.stub.PriceUsage(
            pb.PriceUsageRequest(model_id="not-a-uuid"), metadata=catalog.member
        )
    )
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT
    no_model = await failure(
        catalog.stub.PriceUsage(pb.PriceUsageRequest(input_tokens=1), metadata=catalog.member)
    )
    assert no_model.code() == grpc.StatusCode.INVALID_ARGUMENT
    unauthenticated = await failure(
        catalog.stub.PriceUsage(pb.PriceUsageRequest(model_id=model.id, occurred_at=stamp(at)))
    )
    assert unauthenticated.code() == grpc.StatusCode.UNAUTHENTICATED

    after = await catalog.stub.ListModelPrices(
        pb.ListModelPricesRequest(model_id=model.id), metadata=catalog.member
    )
    assert after == before
