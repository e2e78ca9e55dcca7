"""A run's cost, on SQLite and PostgreSQL: every model call of a run is priced by tenancy's
PriceUsage (the model's price in effect), and that exact amount is stored on the call's usage
row and carried by the run (GetRun, ListRuns), its agent_tasks row, the answer message and the
conversation's totals, and telemetry's copy of the usage; tenancy counts the tokens as the usage
of the user who asked. A model with no price costs nothing there, and the usage row says it was
not priced."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from quarterdeck.conversation.v1 import conversations_pb2 as cpb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from quarterdeck.conversation.v1 import runs_pb2 as rpb
from quarterdeck.telemetry.v1 import usage_pb2 as upb
from quarterdeck.tenancy.v1 import billing_pb2 as bpb
from quarterdeck.tenancy.v1 import model_configs_pb2 as mcpb
from quarterdeck.tenancy.v1 import pricing_pb2 as ppb
from quarterdeck.tooling.v1 import agents_pb2 as apb
from services.conversation.runs.models import AgentTaskRecord, RunUsageRecord
from services.conversation.test_provider import TEST_PROVIDER
from shared.money import format_pico, parse_pico
from tests.support.conversation import new_conversation, say
from tests.support.conversation_turn import (
    GOOD_KEY,
    Tenant,
    TurnStack,
    messages_of,
    new_tenant,
    turn_stack,
)
from tests.support.stack import Databases
from tests.support.waiting import eventually

#: USD per million tokens: 3 for the prompt, 15 for the completion, 0.3 for cached prompt.
INPUT, OUTPUT, CACHE_READ = "3", "15", "0.3"


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[TurnStack]:
    async with turn_stack(databases, backend) as built:
        yield built


async def priced_tenant(stack: TurnStack) -> tuple[Tenant, str]:
    """A tenant whose model configuration names a model with a price; the model's id."""
    tenant = await new_tenant(stack)
    model = (
        await stack.catalog.CreateModel(
            ppb.CreateModelRequest(
                model=ppb.Model(
                    provider=TEST_PROVIDER,
                    model_name=f"echo-priced-{uuid.uuid4().hex[:6]}",
                    display_name="Echo, priced (test provider)",
                    context_window=8192,
                    supports_tools=True,
                    is_active=True,
                )
            ),
            metadata=stack.internal,
        )
    ).model
    await stack.catalog.SetModelPrice(
        ppb.SetModelPriceRequest(
            price=ppb.ModelPrice(
                model_id=model.id,
                tier=ppb.PRICE_TIER_STANDARD,
                input_per_mtok=INPUT,
                output_per_mtok=OUTPUT,
                cache_read_per_mtok=CACHE_READ,
            )
        ),
        metadata=stack.internal,
    )
    await stack.model_configs.SetTenantModelConfig(
        mcpb.SetTenantModelConfigRequest(
            config=mcpb.TenantModelConfig(
                tenant_id=tenant.id, llm_model_id=model.id, api_key=GOOD_KEY, version=1
            )
        ),
        metadata=stack.internal,
    )
    return tenant, model.id


def expected_picos(input_tokens: int, output_tokens: int) -> int:
    """The price worked out here, independently of the services: USD/Mtok = pico-USD/token x 1e6."""
    return (
        input_tokens * parse_pico(INPUT, "input") // 10**6
        + output_tokens * parse_pico(OUTPUT, "output") // 10**6
    )


async def finished(stack: TurnStack, tenant: Tenant, run_id: str) -> rpb.Run:
    async def done() -> bool:
        run = await stack.conversation.runs.GetRun(
            rpb.GetRunRequest(run_id=run_id), metadata=tenant.member
        )
        return run.run.status in (rpb.RUN_STATUS_COMPLETED, rpb.RUN_STATUS_FAILED)

    await eventually(done, f"run {run_id} to finish")
    return (
        await stack.conversation.runs.GetRun(
            rpb.GetRunRequest(run_id=run_id), metadata=tenant.member
        )
    ).run


async def stored(stack: TurnStack, run_id: str) -> tuple[list[RunUsageRecord], AgentTaskRecord]:
    async with stack.conversation.ctx.database.reading() as session:
        usage = list(
            (
                await session.scalars(
                    select(RunUsageRecord)
                    .where(RunUsageRecord.run_id == run_id)
                    .order_by(RunUsageRecord.id)
                )
            ).all()
        )
        task = await session.scalar(
            select(AgentTaskRecord).where(AgentTaskRecord.run_id == uuid.UUID(run_id))
        )
    assert task is not None
    return usage, task


async def test_a_runs_cost_is_what_tenancy_priced_and_every_total_carries_it(
    stack: TurnStack,
) -> None:
    tenant, model_id = await priced_tenant(stack)
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    posted = await say(
        stack.conversation, tenant.member, conversation.id, "what do I owe", start_run=True
    )
    assert posted.run.usage.cost_usd == "0.000000000000"
    run = await finished(stack, tenant, posted.run.id)
    assert run.status == rpb.RUN_STATUS_COMPLETED, run.error
    [usage], task = await stored(stack, run.id)
    assert (usage.input_tokens, usage.output_tokens) == (9, 5)
    cost = expected_picos(9, 5)
    assert cost == 102 * 10**6  # 9 x 3 + 5 x 15 micro-USD
    # The amount tenancy's PriceUsage answers for the same usage, to the pico.
    priced = await stack.catalog.PriceUsage(
        ppb.PriceUsageRequest(model_id=model_id, input_tokens=9, output_tokens=5),
        metadata=stack.internal,
    )
    assert priced.cost.total.amount == format_pico(cost)
    assert usage.cost_picos == cost
    assert task.cost_picos == cost and task.tokens_used == 14
    assert run.usage == rpb.RunUsage(
        model_calls=1,
        input_tokens=9,
        output_tokens=5,
        total_tokens=14,
        cost_usd=format_pico(cost),
    )
    listed = await stack.conversation.runs.ListRuns(
        rpb.ListRunsRequest(conversation_id=conversation.id), metadata=tenant.member
    )
    assert [r.usage.cost_usd for r in listed.runs] == [format_pico(cost)]
    answer = (await messages_of(stack, tenant, conversation.id))[-1]
    assert answer.role == mpb.MESSAGE_ROLE_ASSISTANT and answer.cost_usd == format_pico(cost)
    got = await stack.conversation.conversations.GetConversation(
        cpb.GetConversationRequest(conversation_id=conversation.id), metadata=tenant.member
    )
    assert got.conversation.usage.cost_usd == format_pico(cost)
    # Telemetry's copy of the usage carries the same amount, priced by telemetry through the
    # same PriceUsage (not taken from the caller).
    recorded = await stack.usage.ListUsageRecords(
        upb.ListUsageRecordsRequest(tenant_id=tenant.id), metadata=stack.internal
    )
    assert [(r.cost_status, r.computed_cost_usd) for r in recorded.records] == [
        (upb.COST_STATUS_PRICED, format_pico(cost))
    ]

    # The agent's running total holds the call's tokens (tooling's total_tokens_used).
    agent = await stack.tooling.agents.GetAgent(
        apb.GetAgentRequest(tenant_id=tenant.id, agent_id=tenant.agent_id),
        metadata=stack.internal,
    )
    assert agent.agent.totals.tokens_used == 14

    # Tenancy counted the model call as the usage of the user who asked (per-user counters;
    # a record of nothing answers the user's rows).
    user_id = run.created_by_user_id
    counted = await stack.billing.RecordUsage(
        bpb.RecordUsageRequest(tenant_id=tenant.id, user_id=user_id), metadata=stack.internal
    )
    assert (counted.day.user_id, counted.day.input_tokens, counted.day.output_tokens) == (
        user_id,
        9,
        5,
    )

    # A second run, with a tool call: two model calls, each priced; the totals add up.
    second = await say(
        stack.conversation,
        tenant.member,
        conversation.id,
        f'/tool {tenant.tool_name} {{"q": "42"}}',
        start_run=True,
    )
    run2 = await finished(stack, tenant, second.run.id)
    assert run2.status == rpb.RUN_STATUS_COMPLETED, run2.error
    usage2, task2 = await stored(stack, run2.id)
    assert len(usage2) == 2
    costs = [expected_picos(u.input_tokens or 0, u.output_tokens or 0) for u in usage2]
    assert [u.cost_picos for u in usage2] == costs and all(costs)
    assert task2.cost_picos == sum(costs)
    assert run2.usage.model_calls == 2 and run2.usage.cost_usd == format_pico(sum(costs))
    messages = await messages_of(stack, tenant, conversation.id)
    # Each assistant message carries the model call that wrote it.
    assert [m.cost_usd for m in messages if m.role == mpb.MESSAGE_ROLE_ASSISTANT][-2:] == [
        format_pico(c) for c in costs
    ]
    got = await stack.conversation.conversations.GetConversation(
        cpb.GetConversationRequest(conversation_id=conversation.id), metadata=tenant.member
    )
    assert got.conversation.usage.cost_usd == format_pico(cost + sum(costs))


async def test_a_model_without_a_price_costs_nothing_and_the_usage_says_it_was_not_priced(
    stack: TurnStack,
) -> None:
    tenant = await new_tenant(stack)  # the stack's model, which has no price
    conversation = await new_conversation(
        stack.conversation, tenant.member, agent_id=tenant.agent_id
    )
    posted = await say(stack.conversation, tenant.member, conversation.id, "hi", start_run=True)
    run = await finished(stack, tenant, posted.run.id)
    assert run.status == rpb.RUN_STATUS_COMPLETED, run.error
    [usage], task = await stored(stack, run.id)
    assert usage.cost_picos == 0 and task.cost_picos == 0
    assert usage.request_usage_entries is not None
    assert usage.request_usage_entries[0]["cost_usd"] is None
    assert usage.request_usage_entries[0]["cost_error"] == "NO_PRICE"
    assert run.usage.model_calls == 1 and run.usage.cost_usd == "0.000000000000"
