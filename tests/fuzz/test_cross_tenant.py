"""Tenant B can neither read nor change tenant A's rows through any tenant-scoped RPC.

Tenant A is given real rows first: a tenant, a membership, an agent, a tool config, a memory
entry, a checkpoint, a conversation with a message (by A's owner) and an activity event (by a
Quarterdeck service). Their names and contents carry a marker no other row has. Then every
tenant-scoped RPC, read from the descriptors of the services the servers registered (its request
names a ``tenant_id``, at the top or in the message it carries, or an id of a kind A has a row
of), is called with tenant B's token (owner, viewer) in two ways:

* for tenant A: every ``tenant_id`` is A's and every id field holds A's real id of its kind.
  With a top-level ``tenant_id`` it is refused, never answered: PERMISSION_DENIED or NOT_FOUND,
  INVALID_ARGUMENT for a request refused before any tenant is touched, UNAVAILABLE where
  identity must first ask tenancy (which, in this stack, trusts only the test issuer's tokens),
  or UNAUTHENTICATED for a credential carried in the request (a stream ticket). A ``tenant_id``
  only inside the carried message may be one the service ignores, acting in the caller's tenant.
* inside B's own tenant with A's ids (where an id of A's was put in): refused as above.

A call that is answered anyway must not carry A's marker back. Afterwards A's rows (those of
tenant A in every table with a ``tenant_id``, and in the other tables those naming one of A's
ids) are exactly as they were. On SQLite only.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor, descriptor_pool, message, message_factory
from sqlalchemy import Uuid, select

from quarterdeck.conversation.v1 import conversations_pb2 as cpb
from quarterdeck.conversation.v1 import messages_pb2 as mpb
from quarterdeck.telemetry.v1 import activity_pb2 as actpb
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tooling.v1 import agents_pb2 as apb
from quarterdeck.tooling.v1 import checkpoints_pb2 as kpb
from quarterdeck.tooling.v1 import memory_pb2 as mempb
from quarterdeck.tooling.v1 import tools_pb2 as tlpb
from services.tooling.tools.seed_catalogue import base_tool_id
from shared.json_values import dict_to_struct, python_to_value
from shared.server import RunningService
from tests.fuzz.test_grpc_fuzz import INFRASTRUCTURE, ISSUER, _services
from tests.support.stack import Databases

REFUSALS = frozenset(
    {
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAVAILABLE,
        # A credential carried in the request itself (a stream ticket) that is not B's.
        grpc.StatusCode.UNAUTHENTICATED,
    }
)
CALL_TIMEOUT_SECONDS = 10.0
#: A server-streaming call still open here is following: it must have been refused before.
STREAM_TIMEOUT_SECONDS = 2.0
#: Ids that name no tenant's row: a user's id is the identity service's, a base tool the
#: catalogue's every tenant builds on.
NOT_TENANT_OWNED = frozenset({"user", "owner_user", "actor", "request", "base_tool"})
#: In the name or content of every row of A's: a reply to B that holds it gives A's data away.
MARKER = f"a-secret-{uuid.uuid4().hex[:12]}"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Tenant:
    id: str
    owner: list[tuple[str, str]]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _collect_ids(reply: message.Message, ids: dict[str, str], kind: str) -> None:
    """A's ids by kind from a reply: ``id`` of a message of type X is an ``x``, ``<kind>_id``
    is a ``<kind>``; nested messages too."""
    for field, value in reply.ListFields():
        if field.message_type is not None:
            if field.is_repeated:
                continue
            _collect_ids(value, ids, _snake(field.message_type.name))
        elif field.type == field.TYPE_STRING and not field.is_repeated and value:
            if field.name == "id":
                ids.setdefault(kind, value)
            elif field.name.endswith("_id") and field.name != "tenant_id":
                ids.setdefault(field.name.removesuffix("_id"), value)


async def _call(
    channel: grpc.aio.Channel,
    path: str,
    method: descriptor.MethodDescriptor,
    request: message.Message,
    metadata: list[tuple[str, str]],
) -> tuple[grpc.StatusCode, bytes, str]:
    payload = request.SerializeToString()
    try:
        if method.client_streaming:

            async def requests() -> AsyncIterator[bytes]:
                yield payload

            reply: Any = await channel.stream_unary(path)(
                requests(), metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
            )
            return grpc.StatusCode.OK, reply, ""
        if method.server_streaming:
            received = b""
            async for item in channel.unary_stream(path)(
                payload, metadata=metadata, timeout=STREAM_TIMEOUT_SECONDS
            ):
                received += item
            return grpc.StatusCode.OK, received, ""
        reply = await channel.unary_unary(path)(
            payload, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
        )
        return grpc.StatusCode.OK, reply, ""
    except grpc.aio.AioRpcError as error:
        return error.code(), b"", error.details() or ""


class Caller:
    """Calls by full method name on the channel of the server that registered it."""

    def __init__(self, channels: dict[str, grpc.aio.Channel]) -> None:
        self._channels = channels
        self._pool = descriptor_pool.Default()

    async def __call__(
        self, service: str, name: str, request: message.Message, metadata: list[tuple[str, str]]
    ) -> message.Message:
        method = self._pool.FindServiceByName(service).methods_by_name[name]
        code, raw, details = await _call(
            self._channels[service], f"/{service}/{name}", method, request, metadata
        )
        assert code == grpc.StatusCode.OK, f"{service}/{name}: {code.name} {details}"
        reply = message_factory.GetMessageClass(method.output_type)()
        reply.ParseFromString(raw)
        return reply


async def _tenant(call: Caller, slug: str) -> Tenant:
    owner_id = str(uuid.uuid4())
    created = await call(
        "quarterdeck.tenancy.v1.TenancyService",
        "CreateTenant",
        tpb.CreateTenantRequest(
            tenant=tpb.Tenant(slug=f"{slug}-{uuid.uuid4().hex[:8]}", name=slug),
            owner_user_id=owner_id,
        ),
        ISSUER.operator(),
    )
    tenant_id = str(created.tenant.id)
    return Tenant(tenant_id, ISSUER.member(tenant_id, "owner", user_id=owner_id))


async def _rows_of_a(a: Tenant, call: Caller) -> dict[str, str]:
    """Creates A's rows, one or more of each kind cheap to make; A's ids by kind."""
    ids: dict[str, str] = {"tenant": a.id}
    made: list[tuple[str, str, message.Message]] = [
        (
            "quarterdeck.telemetry.v1.ActivityService",
            "AppendActivity",  # a Quarterdeck service's call
            actpb.AppendActivityRequest(
                event=actpb.ActivityEvent(
                    tenant_id=a.id,
                    action="membership.added",
                    actor_type=actpb.ACTIVITY_ACTOR_TYPE_USER,
                )
            ),
        ),
        (
            "quarterdeck.tooling.v1.AgentService",
            "CreateAgent",
            apb.CreateAgentRequest(
                agent=apb.Agent(tenant_id=a.id, name=f"{MARKER}-agent", role_name="collector")
            ),
        ),
        (
            "quarterdeck.tooling.v1.ToolService",
            "CreateToolConfig",
            tlpb.CreateToolConfigRequest(
                tool=tlpb.ToolConfig(
                    tenant_id=a.id,
                    name=f"{MARKER}-tool",
                    base_tool_id=str(base_tool_id("HTTP_GET")),
                    config=dict_to_struct({"endpoint": "https://erp.example.com/{q}"}),
                    input_schema=dict_to_struct(
                        {"type": "object", "properties": {"q": {"type": "string"}}}
                    ),
                    description="looks something up",
                )
            ),
        ),
        (
            "quarterdeck.tooling.v1.MemoryService",
            "UpsertMemory",
            mempb.UpsertMemoryRequest(
                entry=mempb.MemoryEntry(
                    tenant_id=a.id,
                    scope=mempb.MEMORY_SCOPE_GLOBAL,
                    key="tone",
                    value=python_to_value(MARKER),
                )
            ),
        ),
        (
            "quarterdeck.tooling.v1.CheckpointService",
            "PutCheckpoint",
            kpb.PutCheckpointRequest(
                tenant_id=a.id,
                checkpoint=kpb.Checkpoint(
                    thread_id="a-thread",
                    checkpoint_id="a-checkpoint",
                    checkpoint=kpb.TypedValue(type="msgpack", data=b"\x80"),
                ),
            ),
        ),
        (
            "quarterdeck.conversation.v1.ConversationService",
            "CreateConversation",
            cpb.CreateConversationRequest(conversation=cpb.Conversation(display_name=MARKER)),
        ),
        (
            "quarterdeck.tenancy.v1.TenancyService",
            "AddMembership",
            tpb.AddMembershipRequest(
                membership=tpb.Membership(
                    tenant_id=a.id, user_id=str(uuid.uuid4()), role=tpb.MEMBERSHIP_ROLE_VIEWER
                )
            ),
        ),
    ]
    for service, name, request in made:
        internal = service.startswith("quarterdeck.telemetry.")
        reply = await call(service, name, request, ISSUER.internal() if internal else a.owner)
        found: dict[str, str] = {}
        _collect_ids(reply, found, "")
        ids.update({k: v for k, v in found.items() if k and k not in ids})
    # Rows under A's conversation and tool config.
    appended = await call(
        "quarterdeck.conversation.v1.MessageService",
        "AppendMessage",
        mpb.AppendMessageRequest(
            conversation_id=ids["conversation"],
            message=mpb.Message(
                role=mpb.MESSAGE_ROLE_USER,
                content=python_to_value([{"type": "text", "text": MARKER}]),
            ),
        ),
        a.owner,
    )
    _collect_ids(appended, ids, "message")
    ids.pop("", None)
    ids["thread"], ids["checkpoint"] = "a-thread", "a-checkpoint"
    return ids


async def _snapshot(
    services: list[RunningService[Any, Any]], a_id: str, a_ids: set[str]
) -> set[str]:
    """A's rows, in every service's tables: those of tenant A where a table has a
    ``tenant_id``, else those naming one of A's ids in any column."""
    rows: set[str] = set()
    for service in services:
        async with service.context.database.reading() as session:
            for table in service.spec.metadata.sorted_tables:
                tenant = table.c.get("tenant_id")
                statement = select(table)
                if tenant is not None:
                    own = uuid.UUID(a_id) if isinstance(tenant.type, Uuid) else a_id
                    statement = statement.where(tenant == own)
                for row in (await session.execute(statement)).all():
                    values = [str(v) for v in row]
                    if tenant is not None or a_ids.intersection(values):
                        rows.add(f"{service.spec.name}.{table.name}: {values}")
    return rows


def _fill(request: message.Message, kind: str, tenant_id: str, a_ids: dict[str, str]) -> list[str]:
    """Sets ``tenant_id`` (listed as ``tenant_id``) and every id field of a kind A has a row of
    (listed by kind), at the top and in the messages the request carries."""
    put: list[str] = []
    for field in request.DESCRIPTOR.fields:
        if field.message_type is not None:
            if not field.is_repeated and not field.message_type.full_name.startswith("google."):
                nested = getattr(request, field.name)
                put += _fill(nested, _snake(field.message_type.name), tenant_id, a_ids)
            continue
        if field.type != field.TYPE_STRING:
            continue
        if field.name == "tenant_id" and not field.is_repeated:
            setattr(request, field.name, tenant_id)
            put.append("tenant_id")
            continue
        if field.name == "id":
            wanted = kind
        elif field.name.endswith("_ids"):
            wanted = field.name.removesuffix("_ids")
        elif field.name.endswith("_id"):
            wanted = field.name.removesuffix("_id")
        else:
            continue
        found = _kind(wanted, a_ids)
        if wanted in NOT_TENANT_OWNED or found is None:
            continue
        if field.is_repeated:
            getattr(request, field.name).append(a_ids[found])
        else:
            setattr(request, field.name, a_ids[found])
        put.append(found)
    return put


def _kind(wanted: str, a_ids: dict[str, str]) -> str | None:
    """The kind of A's ids an id field names: its own, or one it abbreviates (``event_ids`` and
    ``through_event_id`` name an ``activity_event``)."""
    wanted = wanted.removeprefix("through_")
    if wanted in a_ids:
        return wanted
    for kind in a_ids:
        if kind.endswith(f"_{wanted}"):
            return kind
    return None


def _resource_of(method: descriptor.MethodDescriptor) -> str:
    """The kind a method's top-level ``id`` names: GetStatusSubscription -> status_subscription."""
    name = re.sub(
        r"^(Get|Update|Delete|Revoke|Resend|Archive|Suspend|Reactivate|Purge|Set|Decide|"
        r"Cancel|Approve|Deny|Generate|RollUp|Create|List)",
        "",
        method.name,
    )
    return _snake(name.removesuffix("Status")) if name else ""


async def test_every_tenant_scoped_rpc_refuses_another_tenants_token_and_changes_nothing(
    databases: Databases,
) -> None:
    pool = descriptor_pool.Default()
    codes: Counter[str] = Counter()
    answered: list[str] = []
    accepted: list[str] = []
    scoped = with_real_ids = 0
    async with AsyncExitStack() as stack:
        services = await _services(databases, stack)
        channels: dict[str, grpc.aio.Channel] = {}
        for service in services:
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(service.target))
            channels.update({name: channel for name in service.service_names})
        call = Caller(channels)
        a = await _tenant(call, MARKER)
        b = await _tenant(call, "tenant-b")
        a_ids = await _rows_of_a(a, call)
        a_values = {v for v in a_ids.values() if _UUID.match(v)} | {a.id}
        before = await _snapshot(services, a.id, a_values)
        assert len(before) >= len(a_values), before
        roles = {role: ISSUER.member(b.id, role) for role in ("owner", "viewer")}
        for name, channel in channels.items():
            if name.startswith(INFRASTRUCTURE):
                continue
            for method in pool.FindServiceByName(name).methods:
                path = f"/{name}/{method.name}"
                cls = message_factory.GetMessageClass(method.input_type)
                for_a = cls()
                if not _fill(for_a, _resource_of(method), a.id, a_ids):
                    continue
                scoped += 1
                # A top-level tenant_id of A's must be refused; a tenant_id inside the message
                # a request carries may be one the service ignores (it acts in the caller's).
                names_a = "tenant_id" in for_a.DESCRIPTOR.fields_by_name
                variants = [("for A", for_a)]
                in_b = cls()
                if set(_fill(in_b, _resource_of(method), b.id, a_ids)) - {"tenant_id"}:
                    with_real_ids += 1
                    variants.append(("in B with A's ids", in_b))
                for variant, request in variants:
                    for role, metadata in roles.items():
                        code, reply, _ = await _call(channel, path, method, request, metadata)
                        codes[code.name] += 1
                        if code in REFUSALS:
                            continue
                        accepted.append(f"{method.name} [{variant}]")
                        leaked = MARKER.encode() in reply
                        if (variant == "for A" and names_a) or code != grpc.StatusCode.OK or leaked:
                            answered.append(
                                f"{path} [{role} of B, {variant}] {code.name}"
                                + (", with A's data in the reply" if leaked else "")
                            )
        after = await _snapshot(services, a.id, a_values)
    print(
        f"\ncross-tenant: {scoped} tenant-scoped methods ({with_real_ids} also inside B with "
        f"A's ids), A's kinds {sorted(a_ids)}, {len(before)} rows of A's, "
        f"statuses {dict(codes)}; answered without A's data: {sorted(set(accepted))}"
    )
    assert scoped > 40
    assert with_real_ids > 15
    assert not answered, "\n".join(answered)
    assert after == before, (
        f"A's rows changed:\nonly before: {sorted(before - after)}\n"
        f"only after: {sorted(after - before)}"
    )
