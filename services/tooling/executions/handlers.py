"""ExecutionService: one tool call for a tenant's agent, checked, run at most once, recorded.

Checks, in order: the agent exists for the tenant and is active, the tenant has it enabled, the
agent is offered the tool, the tool is active and enabled for the tenant, the arguments satisfy
the tool's input schema. A refusal (once the agent and the tool are known) is recorded as a call
in state error and answered with the error naming its cause. A call whose agent or tool needs a
human's approval waits as pending_approval until a tenant admin approves (it then runs, once)
or denies it.

A call is claimed by inserting its row (with the request_id, unique per tenant) before the tool
runs, and the tool runs outside any transaction; a retried request finds the claimed row and is
answered from it, so the tool never runs twice.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from opentelemetry import trace
from sqlalchemy import Float, String, Table, Update, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from quarterdeck.tooling.v1 import executions_pb2 as pb
from services.tooling.access import acting_tenant
from services.tooling.agents.handlers import cached_agent
from services.tooling.agents.limits import (
    cached_limits,
    check_allowed,
    cost_tier_of,
    take_from_limits,
)
from services.tooling.agents.models import AgentRecord, AgentStatus
from services.tooling.context import ToolingContext
from services.tooling.egress import EgressDenied, EgressFailed
from services.tooling.executions.access import ToolAccess, read_access
from services.tooling.executions.convert import STATE_FROM_PROTO, tool_call_to_proto
from services.tooling.executions.db_query import run_db_query
from services.tooling.executions.models import ToolCallRecord, ToolCallStatus, ToolResultRecord
from services.tooling.executions.runners import (
    Runner,
    ToolFailed,
    ToolUnavailable,
    runners,
    shape,
)
from services.tooling.json_schemas import violations_of
from services.tooling.tools.databases import parse_dsn
from services.tooling.tools.models import (
    TenantDatabaseRecord,
    ToolConfigRecord,
)
from services.tooling.validation import Violations
from shared.auth import require_principal
from shared.db import rows_matched
from shared.db_types import utcnow
from shared.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from shared.ids import parse_id
from shared.json_values import struct_to_dict
from shared.pagination import fetch_page
from shared.secret_box import UnreadableSecret
from shared.tracing import current_trace_ids

log = logging.getLogger("quarterdeck.tooling.executions")
tracer = trace.get_tracer("quarterdeck.tooling")

_CALLS = cast(Table, ToolCallRecord.__table__)
_RESULTS = cast(Table, ToolResultRecord.__table__)

MAX_REFERENCE = 64
MAX_REQUEST_ID = 255
MAX_DENY_REASON = 1000


async def cached_access(
    ctx: ToolingContext, tenant: uuid.UUID, agent: AgentRecord, tool_id: str, tool_name: str
) -> ToolAccess:
    """:func:`read_access` through the replica's access cache (the ExecuteTool path)."""

    async def load() -> ToolAccess:
        async with ctx.database.reading() as session:
            return await read_access(session, tenant, agent, tool_id, tool_name)

    key = (tenant, agent.id, f"id:{tool_id}" if tool_id else f"name:{tool_name}")
    return await ctx.access_cache.get(key, load)


@dataclass(frozen=True)
class Plan:
    """A call that passed every check, with what running it needs."""

    agent: AgentRecord
    tool: ToolConfigRecord
    base_type: str
    format_name: str | None
    arguments: dict[str, Any]

    @property
    def needs_approval(self) -> bool:
        return self.agent.requires_human_approval or self.tool.requires_approval


@dataclass(frozen=True)
class Outcome:
    status: ToolCallStatus
    result: Any = None
    error: str | None = None
    reason: str | None = None
    #: The tool's type cannot run on this platform (nothing configured for it).
    unavailable: bool = False


def _check(
    tenant: uuid.UUID, agent: AgentRecord, access: ToolAccess, arguments: dict[str, Any]
) -> Plan:
    """Every check a call must pass once its agent and tool are known."""
    tool = access.tool
    if agent.status is not AgentStatus.ACTIVE:
        raise FailedPrecondition(
            f"the agent is {agent.status.value}, not active", reason="AGENT_NOT_ACTIVE"
        )
    if not access.agent_enabled:
        raise PermissionDenied(
            "the agent is not enabled for this tenant", reason="AGENT_NOT_ENABLED"
        )
    if not access.offered:
        raise PermissionDenied(f"the agent is not offered {tool.name!r}", reason="TOOL_NOT_OFFERED")
    if not tool.is_active:
        raise FailedPrecondition(f"the tool {tool.name!r} is disabled", reason="TOOL_DISABLED")
    if not access.tool_enabled:
        raise PermissionDenied(
            f"the tool {tool.name!r} is not enabled for this tenant", reason="TOOL_NOT_ENABLED"
        )
    violations = violations_of(tool.input_schema, arguments, "arguments")
    if violations:
        raise InvalidArgument(violations, reason="INVALID_ARGUMENTS")
    return Plan(agent, tool, access.base_type, access.format_name, arguments)


def _running_totals(failed: bool) -> Update:
    """The agent's running totals (seed 002) after one more call ran: calls completed, their
    mean latency and the percentage that succeeded, in one UPDATE of the row as stored (so
    concurrent calls never lose a count), and when it last ran; a failed call is its last
    error. Neither config_version nor updated_at moves: they track the definition. Built once
    with bound parameters, so each call reuses its compiled form."""
    agents = cast(Table, AgentRecord.__table__)
    done = agents.c.total_tasks_completed
    values: dict[str, Any] = {
        "total_tasks_completed": done + 1,
        "average_latency_ms": (
            agents.c.average_latency_ms * done + bindparam("b_latency_ms", type_=Float)
        )
        / (done + 1),
        "success_rate": (agents.c.success_rate * done + bindparam("b_succeeded", type_=Float))
        / (done + 1),
        "last_run_at": bindparam("b_now", type_=agents.c.last_run_at.type),
        "updated_at": agents.c.updated_at,
    }
    if failed:
        values["last_error"] = bindparam("b_last_error", type_=String)
    return update(agents).where(agents.c.id == bindparam("b_agent_id")).values(**values)


_TOTALS_AFTER_SUCCESS = _running_totals(failed=False)
_TOTALS_AFTER_FAILURE = _running_totals(failed=True)
_CLAIM_CALL = insert(_CALLS)
_FINISH_CALL = update(_CALLS).where(_CALLS.c.id == bindparam("b_call_id"))
_STORE_RESULT = insert(_RESULTS)


def _refusal_text(error: DomainError) -> str:
    return error.message[:2000]


class ExecutionHandlers:
    def __init__(self, ctx: ToolingContext) -> None:
        self._ctx = ctx
        self._runners: dict[str, Runner] = runners(ctx.egress, ctx.mcp, ctx.settings.ocr_endpoint)

    # -- ExecuteTool ------------------------------------------------------------------------

    async def execute_tool(self, request: pb.ExecuteToolRequest) -> pb.ExecuteToolResponse:
        tenant = acting_tenant(request.tenant_id, "member")
        agent_id = parse_id(request.agent_id, "agent_id")
        violations = Violations()
        violations.json("arguments", request.arguments)
        violations.text("run_id", request.run_id, MAX_REFERENCE)
        violations.text("conversation_id", request.conversation_id, MAX_REFERENCE)
        violations.text("request_id", request.request_id, MAX_REQUEST_ID)
        violations.raise_if_any()
        arguments = struct_to_dict(request.arguments)
        if request.request_id and (known := await self._claimed(tenant, request, arguments)):
            return pb.ExecuteToolResponse(tool_call=known)

        tier = cost_tier_of(request.cost_tier, self._ctx.settings.default_cost_tier)
        agent = await cached_agent(self._ctx, tenant, agent_id)
        limits = await cached_limits(self._ctx, agent.role_name, tier)
        access = await cached_access(self._ctx, tenant, agent, request.tool_id, request.tool_name)
        tool = access.tool
        try:
            plan = _check(tenant, agent, access, arguments)
            check_allowed(limits, tool.name, plan.base_type)
        except DomainError as refusal:
            await self._record_refusal(tenant, agent, tool, request, arguments, refusal)
            raise

        status = ToolCallStatus.PENDING_APPROVAL if plan.needs_approval else ToolCallStatus.STARTED
        now = utcnow()
        claimed: dict[str, Any] = {
            "id": uuid.uuid4(),
            "tenant_id": tenant,
            "agent_id": agent.id,
            "agent_config_version": agent.config_version,
            "tool_id": tool.id,
            "tool_name": tool.name,
            "run_id": request.run_id or None,
            "conversation_id": request.conversation_id or None,
            "request_id": request.request_id or None,
            "status": status,
            "args": arguments,
            "created_at": now,
            "updated_at": now,
        }
        try:
            # Core statements: the hot path keeps no session (identity map, flush) per call.
            async with self._ctx.database.core_transaction() as connection:
                # The request_id is claimed before anything is counted.
                await connection.execute(_CLAIM_CALL, claimed)
                await take_from_limits(
                    connection,
                    self._ctx.database.dialect,
                    limits,
                    tenant,
                    agent.id,
                    plan.base_type,
                    self._ctx.clock(),
                )
        except ResourceExhausted as refusal:
            # Rolled back: neither the call nor any window's count was kept.
            await self._record_refusal(tenant, agent, tool, request, arguments, refusal)
            raise
        except IntegrityError:
            # The same request_id won a race with this call; answer with its call.
            known = await self._claimed(tenant, request, arguments)
            if known is None:
                raise
            return pb.ExecuteToolResponse(tool_call=known)
        call = ToolCallRecord(**claimed)  # as stored; never added to a session
        if status is ToolCallStatus.PENDING_APPROVAL:
            return pb.ExecuteToolResponse(tool_call=tool_call_to_proto(call, None))
        return pb.ExecuteToolResponse(tool_call=await self._run(call, plan))

    async def _claimed(
        self, tenant: uuid.UUID, request: pb.ExecuteToolRequest, arguments: dict[str, Any]
    ) -> pb.ToolCall | None:
        """The call a request_id already claimed, if any; refused when it was another call."""
        async with self._ctx.database.reading() as session:
            call = await session.scalar(
                select(ToolCallRecord).where(
                    ToolCallRecord.tenant_id == tenant,
                    ToolCallRecord.request_id == request.request_id,
                )
            )
            if call is None:
                return None
            same = (
                str(call.agent_id) == request.agent_id
                and (str(call.tool_id) == request.tool_id or call.tool_name == request.tool_name)
                and call.args == arguments
                and (call.run_id or "") == request.run_id
            )
            if not same:
                raise InvalidArgument.field("request_id", "was already used for a different call")
            result = await session.scalar(
                select(ToolResultRecord).where(ToolResultRecord.tool_call_id == call.id)
            )
        return tool_call_to_proto(call, result)

    async def _record_refusal(
        self,
        tenant: uuid.UUID,
        agent: AgentRecord,
        tool: ToolConfigRecord,
        request: pb.ExecuteToolRequest,
        arguments: dict[str, Any],
        refusal: DomainError,
    ) -> None:
        # No request_id: a refused call claims nothing, so a retry is checked afresh.
        async with self._ctx.database.transaction() as session:
            call = ToolCallRecord(
                id=uuid.uuid4(),
                tenant_id=tenant,
                agent_id=agent.id,
                agent_config_version=agent.config_version,
                tool_id=tool.id,
                tool_name=tool.name,
                run_id=request.run_id or None,
                conversation_id=request.conversation_id or None,
                status=ToolCallStatus.ERROR,
                args=arguments,
                error=_refusal_text(refusal),
                error_reason=refusal.reason,
            )
            session.add(call)
            await session.flush()
            session.add(ToolResultRecord(tool_call_id=call.id, error_message=call.error))

    # -- Running ----------------------------------------------------------------------------

    async def _run(self, call: ToolCallRecord, plan: Plan) -> pb.ToolCall:
        with tracer.start_as_current_span(f"tool {plan.tool.name}") as span:
            span.set_attribute("quarterdeck.tool.type", plan.base_type)
            span.set_attribute("quarterdeck.tool_call.id", str(call.id))
            trace_id, span_id = current_trace_ids()
            started = time.perf_counter()
            outcome = await self._outcome(plan, call.tenant_id)
            latency_ms = int((time.perf_counter() - started) * 1000)
            if outcome.status is not ToolCallStatus.OK:
                span.set_status(trace.StatusCode.ERROR, outcome.reason or "")
        now = utcnow()
        finished = {
            "status": outcome.status,
            "latency_ms": latency_ms,
            "error": outcome.error,
            "error_reason": outcome.reason,
            "trace_id": trace_id or None,
            "span_id": span_id or None,
            "updated_at": now,
        }
        stored_result: dict[str, Any] = {
            "id": uuid.uuid4(),
            "tool_call_id": call.id,
            "result_data": outcome.result,
            "error_message": outcome.error,
            "created_at": now,
        }
        # Three Core statements built once, and no read: the call was claimed above and is
        # never deleted.
        failed = outcome.status is not ToolCallStatus.OK
        totals: dict[str, Any] = {
            "b_agent_id": call.agent_id,
            "b_latency_ms": float(latency_ms),
            "b_succeeded": 0.0 if failed else 100.0,
            "b_now": now,
        }
        if failed:
            totals["b_last_error"] = (outcome.error or outcome.status.value)[:2000]
        async with self._ctx.database.core_transaction() as connection:
            await connection.execute(_FINISH_CALL, {"b_call_id": call.id, **finished})
            await connection.execute(_STORE_RESULT, stored_result)
            await connection.execute(
                _TOTALS_AFTER_FAILURE if failed else _TOTALS_AFTER_SUCCESS, totals
            )
        result = ToolResultRecord(**stored_result)
        for field, value in finished.items():
            setattr(call, field, value)  # the detached row, as now stored
        self._ctx.tool_usage.record(call, outcome.result)
        if outcome.unavailable:
            raise FailedPrecondition(outcome.error or "", reason=outcome.reason)
        return tool_call_to_proto(call, result)

    async def _outcome(self, plan: Plan, tenant: uuid.UUID) -> Outcome:
        runner = self._runners.get(plan.base_type)
        if plan.base_type == "DB_QUERY":
            runner = self._db_query_runner(tenant)
        if runner is None:
            return Outcome(ToolCallStatus.ERROR, error="no runner", reason="UNKNOWN_TOOL_TYPE")
        config = plan.tool.config
        if plan.tool.sealed_secret_headers is not None:
            secrets = self._secret_headers(plan.tool)
            if secrets is None:
                return Outcome(
                    ToolCallStatus.ERROR,
                    error="the tool's secret headers cannot be read with the configured keys",
                    reason="SECRET_UNREADABLE",
                )
            config = {**config, "headers": {**(config.get("headers") or {}), **secrets}}
        try:
            raw = await runner(config, plan.arguments)
            return Outcome(ToolCallStatus.OK, result=shape(raw, plan.format_name))
        except TimeoutError:
            return Outcome(
                ToolCallStatus.TIMEOUT, error="the tool did not finish in time", reason="TIMEOUT"
            )
        except EgressDenied as exc:
            return Outcome(ToolCallStatus.ERROR, error=str(exc), reason=exc.reason)
        except (EgressFailed, ToolFailed) as exc:
            return Outcome(ToolCallStatus.ERROR, error=str(exc), reason=exc.reason)
        except ToolUnavailable as exc:
            return Outcome(
                ToolCallStatus.ERROR, error=str(exc), reason=exc.reason, unavailable=True
            )
        except Exception:
            log.exception("tool %s failed unexpectedly", plan.tool.id)
            return Outcome(ToolCallStatus.ERROR, error="the tool failed", reason="INTERNAL_ERROR")

    def _db_query_runner(self, tenant: uuid.UUID) -> Runner:
        """DB_QUERY against the database of the calling tenant that the tool's config names."""

        async def run(config: Mapping[str, Any], arguments: dict[str, Any]) -> Any:
            database_id = config.get("database_id")
            row = None
            if isinstance(database_id, str):
                try:
                    key = uuid.UUID(database_id)
                except ValueError:
                    key = None
                if key is not None:
                    async with self._ctx.database.reading() as session:
                        row = await session.get(TenantDatabaseRecord, key)
            if row is None or row.tenant_id != tenant:
                raise ToolUnavailable(
                    "the tool names no database this tenant registered (RegisterDatabase, then "
                    "the tool's config database_id)",
                    "NO_DATABASE_CONFIGURED",
                )
            box = self._ctx.secrets
            try:
                if box is None:
                    raise UnreadableSecret("no key")
                dsn = box.decrypt(row.sealed_dsn).decode()
            except UnreadableSecret:
                raise ToolFailed(
                    "the database's DSN cannot be read with the configured keys",
                    "SECRET_UNREADABLE",
                ) from None
            settings = self._ctx.settings
            try:
                parsed = parse_dsn(dsn, settings.db_query_sqlite_dir)
            except ValueError as problem:  # the operators' settings changed since
                raise ToolUnavailable(
                    f"the registered database is no longer allowed: its DSN {problem}",
                    "DATABASE_NOT_ALLOWED",
                ) from None
            return await run_db_query(
                self._ctx.egress,
                parsed,
                config,
                arguments,
                max_rows_cap=settings.db_query_max_rows,
                timeout_cap=settings.egress_timeout_seconds,
            )

        return run

    def _secret_headers(self, tool: ToolConfigRecord) -> dict[str, str] | None:
        """The tool's secret headers in the clear, for this call only; None when no configured
        key opens them."""
        box = self._ctx.secrets
        if box is None or tool.sealed_secret_headers is None:
            return None
        try:
            return dict(json.loads(box.decrypt(tool.sealed_secret_headers)))
        except UnreadableSecret:
            log.error("tool %s: secret headers sealed by an unknown key", tool.id)
            return None

    # -- Approval ---------------------------------------------------------------------------

    async def approve_tool_call(
        self, request: pb.ApproveToolCallRequest
    ) -> pb.ApproveToolCallResponse:
        tenant = acting_tenant(request.tenant_id, "admin")
        call_id = parse_id(request.tool_call_id, "tool_call_id")
        decided = await self._decide(tenant, call_id, ToolCallStatus.APPROVED, None)
        if not decided:
            call, result = await self._load(tenant, call_id)
            if call.status is ToolCallStatus.DENIED:
                raise FailedPrecondition("the call was denied", reason="TOOL_CALL_DENIED")
            # Already approved (running or done): the same call, never a second run.
            return pb.ApproveToolCallResponse(tool_call=tool_call_to_proto(call, result))
        call, _ = await self._load(tenant, call_id)
        refused: DomainError | None = None
        try:
            async with self._ctx.database.reading() as session:
                # As stored now, never from a cache: the approval may come long after the call.
                agent = await session.get(AgentRecord, call.agent_id)
                assert agent is not None  # a foreign key
                access = await read_access(session, tenant, agent, tool_id=str(call.tool_id))
            plan = _check(tenant, agent, access, call.args or {})
        except DomainError as refusal:
            refused = refusal
        if refused is not None:
            # Permissions changed while the call waited: it is refused now, and says why.
            call = await self._finish_refused(call, refused)
            return pb.ApproveToolCallResponse(tool_call=tool_call_to_proto(call, None))
        return pb.ApproveToolCallResponse(tool_call=await self._run(call, plan))

    async def deny_tool_call(self, request: pb.DenyToolCallRequest) -> pb.DenyToolCallResponse:
        tenant = acting_tenant(request.tenant_id, "admin")
        call_id = parse_id(request.tool_call_id, "tool_call_id")
        if len(request.reason) > MAX_DENY_REASON:
            raise InvalidArgument.field("reason", f"must be at most {MAX_DENY_REASON} characters")
        decided = await self._decide(tenant, call_id, ToolCallStatus.DENIED, request.reason)
        call, result = await self._load(tenant, call_id)
        if not decided and call.status is not ToolCallStatus.DENIED:
            raise FailedPrecondition(
                f"the call is {call.status.value}, no longer pending approval",
                reason="TOOL_CALL_NOT_PENDING",
            )
        return pb.DenyToolCallResponse(tool_call=tool_call_to_proto(call, result))

    async def _decide(
        self,
        tenant: uuid.UUID,
        call_id: uuid.UUID,
        status: ToolCallStatus,
        reason: str | None,
    ) -> bool:
        """Move a pending call to ``status``; False when it was not pending (exactly one
        approver or denier wins, however many send the decision at once)."""
        principal = require_principal()
        now = utcnow()
        async with self._ctx.database.transaction() as session:
            result = await session.execute(
                update(ToolCallRecord)
                .where(
                    ToolCallRecord.id == call_id,
                    ToolCallRecord.tenant_id == tenant,
                    ToolCallRecord.status == ToolCallStatus.PENDING_APPROVAL,
                )
                .values(
                    status=status,
                    decided_by=principal.subject[:255],
                    decided_at=now,
                    deny_reason=reason or None,
                    updated_at=now,
                )
            )
            return bool(rows_matched(result))

    async def _finish_refused(self, call: ToolCallRecord, refusal: DomainError) -> ToolCallRecord:
        async with self._ctx.database.transaction() as session:
            row = await session.get(ToolCallRecord, call.id)
            assert row is not None
            row.status = ToolCallStatus.ERROR
            row.error = _refusal_text(refusal)
            row.error_reason = refusal.reason
            session.add(ToolResultRecord(tool_call_id=row.id, error_message=row.error))
            await session.flush()
        return row

    # -- Reads ------------------------------------------------------------------------------

    async def _load(
        self, tenant: uuid.UUID, call_id: uuid.UUID
    ) -> tuple[ToolCallRecord, ToolResultRecord | None]:
        async with self._ctx.database.reading() as session:
            call = await session.get(ToolCallRecord, call_id)
            if call is None or call.tenant_id != tenant:
                raise NotFound(f"tool call {call_id} not found", reason="TOOL_CALL_NOT_FOUND")
            result = await session.scalar(
                select(ToolResultRecord).where(ToolResultRecord.tool_call_id == call_id)
            )
        return call, result

    async def get_tool_call(self, request: pb.GetToolCallRequest) -> pb.GetToolCallResponse:
        tenant = acting_tenant(request.tenant_id)
        call, result = await self._load(tenant, parse_id(request.tool_call_id, "tool_call_id"))
        return pb.GetToolCallResponse(tool_call=tool_call_to_proto(call, result))

    async def list_tool_calls(self, request: pb.ListToolCallsRequest) -> pb.ListToolCallsResponse:
        tenant = acting_tenant(request.tenant_id)
        statement = select(ToolCallRecord).where(ToolCallRecord.tenant_id == tenant)
        filters: dict[str, Any] = {"tenant": str(tenant)}
        if request.agent_id:
            agent_id = parse_id(request.agent_id, "agent_id")
            statement = statement.where(ToolCallRecord.agent_id == agent_id)
            filters["agent"] = str(agent_id)
        if request.run_id:
            statement = statement.where(ToolCallRecord.run_id == request.run_id)
            filters["run"] = request.run_id
        if request.state != pb.TOOL_CALL_STATE_UNSPECIFIED:
            status = STATE_FROM_PROTO.get(request.state)
            if status is None:
                raise InvalidArgument.field("state", "must be a known state")
            statement = statement.where(ToolCallRecord.status == status)
            filters["state"] = status.value
        async with self._ctx.database.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[ToolCallRecord.created_at, ToolCallRecord.id],
                position_of=lambda row: [row.created_at, row.id],
                codec=self._ctx.pages,
                query="tooling.ListToolCalls",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
            results = {
                row.tool_call_id: row
                for row in await session.scalars(
                    select(ToolResultRecord).where(
                        ToolResultRecord.tool_call_id.in_([c.id for c in page.items])
                    )
                )
            }
        return pb.ListToolCallsResponse(
            tool_calls=[tool_call_to_proto(c, results.get(c.id)) for c in page.items],
            next_page_token=page.next_page_token,
        )
