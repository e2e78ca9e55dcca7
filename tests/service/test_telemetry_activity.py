"""The activity feed (ActivityService) over a real in-process telemetry service, on SQLite and on
PostgreSQL: appends, listing, receipts, last-seen and unread counts, tenant isolation and bad
input; tenancy's changes reaching the feed through shared.activity_link with identity, tenancy
and telemetry running together; and the gateway's /v1/activity routes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from cryptography.fernet import Fernet
from google.protobuf.struct_pb2 import Struct
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sqlalchemy import delete, func, select

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.telemetry.v1 import activity_pb2 as pb
from quarterdeck.telemetry.v1.activity_pb2_grpc import ActivityServiceStub
from quarterdeck.tenancy.v1 import model_configs_pb2 as mpb
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from quarterdeck.tenancy.v1.model_configs_pb2_grpc import TenantModelConfigServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.gateway.config import GatewaySettings
from services.identity.models import User
from services.identity.sessions.opening import open_session
from services.telemetry.activity.models import ActivityEventRecord, ActivityReceiptRecord
from services.tenancy.pricing.models import ModelRecord
from shared.activity_link import ActivityLink
from shared.auth import AUTHORIZATION_HEADER, Principal, reset_principal, set_principal
from shared.grpc_client import open_channel
from shared.identity_link import IdentityLink
from shared.server import RunningService
from tests.support.errors import failure, rich_error
from tests.support.gateway import gateway_client, headers
from tests.support.identity_users import make_user
from tests.support.stack import (
    TENANCY_INTERNAL_SECRET,
    Databases,
    FeedStack,
    IdentityStack,
    feed_stack,
    free_port,
    running_service,
)
from tests.support.tokens import TestIssuer
from tests.support.waiting import eventually

ISSUER = TestIssuer()
#: Small, so the cap is reached with a handful of events.
UNREAD_CAP = 5
Metadata = list[tuple[str, str]]


@dataclass
class Telemetry:
    running: RunningService[Any, Any]
    stub: ActivityServiceStub


@pytest.fixture(scope="module")
async def telemetry(backend: str, databases: Databases) -> AsyncIterator[Telemetry]:
    url = await databases.url(backend, "telemetry", "activity")
    async with (
        running_service(
            "telemetry",
            url,
            authenticator=ISSUER.authenticator(),
            activity_unread_count_cap=UNREAD_CAP,
        ) as running,
        open_channel(running.target) as channel,
    ):
        yield Telemetry(running, ActivityServiceStub(channel))


@pytest.fixture
def stub(telemetry: Telemetry) -> ActivityServiceStub:
    return telemetry.stub


def new_id() -> str:
    return str(uuid.uuid4())


def service(name: str = "tenancy") -> Metadata:
    return ISSUER.internal(name)


def user(tenant_id: str, user_id: str, role: str = "viewer") -> Metadata:
    return ISSUER.member(tenant_id, role, user_id)


async def append(
    stub: ActivityServiceStub, tenant_id: str, action: str = "membership.added", **fields: Any
) -> pb.ActivityEvent:
    idempotency_key = fields.pop("idempotency_key", "")
    event = pb.ActivityEvent(tenant_id=tenant_id, action=action, **fields)
    response = await stub.AppendActivity(
        pb.AppendActivityRequest(event=event, request_id=idempotency_key), metadata=service()
    )
    return response.event


async def unread(stub: ActivityServiceStub, metadata: Metadata) -> int:
    return (await stub.GetUnreadCount(pb.GetUnreadCountRequest(), metadata=metadata)).unread_count


async def feed(
    stub: ActivityServiceStub, metadata: Metadata, **filters: Any
) -> list[pb.ActivityEvent]:
    """Every page of ListActivity, checking the page size is honoured."""
    events: list[pb.ActivityEvent] = []
    token = ""
    while True:
        page = await stub.ListActivity(
            pb.ListActivityRequest(page_token=token, **filters), metadata=metadata
        )
        if filters.get("page_size"):
            assert len(page.events) <= filters["page_size"]
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


async def stored_events(telemetry: Telemetry, tenant_id: str) -> int:
    async with telemetry.running.context.database.reading() as session:
        return int(
            await session.scalar(
                select(func.count()).where(ActivityEventRecord.tenant_id == uuid.UUID(tenant_id))
            )
            or 0
        )


# -- AppendActivity ----------------------------------------------------------------------------


async def test_append_records_every_field_and_assigns_id_and_time(
    stub: ActivityServiceStub,
) -> None:
    tenant_id, actor_id = new_id(), new_id()
    metadata = Struct()
    metadata.update({"role": "admin", "count": 2})
    before = time.time()
    event = await append(
        stub,
        tenant_id,
        "membership.added",
        actor_id=actor_id,
        actor_type=pb.ACTIVITY_ACTOR_TYPE_USER,
        actor_role="owner",
        object_type="membership",
        object_id="m-1",
        object_name="Ada",
        source="tenancy",
        request_id="req-1",
        ip_hash="ab" * 32,
        user_agent="pytest",
        summary="Ada was added as admin",
        metadata=metadata,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
    )
    uuid.UUID(event.id)
    assert event.tenant_id == tenant_id and event.action == "membership.added"
    assert before - 1 <= event.create_time.ToNanoseconds() / 1e9 <= time.time() + 1
    assert (event.actor_id, event.actor_type, event.actor_role) == (
        actor_id,
        pb.ACTIVITY_ACTOR_TYPE_USER,
        "owner",
    )
    assert (event.object_type, event.object_id, event.object_name) == ("membership", "m-1", "Ada")
    assert event.status == pb.ACTIVITY_STATUS_SUCCESS
    assert (event.source, event.request_id, event.user_agent) == ("tenancy", "req-1", "pytest")
    assert event.summary == "Ada was added as admin"
    assert dict(event.metadata) == {"role": "admin", "count": 2}
    assert (event.trace_id, event.span_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
    )
    assert not event.read

    [listed] = await feed(stub, user(tenant_id, new_id()))
    assert listed == event


async def test_append_is_idempotent_by_request_id(
    stub: ActivityServiceStub, telemetry: Telemetry
) -> None:
    tenant_id, key = new_id(), new_id()
    first = await append(stub, tenant_id, idempotency_key=key, object_type="membership")
    again = await append(stub, tenant_id, idempotency_key=key, object_type="membership")
    assert again == first
    assert await stored_events(telemetry, tenant_id) == 1

    error = rich_error(await failure(append(stub, tenant_id, "other.action", idempotency_key=key)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in error.field_violations
    assert await stored_events(telemetry, tenant_id) == 1


async def test_only_quarterdeck_services_append(
    stub: ActivityServiceStub, telemetry: Telemetry
) -> None:
    tenant_id = new_id()
    request = pb.AppendActivityRequest(event=pb.ActivityEvent(tenant_id=tenant_id, action="x.y"))
    for metadata, code in (
        (user(tenant_id, new_id(), "owner"), grpc.StatusCode.PERMISSION_DENIED),
        (ISSUER.operator(), grpc.StatusCode.PERMISSION_DENIED),
        ([], grpc.StatusCode.UNAUTHENTICATED),
    ):
        error = await failure(stub.AppendActivity(request, metadata=metadata))
        assert error.code() == code
    assert await stored_events(telemetry, tenant_id) == 0


async def test_append_refuses_bad_input_naming_every_field(
    stub: ActivityServiceStub, telemetry: Telemetry
) -> None:
    bad_metadata = Struct()
    bad_metadata.update({"ratio": float("nan")})
    request = pb.AppendActivityRequest(
        event=pb.ActivityEvent(
            tenant_id="not-a-uuid",
            action="has spaces",
            actor_id="nobody",
            actor_type=99,  # type: ignore[arg-type]
            status=42,  # type: ignore[arg-type]
            object_id="o-1",
            object_name="n" * 257,
            summary="zero\x00byte",
            metadata=bad_metadata,
            trace_id="XYZ",
            span_id="123",
        )
    )
    error = rich_error(await failure(stub.AppendActivity(request, metadata=service())))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {
        "event.tenant_id",
        "event.action",
        "event.actor_id",
        "event.actor_type",
        "event.status",
        "event.object_type",
        "event.object_name",
        "event.summary",
        "event.metadata",
        "event.trace_id",
        "event.span_id",
    }

    tenant_id = new_id()
    empty = pb.AppendActivityRequest(event=pb.ActivityEvent(tenant_id=tenant_id))
    error = rich_error(await failure(stub.AppendActivity(empty, metadata=service())))
    assert error.field_violations == {"event.action": "is required"}
    huge = Struct()
    huge.update({"blob": "x" * 20_000})
    error = rich_error(
        await failure(
            stub.AppendActivity(
                pb.AppendActivityRequest(
                    event=pb.ActivityEvent(tenant_id=tenant_id, action="a.b", metadata=huge)
                ),
                metadata=service(),
            )
        )
    )
    assert set(error.field_violations) == {"event.metadata"}
    assert await stored_events(telemetry, tenant_id) == 0


# -- ListActivity ------------------------------------------------------------------------------


async def test_list_is_newest_first_paginated_and_confined_to_the_tenant(
    stub: ActivityServiceStub,
) -> None:
    tenant_id, other_tenant = new_id(), new_id()
    appended = [await append(stub, tenant_id, f"step.n{i}") for i in range(5)]
    await append(stub, other_tenant, "step.elsewhere")
    reader = user(tenant_id, new_id())

    listed = await feed(stub, reader, page_size=2)
    assert [e.id for e in listed] == [e.id for e in reversed(appended)]
    assert {e.tenant_id for e in listed} == {tenant_id}

    first = await stub.ListActivity(pb.ListActivityRequest(page_size=2), metadata=reader)
    assert len(first.events) == 2 and first.next_page_token
    # A token is bound to its filters and its tenant.
    error = rich_error(
        await failure(
            stub.ListActivity(
                pb.ListActivityRequest(page_token=first.next_page_token, action="step.n1"),
                metadata=reader,
            )
        )
    )
    assert set(error.field_violations) == {"page_token"}
    error = rich_error(
        await failure(
            stub.ListActivity(
                pb.ListActivityRequest(page_token=first.next_page_token),
                metadata=user(other_tenant, new_id()),
            )
        )
    )
    assert set(error.field_violations) == {"page_token"}

    [elsewhere] = await feed(stub, user(other_tenant, new_id()))
    assert elsewhere.action == "step.elsewhere"
    # Naming another tenant is refused, not answered with an empty list.
    error = await failure(
        stub.ListActivity(pb.ListActivityRequest(tenant_id=other_tenant), metadata=reader)
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_list_filters_by_action_object_and_time(stub: ActivityServiceStub) -> None:
    tenant_id = new_id()
    added = await append(
        stub, tenant_id, "membership.added", object_type="membership", object_id="a"
    )
    removed = await append(
        stub, tenant_id, "membership.removed", object_type="membership", object_id="b"
    )

    # `since` below tells the last event from these only if it is stamped later than they are.
    async def clock_passed_the_events() -> bool:
        return datetime.now(UTC) > removed.create_time.ToDatetime(tzinfo=UTC)

    await eventually(clock_passed_the_events, "the clock to pass the events' create time")
    config = await append(stub, tenant_id, "model_config.updated", object_type="model_config")
    reader = user(tenant_id, new_id())

    assert [e.id for e in await feed(stub, reader, action="membership.added")] == [added.id]
    by_type = await feed(stub, reader, object_type="membership")
    assert {e.action for e in by_type} == {"membership.added", "membership.removed"}
    by_object = await feed(stub, reader, object_type="membership", object_id="a")
    assert [e.id for e in by_object] == [added.id]
    since = await feed(stub, reader, since=config.create_time)
    assert [e.id for e in since] == [config.id]

    error = rich_error(
        await failure(stub.ListActivity(pb.ListActivityRequest(object_id="a"), metadata=reader))
    )
    assert set(error.field_violations) == {"object_type"}
    error = rich_error(
        await failure(stub.ListActivity(pb.ListActivityRequest(page_size=-1), metadata=reader))
    )
    assert set(error.field_violations) == {"page_size"}


async def test_operators_and_services_name_the_tenant(stub: ActivityServiceStub) -> None:
    tenant_id = new_id()
    event = await append(stub, tenant_id)
    error = rich_error(
        await failure(stub.ListActivity(pb.ListActivityRequest(), metadata=ISSUER.operator()))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and set(error.field_violations) == {
        "tenant_id"
    }
    listed = await feed(stub, ISSUER.operator(), tenant_id=tenant_id)
    assert [e.id for e in listed] == [event.id] and not listed[0].read
    error = rich_error(
        await failure(
            stub.ListActivity(pb.ListActivityRequest(tenant_id="nope"), metadata=service())
        )
    )
    assert set(error.field_violations) == {"tenant_id"}


# -- Receipts, last-seen and the unread count --------------------------------------------------


async def test_unread_count_follows_receipts_and_last_seen(stub: ActivityServiceStub) -> None:
    tenant_id, ada, bob = new_id(), new_id(), new_id()
    as_ada, as_bob = user(tenant_id, ada), user(tenant_id, bob)
    first, second, third = [await append(stub, tenant_id, f"thing.n{i}") for i in range(3)]
    assert await unread(stub, as_ada) == 3

    marked = await stub.MarkActivityRead(
        pb.MarkActivityReadRequest(event_ids=[second.id]), metadata=as_ada
    )
    assert (marked.newly_read_count, marked.unread_count) == (1, 2)
    again = await stub.MarkActivityRead(
        pb.MarkActivityReadRequest(event_ids=[second.id, second.id]), metadata=as_ada
    )
    assert (again.newly_read_count, again.unread_count) == (0, 2)
    reads = {e.id: e.read for e in await feed(stub, as_ada)}
    assert reads == {first.id: False, second.id: True, third.id: False}
    # Receipts are the reader's own.
    assert await unread(stub, as_bob) == 3
    assert not any(e.read for e in await feed(stub, as_bob))

    seen = await stub.MarkAllActivitySeen(pb.MarkAllActivitySeenRequest(), metadata=as_ada)
    assert (seen.last_seen_event_id, seen.unread_count) == (third.id, 0)
    assert seen.last_seen_time == third.create_time
    assert all(e.read for e in await feed(stub, as_ada))

    fourth = await append(stub, tenant_id, "thing.n3")
    assert await unread(stub, as_ada) == 1
    assert {e.id for e in await feed(stub, as_ada) if not e.read} == {fourth.id}

    # Marking seen through an older event never moves the marker back.
    back = await stub.MarkAllActivitySeen(
        pb.MarkAllActivitySeenRequest(through_event_id=first.id), metadata=as_ada
    )
    assert (back.last_seen_event_id, back.unread_count) == (third.id, 1)
    # Bob marks seen up to the second event: the first two are read, the last two are not.
    bobs = await stub.MarkAllActivitySeen(
        pb.MarkAllActivitySeenRequest(through_event_id=second.id), metadata=as_bob
    )
    assert (bobs.last_seen_event_id, bobs.unread_count) == (second.id, 2)
    await stub.MarkActivityRead(pb.MarkActivityReadRequest(event_ids=[fourth.id]), metadata=as_bob)
    assert await unread(stub, as_bob) == 1


async def test_mark_seen_on_an_empty_feed_sets_no_marker(stub: ActivityServiceStub) -> None:
    tenant_id, reader_id = new_id(), new_id()
    reader = user(tenant_id, reader_id)
    seen = await stub.MarkAllActivitySeen(pb.MarkAllActivitySeenRequest(), metadata=reader)
    assert not seen.HasField("last_seen_time") and seen.last_seen_event_id == ""
    await append(stub, tenant_id)
    assert await unread(stub, reader) == 1


async def test_unread_count_stops_at_the_cap(stub: ActivityServiceStub) -> None:
    tenant_id = new_id()
    reader = user(tenant_id, new_id())
    for i in range(UNREAD_CAP):
        await append(stub, tenant_id, f"bulk.n{i}")
    response = await stub.GetUnreadCount(pb.GetUnreadCountRequest(), metadata=reader)
    assert (response.unread_count, response.capped) == (UNREAD_CAP, False)
    await append(stub, tenant_id, "bulk.more")
    await append(stub, tenant_id, "bulk.more")
    response = await stub.GetUnreadCount(pb.GetUnreadCountRequest(), metadata=reader)
    assert (response.unread_count, response.capped) == (UNREAD_CAP, True)


async def test_another_tenants_events_are_not_found_and_never_marked(
    stub: ActivityServiceStub, telemetry: Telemetry
) -> None:
    tenant_id, other_tenant, reader_id = new_id(), new_id(), new_id()
    reader = user(tenant_id, reader_id)
    own = await append(stub, tenant_id)
    foreign = await append(stub, other_tenant)

    error = rich_error(
        await failure(
            stub.MarkActivityRead(
                pb.MarkActivityReadRequest(event_ids=[own.id, foreign.id]), metadata=reader
            )
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "ACTIVITY_EVENT_NOT_FOUND"
    assert error.metadata == {"event_id": foreign.id}
    error = await failure(
        stub.MarkAllActivitySeen(
            pb.MarkAllActivitySeenRequest(through_event_id=foreign.id), metadata=reader
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await failure(
        stub.MarkActivityRead(pb.MarkActivityReadRequest(event_ids=[new_id()]), metadata=reader)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND

    # Nothing was marked: not the foreign event, and not the own one named beside it.
    async with telemetry.running.context.database.reading() as session:
        receipts = await session.scalar(
            select(func.count()).where(ActivityReceiptRecord.user_id == uuid.UUID(reader_id))
        )
    assert receipts == 0
    assert await unread(stub, reader) == 1
    assert await unread(stub, user(other_tenant, reader_id)) == 1


async def test_marking_refuses_bad_ids_and_callers_who_are_not_users(
    stub: ActivityServiceStub,
) -> None:
    tenant_id = new_id()
    reader = user(tenant_id, new_id())
    event = await append(stub, tenant_id)
    error = rich_error(
        await failure(
            stub.MarkActivityRead(
                pb.MarkActivityReadRequest(event_ids=[event.id, "bogus"]), metadata=reader
            )
        )
    )
    assert error.field_violations == {"event_ids[1]": "must be a UUID"}
    error = rich_error(
        await failure(stub.MarkActivityRead(pb.MarkActivityReadRequest(), metadata=reader))
    )
    assert set(error.field_violations) == {"event_ids"}
    error = rich_error(
        await failure(
            stub.MarkActivityRead(
                pb.MarkActivityReadRequest(event_ids=[new_id() for _ in range(501)]),
                metadata=reader,
            )
        )
    )
    assert set(error.field_violations) == {"event_ids"}
    error = rich_error(
        await failure(
            stub.MarkAllActivitySeen(
                pb.MarkAllActivitySeenRequest(through_event_id="x"), metadata=reader
            )
        )
    )
    assert set(error.field_violations) == {"through_event_id"}

    service_account = ISSUER.metadata(
        Principal(
            subject=f"sa:{new_id()}", kind="service_account", tenant_id=tenant_id, role="admin"
        )
    )
    for call in (
        stub.GetUnreadCount(pb.GetUnreadCountRequest(), metadata=service_account),
        stub.MarkAllActivitySeen(pb.MarkAllActivitySeenRequest(), metadata=service_account),
        stub.MarkActivityRead(
            pb.MarkActivityReadRequest(event_ids=[event.id]), metadata=service_account
        ),
    ):
        error = rich_error(await failure(call))
        assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "USER_REQUIRED")
    # A service account still reads the feed, with nothing marked read.
    [listed] = await feed(stub, service_account)
    assert listed.id == event.id and not listed.read


async def test_deleting_an_event_takes_its_receipts_along(
    stub: ActivityServiceStub, telemetry: Telemetry
) -> None:
    tenant_id = new_id()
    reader = user(tenant_id, new_id())
    event = await append(stub, tenant_id)
    await stub.MarkActivityRead(pb.MarkActivityReadRequest(event_ids=[event.id]), metadata=reader)
    database = telemetry.running.context.database
    async with database.transaction() as session:
        await session.execute(
            delete(ActivityEventRecord).where(ActivityEventRecord.id == uuid.UUID(event.id))
        )
    async with database.reading() as session:
        left = await session.scalar(
            select(func.count()).where(ActivityReceiptRecord.event_id == uuid.UUID(event.id))
        )
    assert left == 0


# -- Tenancy appends through shared.activity_link ----------------------------------------------


@pytest.fixture(scope="module")
async def platform(backend: str, databases: Databases) -> AsyncIterator[FeedStack]:
    """Identity, tenancy and telemetry as deployed: identity's tokens verified everywhere, and
    tenancy appending to telemetry's feed with its internal token."""
    async with feed_stack(
        databases,
        backend,
        "activity-platform",
        tenancy_overrides={"provider_key_encryption_keys": Fernet.generate_key().decode()},
    ) as stack:
        yield stack


async def signed_in(
    platform: FeedStack, role: str = "owner", tenant_id: str | None = None
) -> tuple[str, str, Metadata]:
    """A new user with ``role`` (in a new tenant unless given): user id, tenant id, bearer."""
    made = await make_user(
        IdentityStack(platform.identity, platform.tenancy), role=role, tenant_id=tenant_id
    )
    state = platform.identity.context.state
    async with state.db.transaction() as session:
        row = await session.get(User, uuid.UUID(made.user_id))
        assert row is not None
        tokens = await open_session(
            state, session, row, made.tenant_id, made.role, ipb.DeviceInfo(user_agent="pytest")
        )
    return made.user_id, made.tenant_id, [(AUTHORIZATION_HEADER, f"Bearer {tokens.access_token}")]


async def wait_for_actions(
    stub: ActivityServiceStub, metadata: Metadata, count: int, **filters: Any
) -> list[pb.ActivityEvent]:
    """The feed once it holds ``count`` events (appends arrive in the background)."""
    deadline = time.monotonic() + 10
    while True:
        events = await feed(stub, metadata, **filters)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.05)


async def test_membership_changes_in_tenancy_show_up_in_the_feed(platform: FeedStack) -> None:
    owner_id, tenant_id, owner = await signed_in(platform)
    newcomer = new_id()
    async with (
        open_channel(platform.tenancy.target) as tenancy_channel,
        open_channel(platform.telemetry.target) as telemetry_channel,
    ):
        tenancy = TenancyServiceStub(tenancy_channel)
        activity = ActivityServiceStub(telemetry_channel)
        added = (
            await tenancy.AddMembership(
                tpb.AddMembershipRequest(
                    membership=tpb.Membership(
                        tenant_id=tenant_id, user_id=newcomer, role=tpb.MEMBERSHIP_ROLE_MEMBER
                    ),
                    request_id="add-once",
                ),
                metadata=owner,
            )
        ).membership
        # A replayed request_id changes nothing in tenancy, and appends nothing either.
        await tenancy.AddMembership(
            tpb.AddMembershipRequest(
                membership=tpb.Membership(
                    tenant_id=tenant_id, user_id=newcomer, role=tpb.MEMBERSHIP_ROLE_MEMBER
                ),
                request_id="add-once",
            ),
            metadata=owner,
        )
        [event] = await wait_for_actions(activity, owner, 1, object_type="membership")
        assert event.action == "membership.added"
        assert (event.actor_id, event.actor_type, event.actor_role) == (
            owner_id,
            pb.ACTIVITY_ACTOR_TYPE_USER,
            "owner",
        )
        assert (event.object_type, event.object_id, event.object_name) == (
            "membership",
            added.id,
            newcomer,
        )
        assert event.source == "tenancy" and event.tenant_id == tenant_id
        assert newcomer in event.summary and "member" in event.summary
        assert dict(event.metadata) == {"user_id": newcomer, "role": "member"}
        assert await unread(activity, owner) == 2  # and the tenant's creation

        await tenancy.UpdateMembershipRole(
            tpb.UpdateMembershipRoleRequest(
                tenant_id=tenant_id, user_id=newcomer, role=tpb.MEMBERSHIP_ROLE_ADMIN
            ),
            metadata=owner,
        )
        await tenancy.RemoveMembership(
            tpb.RemoveMembershipRequest(tenant_id=tenant_id, user_id=newcomer), metadata=owner
        )
        events = await wait_for_actions(activity, owner, 3, object_type="membership")
        assert sorted(e.action for e in events) == [
            "membership.added",
            "membership.removed",
            "membership.role_changed",
        ]
        changed = next(e for e in events if e.action == "membership.role_changed")
        assert dict(changed.metadata) == {
            "user_id": newcomer,
            "previous_role": "member",
            "role": "admin",
        }
        assert await unread(activity, owner) == 4
        # Another tenant's owner sees none of it.
        _, _, stranger = await signed_in(platform)
        assert await feed(activity, stranger, object_type="membership") == []


async def test_model_config_changes_reach_the_feed_without_the_key(platform: FeedStack) -> None:
    _, tenant_id, owner = await signed_in(platform)
    async with platform.tenancy.context.database.reading() as session:
        model_id = str(
            await session.scalar(
                select(ModelRecord.id).where(ModelRecord.is_active.is_(True)).limit(1)
            )
        )
    # The hints end in letters that are not hex, so no id or timestamp in an event can hold them.
    first_key = f"sk-first-{uuid.uuid4().hex}WXYZ"
    second_key = f"sk-second-{uuid.uuid4().hex}QRST"
    async with (
        open_channel(platform.tenancy.target) as tenancy_channel,
        open_channel(platform.telemetry.target) as telemetry_channel,
    ):
        configs = TenantModelConfigServiceStub(tenancy_channel)
        activity = ActivityServiceStub(telemetry_channel)
        created = await configs.SetTenantModelConfig(
            mpb.SetTenantModelConfigRequest(
                config=mpb.TenantModelConfig(
                    tenant_id=tenant_id, llm_model_id=model_id, api_key=first_key
                )
            ),
            metadata=owner,
        )
        await configs.SetTenantModelConfig(
            mpb.SetTenantModelConfigRequest(
                config=mpb.TenantModelConfig(
                    tenant_id=tenant_id,
                    api_key=second_key,
                    rate_limit_rpm=120,
                    version=created.config.version,
                ),
            ),
            metadata=owner,
        )
        events = await wait_for_actions(activity, owner, 3, object_type="model_config")
    assert sorted(e.action for e in events) == [
        "model_config.created",
        "model_config.provider_key_changed",
        "model_config.updated",
    ]
    updated = next(e for e in events if e.action == "model_config.updated")
    assert list(updated.metadata["changed_fields"]) == ["rate_limit_rpm"]
    assert {e.object_type for e in events} == {"model_config"}
    for event in events:
        text = str(event)
        assert first_key not in text and second_key not in text
        assert first_key[-4:] not in text and second_key[-4:] not in text


async def test_onboarding_a_tenant_reaches_its_feed(platform: FeedStack) -> None:
    async with platform.tenancy.context.database.reading() as session:
        model_id = str(
            await session.scalar(
                select(ModelRecord.id).where(ModelRecord.is_active.is_(True)).limit(1)
            )
        )
    api_key = f"sk-onboard-{uuid.uuid4().hex}"
    internal = await platform.identity.context.state.tenancy.token.internal_metadata()
    async with open_channel(platform.tenancy.target) as channel:
        onboarded = await TenantModelConfigServiceStub(channel).OnboardTenant(
            mpb.OnboardTenantRequest(
                tenant=tpb.Tenant(slug=f"onb-{uuid.uuid4().hex[:10]}", name="Onboarded"),
                # No grants: those are stored by tooling, which this stack does not run
                # (test_tenancy_onboarding.py runs both).
                model_config=mpb.TenantModelConfig(llm_model_id=model_id, api_key=api_key),
            ),
            metadata=internal,
        )
    tenant_id = onboarded.tenant.id
    _, _, admin = await signed_in(platform, role="admin", tenant_id=tenant_id)
    async with open_channel(platform.telemetry.target) as channel:
        events = await wait_for_actions(ActivityServiceStub(channel), admin, 2)
    by_action = {e.action: e for e in events}
    assert set(by_action) == {"tenant.onboarded", "membership.added"}
    event = by_action["tenant.onboarded"]
    assert (event.object_type, event.object_id, event.object_name) == (
        "tenant",
        tenant_id,
        "Onboarded",
    )
    # Identity called with its internal token: a service acted, with no tenant actor id.
    assert (event.actor_type, event.actor_id) == (pb.ACTIVITY_ACTOR_TYPE_SERVICE, "")
    assert event.metadata["tool_grants"] == 0 and api_key not in str(event)


async def test_the_link_carries_actor_and_trace_and_never_holds_up_the_caller(
    platform: FeedStack,
) -> None:
    owner_id, tenant_id, owner = await signed_in(platform)
    identity = IdentityLink(platform.identity.target, "tenancy", TENANCY_INTERNAL_SECRET, 1.0)
    link = ActivityLink(platform.telemetry.target, "tenancy", identity)
    unreachable = ActivityLink(
        f"127.0.0.1:{free_port()}",
        "tenancy",
        identity,
        max_attempts=2,
        first_backoff_seconds=0.01,
        call_timeout_seconds=1.0,
    )
    span = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    actor = Principal(subject=owner_id, kind="user", tenant_id=tenant_id, role="admin")
    token = set_principal(actor)
    try:
        with trace.use_span(NonRecordingSpan(span)):
            # append() is synchronous: it queues, and sending happens in the background.
            link.append(tenant_id, "agent.granted", object_type="agent", object_id="a-1")
            unreachable.append(tenant_id, "agent.revoked", object_type="agent", object_id="a-1")
    finally:
        reset_principal(token)
    await link.drain(10)
    await unreachable.drain(10)  # gives up after its attempts, raising nothing
    try:
        async with open_channel(platform.telemetry.target) as channel:
            [event] = await feed(ActivityServiceStub(channel), owner, object_type="agent")
        assert event.action == "agent.granted"
        assert (event.trace_id, event.span_id) == (
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        )
        assert (event.actor_id, event.actor_type, event.actor_role) == (
            owner_id,
            pb.ACTIVITY_ACTOR_TYPE_USER,
            "admin",
        )
    finally:
        await link.close()
        await unreachable.close()
        await identity.close()


async def test_without_a_target_appends_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    link = ActivityLink(None, "tenancy", None)
    assert not link.enabled
    with caplog.at_level("DEBUG", logger="quarterdeck.activity_link"):
        link.append(new_id(), "membership.added")
    assert "not appended" in caplog.text
    await link.close()


# -- Gateway -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def gateway(telemetry: Telemetry) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(telemetry_target=telemetry.running.target, request_timeout_seconds=5)
    async with gateway_client(settings) as client:
        yield client


async def test_gateway_lists_marks_and_counts(
    gateway: httpx.AsyncClient, stub: ActivityServiceStub
) -> None:
    tenant_id = new_id()
    reader = headers(user(tenant_id, new_id()))
    meta = Struct()
    meta.update({"role": "admin"})
    first = await append(
        stub,
        tenant_id,
        "membership.added",
        object_type="membership",
        metadata=meta,
        summary="Ada joined",
    )
    second = await append(stub, tenant_id, "model_config.updated", object_type="model_config")

    listed = await gateway.get("/v1/activity", headers=reader)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [e["id"] for e in body["events"]] == [second.id, first.id]
    assert body["next_page_token"] == ""
    event = body["events"][1]
    assert event["action"] == "membership.added" and event["summary"] == "Ada joined"
    assert event["metadata"] == {"role": "admin"} and event["read"] is False
    assert event["status"] == "success" and event["create_time"].endswith("Z")

    paged = await gateway.get("/v1/activity", params={"page_size": 1}, headers=reader)
    assert [e["id"] for e in paged.json()["events"]] == [second.id]
    rest = await gateway.get(
        "/v1/activity",
        params={"page_size": 1, "page_token": paged.json()["next_page_token"]},
        headers=reader,
    )
    assert [e["id"] for e in rest.json()["events"]] == [first.id]
    filtered = await gateway.get(
        "/v1/activity", params={"object_type": "model_config"}, headers=reader
    )
    assert [e["id"] for e in filtered.json()["events"]] == [second.id]
    since = (second.create_time.ToDatetime() + timedelta(seconds=1)).isoformat() + "Z"
    later = await gateway.get("/v1/activity", params={"since": since}, headers=reader)
    assert later.status_code == 200 and later.json()["events"] == []

    count = await gateway.get("/v1/activity/unread-count", headers=reader)
    assert count.json() == {"unread_count": 2, "capped": False}
    read = await gateway.post("/v1/activity/read", json={"event_ids": [first.id]}, headers=reader)
    assert read.status_code == 200, read.text
    assert read.json() == {"newly_read_count": 1, "unread_count": 1}
    seen = await gateway.post("/v1/activity/seen", headers=reader)
    assert seen.status_code == 200, seen.text
    assert seen.json()["last_seen_event_id"] == second.id and seen.json()["unread_count"] == 0
    assert seen.json()["last_seen_time"].endswith("Z")
    back = await gateway.post(
        "/v1/activity/seen", json={"through_event_id": first.id}, headers=reader
    )
    assert back.json()["last_seen_event_id"] == second.id
    count = await gateway.get("/v1/activity/unread-count", headers=reader)
    assert count.json() == {"unread_count": 0, "capped": False}


async def test_an_operator_reads_a_named_tenants_feed_through_the_gateway(
    gateway: httpx.AsyncClient, stub: ActivityServiceStub
) -> None:
    tenant_id = new_id()
    event = await append(stub, tenant_id, "membership.added", object_type="membership")
    operator = headers(ISSUER.operator())
    unnamed = await gateway.get("/v1/activity", headers=operator)
    assert unnamed.status_code == 400, unnamed.text
    listed = await gateway.get("/v1/activity", params={"tenant_id": tenant_id}, headers=operator)
    assert listed.status_code == 200, listed.text
    assert [e["id"] for e in listed.json()["events"]] == [event.id]
    count = await gateway.get(
        "/v1/activity/unread-count", params={"tenant_id": tenant_id}, headers=operator
    )
    assert count.json() == {"unread_count": 1, "capped": False}
    read = await gateway.post(
        "/v1/activity/read",
        params={"tenant_id": tenant_id},
        json={"event_ids": [event.id]},
        headers=operator,
    )
    assert read.json() == {"newly_read_count": 1, "unread_count": 0}
    seen = await gateway.post(
        "/v1/activity/seen", params={"tenant_id": tenant_id}, headers=operator
    )
    assert seen.json()["last_seen_event_id"] == event.id
    # A tenant's own user naming another tenant is refused.
    other = headers(user(new_id(), new_id()))
    refused = await gateway.get("/v1/activity", params={"tenant_id": tenant_id}, headers=other)
    assert refused.status_code == 403


async def test_gateway_errors(gateway: httpx.AsyncClient, stub: ActivityServiceStub) -> None:
    tenant_id = new_id()
    reader = headers(user(tenant_id, new_id()))
    foreign = await append(stub, new_id())

    missing = await gateway.post(
        "/v1/activity/read", json={"event_ids": [foreign.id]}, headers=reader
    )
    assert missing.status_code == 404, missing.text
    assert missing.json()["error"]["status"] == "NOT_FOUND"
    bad = await gateway.post("/v1/activity/read", json={"event_ids": ["nope"]}, headers=reader)
    assert bad.status_code == 400, bad.text
    [violations] = [d for d in bad.json()["error"]["details"] if d["@type"].endswith("BadRequest")]
    assert violations["fieldViolations"][0]["field"] == "event_ids[0]"
    empty = await gateway.post("/v1/activity/read", json={"event_ids": []}, headers=reader)
    assert empty.status_code == 400
    unknown_field = await gateway.post("/v1/activity/seen", json={"evil": 1}, headers=reader)
    assert unknown_field.status_code == 400
    naive = await gateway.get(
        "/v1/activity", params={"since": "2026-01-01T00:00:00"}, headers=reader
    )
    assert naive.status_code == 400
    anonymous = await gateway.get("/v1/activity")
    assert anonymous.status_code == 401
    assert (await gateway.get("/v1/activity/unread-count")).status_code == 401
