"""The agent's turn (DESIGN flow 4): what a worker does with a leased run.

Load the conversation up to the user message the run answers, the agent and its top tools
(tooling), check the tenant may act, reveal the tenant's provider key and find its model
(tenancy); then, step by step: reserve limits, call the provider streaming (each piece of text
a ledger event as it arrives), settle, store the step's usage with the assistant's message (its
answer, or the tool calls it asks for) in one transaction, record it in telemetry under the
run's trace, and either end or run the tool calls through tooling (one awaiting approval parks
the run as requires_action) and go round again.

Every write carries the run's fence and a key naming its step (``<run>:<step>``, the model's
tool call id), and every call to another service an id made of them (limits' request_id, the
tool execution's request_id, the usage event_id): a run repeated after a crash asks the model
the same question and stores, runs and counts nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, cast

import httpx
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sqlalchemy import Table, and_, select

from quarterdeck.telemetry.v1 import usage_pb2 as upb
from quarterdeck.tenancy.v1 import billing_pb2 as bpb
from quarterdeck.tenancy.v1 import limits_pb2 as lpb
from quarterdeck.tenancy.v1 import model_configs_pb2 as mpb
from quarterdeck.tenancy.v1 import pricing_pb2 as ppb
from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import executions_pb2 as epb
from quarterdeck.tooling.v1 import tools_pb2 as tpb
from services.conversation.config import ConversationSettings
from services.conversation.conversations.hiding import hidden_message
from services.conversation.conversations.models import (
    ConversationRecord,
    ConversationSummaryRecord,
)
from services.conversation.events.ledger import NewEvent
from services.conversation.messages.models import MessageRecord, MessageRole
from services.conversation.messages.store import NewMessage
from services.conversation.provider import ChatProvider, ChatReply, ProviderError
from services.conversation.runs import phases
from services.conversation.runs.links import ServiceLinks
from services.conversation.runs.models import RunUsageRecord
from services.conversation.runs.queue import ClaimedRun, RunQueue
from services.conversation.runs.streaming import StreamedText
from services.conversation.runs.tasks import compaction_subtask
from services.conversation.runs.writes import RunWrites
from shared.db import Database, PreparedRead, column_param
from shared.errors import DomainError, FailedPrecondition
from shared.json_values import dict_to_struct, struct_to_dict, value_to_python
from shared.model_prices import PriceCache, PricingUnavailable
from shared.money import format_pico
from shared.pricing_math import Usage, price_usage
from shared.tracing import current_trace_ids
from shared.ttl_cache import TtlCache

tracer = trace.get_tracer("quarterdeck.conversation.turn")

#: The agent's tools offered to the model, by priority.
MAX_TOOLS = 16
#: What a step reserves from the tenant's tokens-per-minute before the reply says how many.
ESTIMATED_REPLY_TOKENS = 512


class RunRefused(FailedPrecondition):
    """The run cannot go on (tenant, agent, model configuration or provider said no)."""


@dataclass
class Model:
    provider: str
    name: str
    base_url: str
    api_key: str
    llm_model_id: str


_CONVERSATION_TABLE = cast(Table, ConversationRecord.__table__)
_CONVERSATIONS = _CONVERSATION_TABLE.c
_MESSAGE_TABLE = cast(Table, MessageRecord.__table__)
_MESSAGES = _MESSAGE_TABLE.c
#: A run's history in one statement: the conversation's memory strategy (what the history is
#: cut by) on every row, joined to its visible messages through a position (hidden ones by
#: the one rule of :mod:`hiding`), the columns a turn reads of them, in order; one row with
#: no message (its columns None) when there is none.
_HISTORY = PreparedRead(
    select(
        _CONVERSATIONS.memory_max_turns,
        _CONVERSATIONS.memory_compact_trigger_turns,
        _CONVERSATIONS.memory_compact_keep,
        _MESSAGES.position,
        _MESSAGES.role,
        _MESSAGES.content,
        _MESSAGES.content_text,
        _MESSAGES.tool_call_id,
    )
    .select_from(
        _CONVERSATION_TABLE.outerjoin(
            _MESSAGE_TABLE,
            and_(
                _MESSAGES.conversation_id == _CONVERSATIONS.id,
                _MESSAGES.position <= column_param("position", _MESSAGES.position),
                ~hidden_message(),
            ),
        )
    )
    .where(_CONVERSATIONS.id == column_param("conversation_id", _CONVERSATIONS.id))
    .order_by(_MESSAGES.position)
)


def _provider_messages(rows: list[Any], system_prompt: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    for row in rows:
        if row.role == MessageRole.TOOL:
            messages.append(
                {"role": "tool", "tool_call_id": row.tool_call_id, "content": row.content_text}
            )
        elif row.role == MessageRole.ASSISTANT and isinstance(row.content, dict):
            messages.append(
                {
                    "role": "assistant",
                    "content": row.content_text or None,
                    "tool_calls": row.content.get("tool_calls", []),
                }
            )
        else:
            messages.append({"role": row.role.value, "content": row.content_text})
    return messages


def _run_trace(run: ClaimedRun) -> Context | None:
    """The trace a lease of the run continues: the one its first lease stamped, so a run
    parked for an approval and resumed (or re-leased after a crash) keeps its usage, cost and
    spans under one trace. The later leases' spans hang under a parent named after the run
    (its span id derived from the run id); None for a first lease (a new trace)."""
    if not run.trace_id:
        return None
    parent = SpanContext(
        trace_id=int(run.trace_id, 16),
        span_id=int(run.run_id.hex[:16], 16) or 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def _tool_calls(reply: ChatReply) -> list[dict[str, Any]]:
    """The reply's tool calls as the provider's messages carry them."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in reply.tool_calls
    ]


def _assistant_message(reply: ChatReply, cost: int, agent_name: str, step_key: str) -> NewMessage:
    """The assistant's message of a model call: its answer, or the tool calls it asks for."""
    if reply.tool_calls:
        content: Any = {"tool_calls": _tool_calls(reply)}
        write_key = f"{step_key}:tool_calls"
    else:
        content, write_key = reply.text, f"{step_key}:answer"
    return NewMessage(
        MessageRole.ASSISTANT,
        content,
        reply.text,
        agent_type=agent_name,
        token_count_prompt=reply.usage.prompt_tokens,
        token_count_completion=reply.usage.completion_tokens,
        reasoning_tokens=reply.usage.reasoning_tokens,
        cost_picos=cost,
        write_key=write_key,
    )


@dataclass
class AgentSetup:
    """An active agent and the tools offered to the model, as tooling listed them."""

    agent: apb.Agent
    tools: list[dict[str, Any]]


class AgentTurn:
    def __init__(
        self,
        settings: ConversationSettings,
        database: Database,
        queue: RunQueue,
        writes: RunWrites,
        links: ServiceLinks,
        http: httpx.AsyncClient,
        prices: PriceCache,
    ) -> None:
        self._settings = settings
        self._pauses = phases.PausePoints(settings.run_pause_at, settings.run_pause_file)
        self._database = database
        self._queue = queue
        self._writes = writes
        self._links = links
        self._prices = prices
        self._provider = ChatProvider(
            http,
            max_attempts=settings.provider_max_attempts,
            backoff_seconds=settings.provider_backoff_seconds,
            timeout_seconds=settings.provider_timeout_seconds,
        )
        # What every run of an agent (of a tenant) reads the same: an active agent with its
        # tools, the tenant's model and key. Kept for run_config_cache_seconds; the model is
        # forgotten at once when the provider refuses its key.
        ttl = settings.run_config_cache_seconds
        self._agents: TtlCache[tuple[str, str], AgentSetup] = TtlCache(
            ttl, cacheable=lambda setup: setup.agent.status == apb.AGENT_STATUS_ACTIVE
        )
        self._models: TtlCache[str, Model] = TtlCache(ttl)

    async def __call__(self, run: ClaimedRun) -> bool:
        with tracer.start_as_current_span(
            "conversation.run",
            context=_run_trace(run),
            attributes={"quarterdeck.tenant_id": str(run.tenant_id), "run.id": str(run.run_id)},
        ):
            # The trace is stamped on the run by its first write (see RunWrites).
            await self._pauses.reached(phases.LEASED, run.run_id)
            return await self._turn(run)

    async def _turn(self, run: ClaimedRun) -> bool:
        tenant = str(run.tenant_id)
        agent_id = str(run.payload["agent_id"])
        status = (await self._links.tenant_status.check([tenant]))[0]
        if not status.may_act:
            raise RunRefused(f"tenant {tenant} is {status.status}", reason="TENANT_NOT_ACTIVE")
        setup = await self._agents.get((tenant, agent_id), lambda: self._setup(tenant, agent_id))
        agent, tools = setup.agent, setup.tools
        if agent.status != apb.AGENT_STATUS_ACTIVE:
            raise RunRefused(f"agent {agent_id} is not active", reason="AGENT_NOT_ACTIVE")
        model = await self._models.get(tenant, lambda: self._model(tenant))
        conversation, history = await self._history(run)
        messages = await self._compacted(run, model, conversation, history, agent.prompt_template)
        for step in range(self._settings.run_max_steps):
            # The step stores the assistant's message (its answer, or the tool calls it asks
            # for) with the call's usage and end: one transaction.
            reply = await self._step(run, model, messages, tools, step, agent.name[:64])
            if not reply.tool_calls:
                await self._pauses.reached(phases.ANSWERED, run.run_id)
                return False
            calls = _tool_calls(reply)
            messages.append(
                {"role": "assistant", "content": reply.text or None, "tool_calls": calls}
            )
            for call in reply.tool_calls:
                result = await self._execute(
                    run, tenant, agent_id, call.id, call.name, call.arguments
                )
                if result is None:
                    return True  # parked until the call is decided
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        raise RunRefused(
            f"the run made {self._settings.run_max_steps} model calls without an answer",
            reason="RUN_STEP_LIMIT",
        )

    async def _setup(self, tenant: str, agent_id: str) -> AgentSetup:
        agent = (
            await self._links.call(
                self._links.agents.GetAgent,
                apb.GetAgentRequest(tenant_id=tenant, agent_id=agent_id),
            )
        ).agent
        if agent.status != apb.AGENT_STATUS_ACTIVE:
            return AgentSetup(agent, [])
        return AgentSetup(agent, await self._tools(tenant, agent_id))

    async def _tools(self, tenant: str, agent_id: str) -> list[dict[str, Any]]:
        listed = await self._links.call(
            self._links.agents.ListAgentTools,
            apb.ListAgentToolsRequest(tenant_id=tenant, agent_id=agent_id, page_size=MAX_TOOLS),
        )
        tools = []
        for assigned in sorted(listed.agent_tools, key=lambda t: t.priority)[:MAX_TOOLS]:
            config = (
                await self._links.call(
                    self._links.tools.GetToolConfig,
                    tpb.GetToolConfigRequest(tenant_id=tenant, tool_id=assigned.tool_id),
                )
            ).tool
            tools.append(
                {
                    "type": "function",
                    "function": {
                        "name": assigned.tool_name,
                        "description": assigned.tool_description,
                        "parameters": struct_to_dict(config.input_schema)
                        or {"type": "object", "properties": {}},
                    },
                }
            )
        return tools

    async def _model(self, tenant: str) -> Model:
        try:
            revealed = await self._links.call(
                self._links.model_configs.RevealProviderKey,
                mpb.RevealProviderKeyRequest(tenant_id=tenant),
            )
        except DomainError as refusal:
            raise RunRefused(
                f"tenant {tenant}'s model configuration cannot be used: {refusal.message}",
                reason="MODEL_CONFIG_UNUSABLE",
                metadata={"cause": refusal.reason},
            ) from None
        model = (
            await self._links.call(
                self._links.catalog.GetModel, ppb.GetModelRequest(id=revealed.llm_model_id)
            )
        ).model
        base_url = self._settings.provider_base_url(model.provider)
        if base_url is None:
            raise RunRefused(
                f"tenant {tenant}'s model configuration names model {model.model_name} of "
                f"provider {model.provider}, which this platform has no endpoint for",
                reason="PROVIDER_NOT_CONFIGURED",
            )
        return Model(model.provider, model.model_name, base_url, revealed.api_key, model.id)

    async def _history(self, run: ClaimedRun) -> tuple[Any, list[Any]]:
        """The conversation's memory strategy, and its visible messages up to the user
        message the run answers (a later message is another run's) within it: one prepared
        read on its own (no transaction), as named tuples of the columns the turn reads."""
        position = int(run.payload["message_position"])
        joined = await self._database.fetch_prepared(
            _HISTORY, {"conversation_id": run.conversation_id, "position": position}
        )
        assert joined, "a run's conversation is never deleted under it"
        conversation = joined[0]
        rows = [row for row in joined if row.position is not None]
        if conversation.memory_max_turns:
            users = [i for i, row in enumerate(rows) if row.role == MessageRole.USER]
            if len(users) > conversation.memory_max_turns:
                start = users[-conversation.memory_max_turns]
                rows = [r for r in rows[:start] if r.role == MessageRole.SYSTEM] + rows[start:]
        return conversation, rows

    async def _compacted(
        self,
        run: ClaimedRun,
        model: Model,
        conversation: Any,
        rows: list[Any],
        system_prompt: str,
    ) -> list[dict[str, Any]]:
        """What is sent to the model. Past the memory strategy's compaction trigger (more user
        turns than memory_compact_trigger_turns), the turns before the last memory_compact_keep
        are replaced by a summary the model wrote: stored once per stretch summarized (seed 001
        conversation_summaries, version ``through:<position>``), so later runs, and this run
        repeated after a crash, reuse it instead of asking again."""
        trigger = conversation.memory_compact_trigger_turns
        users = [i for i, row in enumerate(rows) if row.role == MessageRole.USER]
        if not trigger or len(users) <= trigger:
            return _provider_messages(rows, system_prompt)
        keep = max(conversation.memory_compact_keep or 1, 1)
        start = users[-keep] if keep <= len(users) else 0
        older, kept = rows[:start], rows[start:]
        if not older:
            return _provider_messages(rows, system_prompt)
        version = f"through:{older[-1].position}"
        async with self._database.reading() as session:
            summary = await session.scalar(
                select(ConversationSummaryRecord.summary_text).where(
                    ConversationSummaryRecord.conversation_id == run.conversation_id,
                    ConversationSummaryRecord.version == version,
                )
            )
        if summary is None:
            summary = await self._summarize(run, model, older, version)
        messages = _provider_messages([], system_prompt)
        messages.append(
            {"role": "system", "content": f"Summary of the conversation so far: {summary}"}
        )
        return messages + _provider_messages(kept, "")

    async def _summarize(
        self, run: ClaimedRun, model: Model, older: list[Any], version: str
    ) -> str:
        transcript = "\n".join(f"{row.role.value}: {row.content_text}" for row in older)
        step_key = f"{run.run_id}:summary:{older[-1].position}"
        # A subtask of the run's task, keyed by the step: a re-leased run takes it up again.
        through = older[-1].position
        await self._writes.subtask(
            run,
            compaction_subtask(run.run_id, step_key, version, len(older), through, model.name),
        )
        # The summary's model call counts against the tenant's rpm/tpm like a step's: reserved
        # before (idempotent by the step's key), settled with what it used, released on failure.
        reservation = (
            await self._links.call(
                self._links.limits.Reserve,
                lpb.ReserveRequest(
                    tenant_id=str(run.tenant_id),
                    tokens=len(transcript) // 4 + ESTIMATED_REPLY_TOKENS,
                    request_id=step_key,
                ),
            )
        ).reservation
        try:
            reply = await self._provider.complete(
                base_url=model.base_url,
                api_key=model.api_key,
                model=model.name,
                messages=[
                    {
                        "role": "system",
                        "content": "Summarize this conversation briefly, keeping every fact "
                        "and decision a later answer may need.",
                    },
                    {"role": "user", "content": transcript},
                ],
            )
        except ProviderError as error:
            await self._links.call(
                self._links.limits.Release,
                lpb.ReleaseRequest(tenant_id=str(run.tenant_id), reservation_id=reservation.id),
            )
            await self._writes.subtask_failed(run, step_key, error.message)
            raise RunRefused(
                f"the conversation's history could not be compacted: {error.message} "
                f"(model configuration of tenant {run.tenant_id}, model {model.name})",
                reason=error.reason,
            ) from None
        used = reply.usage.prompt_tokens + reply.usage.completion_tokens
        await self._links.call(
            self._links.limits.Settle,
            lpb.SettleRequest(
                tenant_id=str(run.tenant_id), reservation_id=reservation.id, actual_tokens=used
            ),
        )
        cost, priced = await self._price(model, reply)
        await self._writes.usage(
            run,
            RunUsageRecord(
                tenant_id=run.tenant_id,
                conversation_id=run.conversation_id,
                response_id=step_key[:128],
                run_id=str(run.run_id),
                agent_key=str(run.payload["agent_id"])[:64],
                provider=model.provider[:32],
                requests=reply.attempts,
                input_tokens=reply.usage.prompt_tokens,
                output_tokens=reply.usage.completion_tokens,
                total_tokens=used,
                cached_input_tokens=reply.usage.cached_tokens,
                reasoning_output_tokens=reply.usage.reasoning_tokens,
                request_usage_entries=[
                    {"response_id": reply.response_id, "purpose": "summary", **priced}
                ],
                cost_picos=cost,
            ),
        )
        await self._account(run, model, reply, step_key)
        await self._writes.summary(
            run,
            ConversationSummaryRecord(
                tenant_id=run.tenant_id,
                conversation_id=run.conversation_id,
                agent_key=str(run.payload["agent_id"])[:64],
                summary_text=reply.text,
                summary_model=model.name[:64],
                summary_length_tokens=reply.usage.completion_tokens,
                version=version,
            ),
            subtask_key=step_key,
        )
        return reply.text

    async def _step(
        self,
        run: ClaimedRun,
        model: Model,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        step: int,
        agent_name: str,
    ) -> ChatReply:
        """One model call, stored with what it cost (pico-USD) and the assistant's message
        (``agent_name`` its author): its reply."""
        tenant = str(run.tenant_id)
        step_key = f"{run.run_id}:{step}"
        estimate = sum(len(json.dumps(m)) // 4 for m in messages) + ESTIMATED_REPLY_TOKENS
        reservation = (
            await self._links.call(
                self._links.limits.Reserve,
                lpb.ReserveRequest(tenant_id=tenant, tokens=estimate, request_id=step_key),
            )
        ).reservation
        pieces = 0

        async def streamed() -> None:
            await self._pauses.reached(phases.STREAMING, run.run_id)

        stream = StreamedText(
            self._writes,
            run,
            max_batch=self._settings.stream_max_batch,
            after_first_write=streamed,
        )
        stream.hold(
            NewEvent(
                "response.created",
                {"step": step, "model": model.name},
                response_id=step_key,
                dedupe_key=f"{step_key}:created",
            )
        )

        async def on_text(text: str) -> None:
            nonlocal pieces
            stream.add(
                NewEvent(
                    "response.output_text.delta",
                    {"delta": text},
                    response_id=step_key,
                    content_index=0,
                    provider_sequence_number=pieces,
                    dedupe_key=f"{step_key}:delta:{pieces}",
                )
            )
            pieces += 1

        try:
            reply = await self._provider.complete(
                base_url=model.base_url,
                api_key=model.api_key,
                model=model.name,
                messages=messages,
                tools=tools or None,
                on_text=on_text,
            )
            # The pieces not written yet go with the step's end, below.
            tail = await stream.finish()
        except ProviderError as error:
            if error.reason == "PROVIDER_KEY_REJECTED":
                self._models.forget(tenant)  # the next run asks tenancy for the key again
            await stream.close()  # what arrived before the failure stays in the ledger
            await self._links.call(
                self._links.limits.Release,
                lpb.ReleaseRequest(tenant_id=tenant, reservation_id=reservation.id),
            )
            await self._writes.events(
                run,
                [
                    NewEvent(
                        "response.failed",
                        {"reason": error.reason, "message": error.message},
                        response_id=step_key,
                        dedupe_key=f"{step_key}:failed",
                    )
                ],
            )
            detail = f"{error.message} (model configuration of tenant {tenant}, model {model.name})"
            raise RunRefused(detail, reason=error.reason) from None
        finally:
            await stream.abandon()
        used = reply.usage.prompt_tokens + reply.usage.completion_tokens
        # Settling the reservation and pricing the call ask tenancy two independent things.
        _, (cost, priced) = await asyncio.gather(
            self._links.call(
                self._links.limits.Settle,
                lpb.SettleRequest(
                    tenant_id=tenant, reservation_id=reservation.id, actual_tokens=used
                ),
            ),
            self._price(model, reply),
        )
        completed = NewEvent(
            "response.completed",
            {
                "finish_reason": reply.finish_reason,
                "usage": {
                    "input_tokens": reply.usage.prompt_tokens,
                    "output_tokens": reply.usage.completion_tokens,
                    "cost_usd": priced["cost_usd"],
                },
                "tool_calls": [
                    {"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls
                ],
            },
            response_id=step_key,
            dedupe_key=f"{step_key}:completed",
        )
        # The step's usage, its last pieces and end in the ledger, and the assistant's
        # message: one transaction.
        await self._writes.usage(
            run,
            RunUsageRecord(
                tenant_id=run.tenant_id,
                conversation_id=run.conversation_id,
                response_id=step_key,
                run_id=str(run.run_id),
                agent_key=str(run.payload["agent_id"])[:64],
                provider=model.provider[:32],
                requests=reply.attempts,
                input_tokens=reply.usage.prompt_tokens,
                output_tokens=reply.usage.completion_tokens,
                total_tokens=used,
                cached_input_tokens=reply.usage.cached_tokens,
                reasoning_output_tokens=reply.usage.reasoning_tokens,
                request_usage_entries=[
                    {"response_id": reply.response_id, "model": reply.model, **priced}
                ],
                cost_picos=cost,
            ),
            [*tail, completed],
            _assistant_message(reply, cost, agent_name, step_key),
        )
        await self._account(run, model, reply, step_key)
        return reply

    async def _price(self, model: Model, reply: ChatReply) -> tuple[int, dict[str, Any]]:
        """What the model call cost, exact (pico-USD), as tenancy's PriceUsage prices it: the
        model's standard price in effect now, from the model's price history (cached for
        ``run_config_cache_seconds``, no round trip per call) and the same math; the reply's
        prompt tokens include its cached ones, as OpenAI counts them. Also what the usage row
        notes about it. A model with no price in effect costs 0 here and the note names the
        reason (``cost_error``): the answer is not withheld for it, and the row says it was
        not priced rather than that it was free."""
        try:
            history = await self._prices.prices_of(model.llm_model_id)
        except PricingUnavailable:
            return 0, {"cost_usd": None, "cost_error": "PRICING_UNAVAILABLE"}
        price = history.price_at(ppb.PRICE_TIER_STANDARD, time.time_ns())
        if price is None:
            return 0, {"cost_usd": None, "cost_error": "NO_PRICE"}
        usage = Usage(
            input_tokens=reply.usage.prompt_tokens,
            output_tokens=reply.usage.completion_tokens,
            cache_read_tokens=reply.usage.cached_tokens,
            includes_cached=True,
        )
        try:
            total = price_usage(usage, price.rates).total
        except DomainError as refusal:  # counts the provider reported that cannot be priced
            return 0, {"cost_usd": None, "cost_error": refusal.reason or refusal.message}
        return total, {"cost_usd": format_pico(total), "price_id": price.price_id}

    async def _account(
        self,
        run: ClaimedRun,
        model: Model,
        reply: ChatReply,
        step_key: str,
    ) -> None:
        """The model call in telemetry (usage and cost, under the run's trace), in the tenant's
        usage counters and in the agent's token total: three services, asked at once (each call
        is idempotent by the step, so a repeat after a crash counts nothing twice)."""
        await asyncio.gather(
            self._record_usage(run, model, reply, step_key),
            self._count_usage(run, reply, step_key),
            self._count_agent_tokens(run, reply, step_key),
        )

    async def _count_agent_tokens(self, run: ClaimedRun, reply: ChatReply, step_key: str) -> None:
        """Add the model call's tokens to the agent's ``total_tokens_used`` (tooling)."""
        await self._links.call(
            self._links.agents.RecordAgentUsage,
            apb.RecordAgentUsageRequest(
                tenant_id=str(run.tenant_id),
                agent_id=str(run.payload["agent_id"]),
                tokens_used=reply.usage.prompt_tokens + reply.usage.completion_tokens,
                request_id=f"run:{step_key}",
            ),
        )

    async def _record_usage(
        self,
        run: ClaimedRun,
        model: Model,
        reply: ChatReply,
        step_key: str,
    ) -> None:
        """Telemetry's copy of the model call, under the run's trace. Telemetry prices it through
        the same PriceUsage (the price in effect at the call), so its row says ``priced``; a cost
        sent along would be stored as the client's own (``cost_status`` CLIENT)."""
        if self._links.usage is None:
            return
        trace_id, span_id = current_trace_ids()
        await self._links.call(
            self._links.usage.RecordUsage,
            upb.RecordUsageRequest(
                tenant_id=str(run.tenant_id),
                record=upb.UsageRecord(
                    event_id=f"run:{step_key}",
                    session_id=str(run.conversation_id),
                    command_id=str(run.run_id),
                    event_type="agent_run",
                    model_used=model.name,
                    provider=model.provider,
                    agent_id=str(run.payload["agent_id"]),
                    input_tokens=reply.usage.prompt_tokens,
                    output_tokens=reply.usage.completion_tokens,
                    cache_read_input_tokens=reply.usage.cached_tokens,
                    token_convention=upb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED,
                    service_name="conversation",
                    trace_id=trace_id,
                    span_id=span_id,
                ),
            ),
        )

    async def _count_usage(self, run: ClaimedRun, reply: ChatReply, step_key: str) -> None:
        """Add the model call to the tenant's usage counters (tenancy's billing metering), as
        the usage of the user who asked when a user did (per-user counters; the tenant's totals
        sum them), once: the call's request_id names the step, so a run repeated after a crash
        adds nothing."""
        await self._links.call(
            self._links.billing.RecordUsage,
            bpb.RecordUsageRequest(
                tenant_id=str(run.tenant_id),
                user_id=str(run.payload.get("user_id") or ""),
                input_tokens=reply.usage.prompt_tokens,
                output_tokens=reply.usage.completion_tokens,
                requests=1,
                request_id=f"run:{step_key}",
            ),
        )

    async def _execute(
        self,
        run: ClaimedRun,
        tenant: str,
        agent_id: str,
        call_id: str,
        name: str,
        arguments: str,
    ) -> str | None:
        """Run one tool call through tooling; its result as the model will read it, or None
        when it awaits approval (the run is parked). A result an earlier attempt of the run
        stored is read back as stored (not asked of tooling again, whose replay may serialize it
        differently), so the model is asked exactly what it was asked before."""
        write_key = f"{run.run_id}:{call_id}:result"
        async with self._database.reading() as session:
            stored = await session.scalar(
                select(MessageRecord.content_text).where(
                    MessageRecord.conversation_id == run.conversation_id,
                    MessageRecord.write_key == write_key,
                )
            )
        if stored is not None:
            return stored
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            result = "error: the arguments are not a JSON object"
        else:
            executed = (
                await self._links.call(
                    self._links.executions.ExecuteTool,
                    epb.ExecuteToolRequest(
                        tenant_id=tenant,
                        agent_id=agent_id,
                        tool_name=name,
                        arguments=dict_to_struct(parsed),
                        run_id=str(run.run_id),
                        conversation_id=str(run.conversation_id),
                        request_id=f"{run.run_id}:{call_id}",
                    ),
                )
            ).tool_call
            if executed.state == epb.TOOL_CALL_STATE_PENDING_APPROVAL:
                await self._writes.events(
                    run,
                    [
                        NewEvent(
                            "tool_call.pending_approval",
                            {"tool_call_id": executed.id, "name": name},
                            tool_call_id=call_id,
                            dedupe_key=f"{run.run_id}:{call_id}:pending",
                        )
                    ],
                )
                await self._queue.park(
                    run.fence, {"tool_call_id": executed.id, "model_tool_call_id": call_id}
                )
                return None
            if executed.state == epb.TOOL_CALL_STATE_DENIED:
                result = f"error: an admin denied the call: {executed.deny_reason or 'no reason'}"
            elif executed.state == epb.TOOL_CALL_STATE_OK:
                value = value_to_python(executed.result)
                result = value if isinstance(value, str) else json.dumps(value)
            else:
                result = f"error: {executed.error_reason or 'TOOL_FAILED'}: {executed.error}"
            await self._pauses.reached(phases.TOOL_REQUESTED, run.run_id)
        await self._writes.message(
            run,
            NewMessage(
                MessageRole.TOOL,
                result,
                result,
                tool_name=name[:128],
                tool_call_id=call_id[:64],
                write_key=write_key,
            ),
        )
        return result
