"""Status subscriptions over a real in-process telemetry service, on SQLite and on PostgreSQL:
create, verify, unsubscribe, resend, revoke, list, get and notify; targets and tokens never in
clear in the database or in answers; the webhook sender against a local HTTP server; and the
gateway's /v1/status-subscriptions routes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text, update

from quarterdeck.telemetry.v1 import status_pb2 as pb
from quarterdeck.telemetry.v1.status_pb2_grpc import StatusSubscriptionServiceStub
from services.gateway.config import GatewaySettings
from services.telemetry.config import TelemetrySettings
from services.telemetry.service import SPEC
from services.telemetry.status import servicer as status_service
from services.telemetry.status.handlers import reseal_status_subscriptions
from services.telemetry.status.models import StatusSubscriptionRecord, SubscriptionStatus
from services.telemetry.status.secrets import StatusSecrets, UnreadableSecret
from services.telemetry.status.senders import SIGNATURE_HEADER, MemorySender
from shared.config import load_settings
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from shared.server import RunningService, start_service
from tests.support.errors import failure, rich_error
from tests.support.gateway import gateway_client, headers
from tests.support.stack import TEST_PAGE_TOKEN_SECRET, Databases, running_service
from tests.support.tokens import TestIssuer

ISSUER = TestIssuer()
ENCRYPTION_KEY = "T3Jm0hT2b4nJ9mK8sY7vQ1wE5rU6iO0pA2sD4fG6hJ8="
SECRETS: dict[str, Any] = {
    "status_encryption_keys": ENCRYPTION_KEY,
    "status_hashing_key": "status-hashing-key-for-tests",
}
HASHER = StatusSecrets.create([ENCRYPTION_KEY], SECRETS["status_hashing_key"])
EMAIL = pb.SUBSCRIPTION_CHANNEL_EMAIL
WEBHOOK = pb.SUBSCRIPTION_CHANNEL_WEBHOOK


@asynccontextmanager
async def recorded_status_service(
    url: str, sender: MemorySender, **overrides: Any
) -> AsyncIterator[RunningService[Any, Any]]:
    """The telemetry service's status area with a recording sender and its public methods
    listed on the spec, as the coordinator wires them."""
    spec = replace(
        SPEC,
        register=lambda server, context: status_service.register(server, context, sender=sender),
        public_methods=SPEC.public_methods | status_service.PUBLIC_METHODS,
    )
    settings = load_settings(
        TelemetrySettings,
        port=0,
        database_url=url,
        page_token_secret=TEST_PAGE_TOKEN_SECRET,
        grace_period_seconds=1.0,
        **{**SECRETS, **overrides},
    )
    running = await start_service(spec, settings, authenticator=ISSUER.authenticator())
    try:
        yield running
    finally:
        await running.stop(0.5)


@dataclass
class Status:
    running: RunningService[Any, Any]
    stub: StatusSubscriptionServiceStub
    sender: MemorySender

    async def row(self, subscription_id: str) -> StatusSubscriptionRecord:
        async with self.running.context.database.reading() as session:
            found = await session.get(StatusSubscriptionRecord, uuid.UUID(subscription_id))
        assert found is not None
        return found

    async def set_columns(self, subscription_id: str, **values: Any) -> None:
        async with self.running.context.database.transaction() as session:
            await session.execute(
                update(StatusSubscriptionRecord)
                .where(StatusSubscriptionRecord.id == uuid.UUID(subscription_id))
                .values(**values)
            )

    def token_for(self, subscription_id: str) -> str:
        [message] = [
            m for m in self.sender.verifications if m.recipient.subscription_id == subscription_id
        ][-1:]
        return message.token

    def unsubscribe_token_for(self, subscription_id: str) -> str:
        [message] = [
            m for m in self.sender.verifications if m.recipient.subscription_id == subscription_id
        ][-1:]
        return message.recipient.unsubscribe_token


@pytest.fixture(scope="module")
async def status(backend: str, databases: Databases) -> AsyncIterator[Status]:
    sender = MemorySender()
    url = await databases.url(backend, "telemetry", "status")
    async with (
        recorded_status_service(url, sender) as running,
        open_channel(running.target) as channel,
    ):
        yield Status(running, StatusSubscriptionServiceStub(channel), sender)


def admin(tenant_id: str) -> list[tuple[str, str]]:
    return ISSUER.member(tenant_id, role="admin")


def new_tenant() -> str:
    return str(uuid.uuid4())


def unique_email(prefix: str = "jane") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}@example.com"


async def subscribe(
    status: Status,
    tenant_id: str,
    target: str,
    *,
    channel: int = EMAIL,
    severity: int = pb.STATUS_SEVERITY_UNSPECIFIED,
    metadata: list[tuple[str, str]] | None = None,
    request_id: str = "",
) -> pb.CreateStatusSubscriptionResponse:
    return await status.stub.CreateStatusSubscription(
        pb.CreateStatusSubscriptionRequest(
            tenant_id=tenant_id,
            channel=channel,
            target=target,
            severity_filter=severity,
            request_id=request_id,
        ),
        metadata=metadata or admin(tenant_id),
    )


async def active_subscription(
    status: Status, tenant_id: str, target: str, **options: Any
) -> pb.StatusSubscription:
    created = await subscribe(status, tenant_id, target, **options)
    verified = await status.stub.VerifyStatusSubscription(
        pb.VerifyStatusSubscriptionRequest(token=status.token_for(created.subscription.id))
    )
    assert verified.subscription.status == pb.SUBSCRIPTION_STATUS_ACTIVE
    return verified.subscription


def stored_text(row: StatusSubscriptionRecord) -> str:
    """Every column of the row as text, bytes decoded leniently, for "not in clear" checks."""
    values = []
    for column in StatusSubscriptionRecord.__table__.columns:
        value = getattr(row, column.key)
        values.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return "\n".join(values)


# -- Create, verify and the stored row ---------------------------------------------------------


async def test_an_email_subscription_stores_its_target_and_tokens_only_sealed_or_hashed(
    status: Status,
) -> None:
    tenant = new_tenant()
    email = unique_email("Jane.Doe")
    created = await subscribe(status, tenant, email, severity=pb.STATUS_SEVERITY_MAJOR)
    subscription = created.subscription
    assert subscription.tenant_id == tenant
    assert subscription.channel == EMAIL
    assert subscription.status == pb.SUBSCRIPTION_STATUS_PENDING_VERIFICATION
    assert subscription.target_masked == "J***@example.com"
    assert subscription.severity_filter == pb.STATUS_SEVERITY_MAJOR
    assert subscription.HasField("verification_expire_time")
    assert subscription.HasField("last_challenge_send_time")
    assert created.verification_delivered and created.delivery_error == ""
    assert created.webhook_secret == ""
    assert email not in str(created)

    [sent] = [
        m for m in status.sender.verifications if m.recipient.subscription_id == subscription.id
    ]
    assert sent.recipient.target == email
    assert sent.token.startswith("qdsv_") and sent.token in sent.verify_url
    expires = subscription.verification_expire_time.ToDatetime()
    assert timedelta(hours=23) < expires - utcnow().replace(tzinfo=None) <= timedelta(hours=24)

    row = await status.row(subscription.id)
    everything = stored_text(row)
    for secret in (email, email.lower(), sent.token, sent.recipient.unsubscribe_token):
        assert secret not in everything
    assert HASHER.decrypt(row.target_encrypted) == email
    assert row.target_hash == HASHER.target_hash("email", email.lower())
    assert row.verification_token_hash == HASHER.token_hash(sent.token)
    assert row.challenge_token_hash is None
    assert row.unsubscribe_token_hash == HASHER.token_hash(sent.recipient.unsubscribe_token)
    assert row.webhook_secret_encrypted is None
    assert row.created_by and row.metadata_json == {}


async def test_verification_activates_once_and_the_token_is_then_gone(status: Status) -> None:
    tenant = new_tenant()
    created = await subscribe(status, tenant, unique_email())
    token = status.token_for(created.subscription.id)
    verified = await status.stub.VerifyStatusSubscription(
        pb.VerifyStatusSubscriptionRequest(token=token)
    )
    assert verified.subscription.status == pb.SUBSCRIPTION_STATUS_ACTIVE
    assert not verified.subscription.HasField("verification_expire_time")
    row = await status.row(created.subscription.id)
    assert row.verification_token_hash is None and row.verification_expires_at is None

    again = await failure(
        status.stub.VerifyStatusSubscription(pb.VerifyStatusSubscriptionRequest(token=token))
    )
    assert again.code() == grpc.StatusCode.NOT_FOUND
    assert rich_error(again).reason == "TOKEN_NOT_FOUND"
    fetched = await status.stub.GetStatusSubscription(
        pb.GetStatusSubscriptionRequest(id=created.subscription.id), metadata=admin(tenant)
    )
    assert fetched.subscription.status == pb.SUBSCRIPTION_STATUS_ACTIVE


async def test_an_expired_verification_token_is_refused_and_the_target_may_subscribe_again(
    status: Status,
) -> None:
    tenant, email = new_tenant(), unique_email()
    created = await subscribe(status, tenant, email)
    token = status.token_for(created.subscription.id)
    await status.set_columns(
        created.subscription.id, verification_expires_at=utcnow() - timedelta(seconds=1)
    )
    expired = await failure(
        status.stub.VerifyStatusSubscription(pb.VerifyStatusSubscriptionRequest(token=token))
    )
    assert expired.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rich_error(expired).reason == "TOKEN_EXPIRED"
    assert (await status.row(created.subscription.id)).status is (
        SubscriptionStatus.PENDING_VERIFICATION
    )

    replacement = await subscribe(status, tenant, email)
    assert replacement.subscription.id != created.subscription.id
    old = await status.row(created.subscription.id)
    assert old.status is SubscriptionStatus.REVOKED and old.verification_token_hash is None
    assert "expired" in (old.revoked_reason or "")


async def test_a_target_subscribes_once_per_tenant(status: Status) -> None:
    tenant, email = new_tenant(), unique_email()
    first = await subscribe(status, tenant, email)
    duplicate = await failure(subscribe(status, tenant, email.upper()))
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS
    details = rich_error(duplicate)
    assert details.reason == "SUBSCRIPTION_EXISTS"
    assert details.metadata == {"subscription_id": first.subscription.id}
    assert email not in details.message

    other_tenant = await subscribe(status, new_tenant(), email)
    assert other_tenant.subscription.id != first.subscription.id
    await status.stub.RevokeStatusSubscription(
        pb.RevokeStatusSubscriptionRequest(id=first.subscription.id), metadata=admin(tenant)
    )
    resubscribed = await subscribe(status, tenant, email)
    assert resubscribed.subscription.status == pb.SUBSCRIPTION_STATUS_PENDING_VERIFICATION


async def test_creates_are_idempotent_by_request_id_without_keeping_the_target(
    status: Status,
) -> None:
    tenant, email, request_id = new_tenant(), unique_email(), str(uuid.uuid4())
    first = await subscribe(status, tenant, email, request_id=request_id)
    sent_before = len(status.sender.verifications)
    replay = await subscribe(status, tenant, email, request_id=request_id)
    assert replay.subscription.id == first.subscription.id
    assert replay.verification_delivered
    assert len(status.sender.verifications) == sent_before

    reused = await failure(subscribe(status, tenant, unique_email(), request_id=request_id))
    assert reused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in rich_error(reused).field_violations

    async with status.running.context.database.reading() as session:
        stored = (
            await session.execute(text("SELECT request_hash, response_data FROM idempotency_keys"))
        ).all()
    assert stored and all(email not in str(values) for values in stored)


@pytest.mark.parametrize(
    ("channel", "target", "fields"),
    [
        (pb.SUBSCRIPTION_CHANNEL_UNSPECIFIED, "jane@example.com", {"channel"}),
        (EMAIL, "", {"target"}),
        (EMAIL, "not-an-email", {"target"}),
        (WEBHOOK, "http://hooks.example.com/x", {"target"}),
        (WEBHOOK, "https://127.0.0.1/hook", {"target"}),
        (WEBHOOK, "https://localhost:8443/hook", {"target"}),
        (WEBHOOK, "https://10.0.0.7/hook", {"target"}),
        (WEBHOOK, "https://user:pass@hooks.example.com/x", {"target"}),
    ],
)
async def test_bad_targets_are_refused_naming_the_field(
    status: Status, channel: int, target: str, fields: set[str]
) -> None:
    tenant = new_tenant()
    refused = await failure(subscribe(status, tenant, target, channel=channel))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = rich_error(refused)
    assert set(details.field_violations) == fields
    async with status.running.context.database.reading() as session:
        count = len(
            (
                await session.scalars(
                    select(StatusSubscriptionRecord.id).where(
                        StatusSubscriptionRecord.tenant_id == uuid.UUID(tenant)
                    )
                )
            ).all()
        )
    assert count == 0


async def test_bad_severity_metadata_and_tenant_are_refused(status: Status) -> None:
    tenant = new_tenant()
    bad_severity = await failure(
        subscribe(status, tenant, unique_email(), severity=99)  # not a StatusSeverity
    )
    assert "severity_filter" in rich_error(bad_severity).field_violations
    request = pb.CreateStatusSubscriptionRequest(
        tenant_id=tenant, channel=EMAIL, target=unique_email()
    )
    request.metadata.update({"note": "x" * 5000})
    too_big = await failure(status.stub.CreateStatusSubscription(request, metadata=admin(tenant)))
    assert "metadata" in rich_error(too_big).field_violations
    bad_tenant = await failure(
        status.stub.CreateStatusSubscription(
            pb.CreateStatusSubscriptionRequest(
                tenant_id="not-a-uuid", channel=EMAIL, target=unique_email()
            ),
            metadata=ISSUER.operator(),
        )
    )
    assert "tenant_id" in rich_error(bad_tenant).field_violations


async def test_only_admins_of_the_tenant_manage_its_subscriptions(status: Status) -> None:
    tenant, other = new_tenant(), new_tenant()
    member = await failure(
        subscribe(status, tenant, unique_email(), metadata=ISSUER.member(tenant, role="member"))
    )
    assert member.code() == grpc.StatusCode.PERMISSION_DENIED
    foreign = await failure(subscribe(status, tenant, unique_email(), metadata=admin(other)))
    assert foreign.code() == grpc.StatusCode.PERMISSION_DENIED
    anonymous = await failure(
        status.stub.CreateStatusSubscription(
            pb.CreateStatusSubscriptionRequest(channel=EMAIL, target=unique_email())
        )
    )
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED

    own = await subscribe(status, tenant, unique_email())
    for call in (
        status.stub.GetStatusSubscription(
            pb.GetStatusSubscriptionRequest(id=own.subscription.id), metadata=admin(other)
        ),
        status.stub.RevokeStatusSubscription(
            pb.RevokeStatusSubscriptionRequest(id=own.subscription.id), metadata=admin(other)
        ),
        status.stub.ResendStatusVerification(
            pb.ResendStatusVerificationRequest(id=own.subscription.id), metadata=admin(other)
        ),
    ):
        hidden = await failure(call)
        assert hidden.code() == grpc.StatusCode.NOT_FOUND
    assert (await status.row(own.subscription.id)).status is (
        SubscriptionStatus.PENDING_VERIFICATION
    )
    listed = await status.stub.ListStatusSubscriptions(
        pb.ListStatusSubscriptionsRequest(), metadata=admin(other)
    )
    assert own.subscription.id not in [s.id for s in listed.subscriptions]
    by_operator = await status.stub.GetStatusSubscription(
        pb.GetStatusSubscriptionRequest(id=own.subscription.id), metadata=ISSUER.operator()
    )
    assert by_operator.subscription.tenant_id == tenant


async def test_list_pages_newest_first_with_masked_targets(status: Status) -> None:
    tenant = new_tenant()
    emails = [unique_email(f"user{i}") for i in range(3)]
    ids = [(await subscribe(status, tenant, email)).subscription.id for email in emails]
    first = await status.stub.ListStatusSubscriptions(
        pb.ListStatusSubscriptionsRequest(page_size=2), metadata=admin(tenant)
    )
    assert [s.id for s in first.subscriptions] == ids[::-1][:2] and first.next_page_token
    second = await status.stub.ListStatusSubscriptions(
        pb.ListStatusSubscriptionsRequest(page_size=2, page_token=first.next_page_token),
        metadata=admin(tenant),
    )
    assert [s.id for s in second.subscriptions] == ids[:1] and not second.next_page_token
    listed = [*first.subscriptions, *second.subscriptions]
    assert all(s.target_masked.startswith("u***@") for s in listed)
    assert not any(email in str(first) + str(second) for email in emails)

    await status.stub.RevokeStatusSubscription(
        pb.RevokeStatusSubscriptionRequest(id=ids[0]), metadata=admin(tenant)
    )
    revoked = await status.stub.ListStatusSubscriptions(
        pb.ListStatusSubscriptionsRequest(status=pb.SUBSCRIPTION_STATUS_REVOKED),
        metadata=admin(tenant),
    )
    assert [s.id for s in revoked.subscriptions] == [ids[0]]
    mismatched = await failure(
        status.stub.ListStatusSubscriptions(
            pb.ListStatusSubscriptionsRequest(
                status=pb.SUBSCRIPTION_STATUS_ACTIVE, page_token=first.next_page_token
            ),
            metadata=admin(tenant),
        )
    )
    assert "page_token" in rich_error(mismatched).field_violations


# -- Revoke, unsubscribe, resend ---------------------------------------------------------------


async def test_revoke_stops_a_subscription_for_good(status: Status) -> None:
    tenant = new_tenant()
    created = await subscribe(status, tenant, unique_email())
    token = status.token_for(created.subscription.id)
    revoked = await status.stub.RevokeStatusSubscription(
        pb.RevokeStatusSubscriptionRequest(id=created.subscription.id, reason="left the team"),
        metadata=admin(tenant),
    )
    assert revoked.subscription.status == pb.SUBSCRIPTION_STATUS_REVOKED
    assert revoked.subscription.revoked_reason == "left the team"
    assert revoked.subscription.HasField("revoke_time")
    again = await status.stub.RevokeStatusSubscription(
        pb.RevokeStatusSubscriptionRequest(id=created.subscription.id, reason="other"),
        metadata=admin(tenant),
    )
    assert again.subscription.revoked_reason == "left the team"
    late = await failure(
        status.stub.VerifyStatusSubscription(pb.VerifyStatusSubscriptionRequest(token=token))
    )
    assert late.code() == grpc.StatusCode.NOT_FOUND
    missing = await failure(
        status.stub.RevokeStatusSubscription(
            pb.RevokeStatusSubscriptionRequest(id=str(uuid.uuid4())), metadata=admin(tenant)
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    malformed = await failure(
        status.stub.RevokeStatusSubscription(
            pb.RevokeStatusSubscriptionRequest(id="nope"), metadata=admin(tenant)
        )
    )
    assert "id" in rich_error(malformed).field_violations


async def test_the_recipient_unsubscribes_with_the_token_of_any_message(status: Status) -> None:
    tenant = new_tenant()
    subscription = await active_subscription(status, tenant, unique_email())
    token = status.unsubscribe_token_for(subscription.id)
    assert token.startswith("qdsu_")
    # A caller's stale or foreign access token does not matter: the method is public.
    stale = [("authorization", "Bearer not-a-valid-token")]
    gone = await status.stub.UnsubscribeStatus(
        pb.UnsubscribeStatusRequest(token=token), metadata=stale
    )
    assert gone.subscription.status == pb.SUBSCRIPTION_STATUS_REVOKED
    assert gone.subscription.revoked_reason == "unsubscribed by the recipient"
    twice = await status.stub.UnsubscribeStatus(pb.UnsubscribeStatusRequest(token=token))
    assert twice.subscription.id == subscription.id
    unknown = await failure(
        status.stub.UnsubscribeStatus(pb.UnsubscribeStatusRequest(token="qdsu_unknown"))
    )
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    empty = await failure(status.stub.UnsubscribeStatus(pb.UnsubscribeStatusRequest()))
    assert "token" in rich_error(empty).field_violations


async def test_resend_replaces_the_token_at_most_once_a_minute(status: Status) -> None:
    tenant = new_tenant()
    created = await subscribe(status, tenant, unique_email())
    old_token = status.token_for(created.subscription.id)
    request = pb.ResendStatusVerificationRequest(id=created.subscription.id)
    too_soon = await failure(status.stub.ResendStatusVerification(request, metadata=admin(tenant)))
    assert too_soon.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(rich_error(too_soon).metadata["retry_after_ms"]) > 0

    await status.set_columns(
        created.subscription.id, last_challenge_sent_at=utcnow() - timedelta(minutes=2)
    )
    resent = await status.stub.ResendStatusVerification(request, metadata=admin(tenant))
    assert resent.verification_delivered
    new_token = status.token_for(created.subscription.id)
    assert new_token != old_token
    refused = await failure(
        status.stub.VerifyStatusSubscription(pb.VerifyStatusSubscriptionRequest(token=old_token))
    )
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    await status.stub.VerifyStatusSubscription(pb.VerifyStatusSubscriptionRequest(token=new_token))
    not_pending = await failure(
        status.stub.ResendStatusVerification(request, metadata=admin(tenant))
    )
    assert rich_error(not_pending).reason == "SUBSCRIPTION_NOT_PENDING"


# -- Notify ------------------------------------------------------------------------------------


def notify_request(tenant_id: str, severity: int, message: str = "API errors") -> Any:
    return pb.NotifyStatusRequest(
        tenant_id=tenant_id,
        component="api",
        status=pb.COMPONENT_STATUS_PARTIAL_OUTAGE,
        severity=severity,
        message=message,
    )


async def test_notify_reaches_active_subscriptions_whose_filter_it_passes(status: Status) -> None:
    tenant = new_tenant()
    everything = await active_subscription(status, tenant, unique_email("all"))
    critical_only = await active_subscription(
        status, tenant, unique_email("crit"), severity=pb.STATUS_SEVERITY_CRITICAL
    )
    pending = await subscribe(status, tenant, unique_email("pending"))
    revoked = await active_subscription(status, tenant, unique_email("revoked"))
    await status.stub.RevokeStatusSubscription(
        pb.RevokeStatusSubscriptionRequest(id=revoked.id), metadata=admin(tenant)
    )
    failing_email = unique_email("bounce")
    failing = await active_subscription(status, tenant, failing_email)
    status.sender.failing_targets.add(failing_email)
    elsewhere = await active_subscription(status, new_tenant(), unique_email("other"))

    before = len(status.sender.updates)
    result = await status.stub.NotifyStatus(
        notify_request(tenant, pb.STATUS_SEVERITY_MAJOR), metadata=ISSUER.operator()
    )
    assert (result.matched_count, result.sent_count, result.failed_count) == (2, 1, 1)
    [failure_report] = result.failures
    assert failure_report.subscription_id == failing.id
    assert failure_report.target_masked == "b***@example.com"
    assert failing_email not in str(result)
    delivered = status.sender.updates[before:]
    assert [m.recipient.subscription_id for m in delivered] == [everything.id]
    [message] = delivered
    assert message.update.component == "api" and message.update.status == "partial_outage"
    assert message.update.severity == "major"
    assert message.recipient.unsubscribe_token == status.unsubscribe_token_for(everything.id)
    assert {critical_only.id, pending.subscription.id, revoked.id, elsewhere.id}.isdisjoint(
        m.recipient.subscription_id for m in delivered
    )

    critical = await status.stub.NotifyStatus(
        notify_request(tenant, pb.STATUS_SEVERITY_CRITICAL), metadata=ISSUER.internal("tenancy")
    )
    assert (critical.matched_count, critical.sent_count, critical.failed_count) == (3, 2, 1)


async def test_platform_updates_reach_only_platform_subscriptions(status: Status) -> None:
    platform = await active_subscription(
        status, "", unique_email("platform"), metadata=ISSUER.operator()
    )
    assert platform.tenant_id == ""
    before = len(status.sender.updates)
    result = await status.stub.NotifyStatus(
        notify_request("", pb.STATUS_SEVERITY_INFO), metadata=ISSUER.operator()
    )
    reached = {m.recipient.subscription_id for m in status.sender.updates[before:]}
    assert platform.id in reached and result.sent_count == len(reached)
    assert all(m.recipient.tenant_id is None for m in status.sender.updates[before:])
    listed = await status.stub.ListStatusSubscriptions(
        pb.ListStatusSubscriptionsRequest(), metadata=ISSUER.operator()
    )
    assert all(s.tenant_id == "" for s in listed.subscriptions)
    assert platform.id in [s.id for s in listed.subscriptions]


async def test_notify_is_for_operators_and_checks_its_input(status: Status) -> None:
    tenant = new_tenant()
    refused = await failure(
        status.stub.NotifyStatus(
            notify_request(tenant, pb.STATUS_SEVERITY_MAJOR), metadata=admin(tenant)
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    bad = await failure(
        status.stub.NotifyStatus(
            pb.NotifyStatusRequest(tenant_id="x", message=""), metadata=ISSUER.operator()
        )
    )
    assert set(rich_error(bad).field_violations) == {
        "tenant_id",
        "component",
        "status",
        "severity",
        "message",
    }


async def test_without_keys_the_status_area_refuses_and_the_service_still_runs(
    backend: str, databases: Databases
) -> None:
    url = await databases.url(backend, "telemetry", "status")
    async with (
        running_service("telemetry", url, authenticator=ISSUER.authenticator()) as running,
        open_channel(running.target) as channel,
    ):
        tenant = new_tenant()
        refused = await failure(
            StatusSubscriptionServiceStub(channel).CreateStatusSubscription(
                pb.CreateStatusSubscriptionRequest(
                    tenant_id=tenant, channel=EMAIL, target=unique_email()
                ),
                metadata=admin(tenant),
            )
        )
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert rich_error(refused).reason == "STATUS_SECRETS_NOT_CONFIGURED"


# -- The webhook sender, against a local HTTP server -------------------------------------------


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookServer:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    #: Paths answering 500 from now on.
    broken: set[str] = field(default_factory=set)
    #: Set when the server stops: until then /slow never answers (longer than any sender waits).
    released: threading.Event = field(default_factory=threading.Event)

    def payloads(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(d.body) for d in self.deliveries if d.path == path]


@pytest.fixture(scope="module")
def hooks() -> Iterator[HookServer]:
    server_state: list[HookServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hook = server_state[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/ok")
            elif self.path == "/slow":
                hook.released.wait()
                self.send_response(200)
            elif self.path == "/fail" or self.path in hook.broken:
                self.send_response(500)
            else:
                self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.append(HookServer(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state[0]
    finally:
        server_state[0].released.set()
        server.shutdown()
        server.server_close()


def signature_is_valid(delivery: Delivery, secret: str) -> bool:
    parts = dict(item.split("=", 1) for item in delivery.headers[SIGNATURE_HEADER].split(","))
    signed = f"{parts['t']}.".encode() + delivery.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@pytest.fixture(scope="module")
async def webhook_status(backend: str, databases: Databases) -> AsyncIterator[Status]:
    """The real telemetry service (its own spec and sender choice) delivering over HTTP."""
    url = await databases.url(backend, "telemetry", "status")
    async with (
        running_service(
            "telemetry",
            url,
            authenticator=ISSUER.authenticator(),
            status_webhook_sender="webhook",
            status_webhook_allow_http=True,
            status_webhook_allow_private_hosts=True,
            status_webhook_timeout_seconds=0.5,
            **SECRETS,
        ) as running,
        open_channel(running.target) as channel,
    ):
        yield Status(running, StatusSubscriptionServiceStub(channel), MemorySender())


async def test_webhooks_get_a_signed_challenge_then_signed_updates(
    webhook_status: Status, hooks: HookServer
) -> None:
    status, tenant = webhook_status, new_tenant()
    path = f"/ok/{uuid.uuid4().hex}"
    target = f"{hooks.url}{path}?key=secret-in-query"
    request_id = str(uuid.uuid4())
    created = await subscribe(status, tenant, target, channel=WEBHOOK, request_id=request_id)
    assert created.verification_delivered, created.delivery_error
    assert created.subscription.target_masked == f"{hooks.url}/***"
    secret = created.webhook_secret
    assert secret.startswith("qdsw_")
    [challenge] = [d for d in hooks.deliveries if d.path.startswith(path)]
    assert challenge.headers["X-Quarterdeck-Event"] == "status_subscription.challenge"
    assert signature_is_valid(challenge, secret)
    assert not signature_is_valid(challenge, secret + "x")
    payload = json.loads(challenge.body)
    assert payload["subscription_id"] == created.subscription.id
    assert payload["challenge"].startswith("qdsc_")

    row = await status.row(created.subscription.id)
    everything = stored_text(row)
    for clear in (target, "secret-in-query", secret, payload["challenge"]):
        assert clear not in everything
    assert row.challenge_token_hash == HASHER.token_hash(payload["challenge"])
    assert HASHER.decrypt(row.webhook_secret_encrypted or b"") == secret

    replay = await subscribe(status, tenant, target, channel=WEBHOOK, request_id=request_id)
    assert replay.subscription.id == created.subscription.id
    assert replay.webhook_secret == secret
    assert len([d for d in hooks.deliveries if d.path.startswith(path)]) == 1
    await status.stub.VerifyStatusSubscription(
        pb.VerifyStatusSubscriptionRequest(token=payload["challenge"])
    )
    result = await status.stub.NotifyStatus(
        notify_request(tenant, pb.STATUS_SEVERITY_MINOR, "slow answers"),
        metadata=ISSUER.operator(),
    )
    assert (result.sent_count, result.failed_count) == (1, 0)
    [update_delivery] = [
        d
        for d in hooks.deliveries
        if d.path.startswith(path) and d.headers["X-Quarterdeck-Event"] == "status.update"
    ]
    assert signature_is_valid(update_delivery, secret)
    update_payload = json.loads(update_delivery.body)
    assert update_payload["message"] == "slow answers"
    assert update_payload["unsubscribe_token"].startswith("qdsu_")


async def test_webhook_failures_are_reported_and_counted(
    webhook_status: Status, hooks: HookServer
) -> None:
    status, tenant = webhook_status, new_tenant()
    down = await subscribe(status, tenant, f"{hooks.url}/fail", channel=WEBHOOK)
    assert not down.verification_delivered
    assert down.delivery_error == "the webhook answered HTTP 500"
    assert not down.subscription.HasField("last_challenge_send_time")

    flaky_path = f"/flaky/{uuid.uuid4().hex}"
    flaky = await subscribe(status, tenant, f"{hooks.url}{flaky_path}", channel=WEBHOOK)
    redirect = await subscribe(status, tenant, f"{hooks.url}/redirect", channel=WEBHOOK)
    slow = await subscribe(status, tenant, f"{hooks.url}/slow", channel=WEBHOOK)
    assert "redirects are not followed" in redirect.delivery_error
    assert slow.delivery_error == "the webhook did not answer in time"
    # Verified by hand for the test: these endpoints never echo a challenge.
    for created in (flaky, redirect, slow):
        await status.set_columns(
            created.subscription.id,
            status=SubscriptionStatus.ACTIVE,
            challenge_token_hash=None,
            verification_expires_at=None,
        )
    hooks.broken.add(flaky_path)
    result = await status.stub.NotifyStatus(
        notify_request(tenant, pb.STATUS_SEVERITY_CRITICAL), metadata=ISSUER.operator()
    )
    assert (result.matched_count, result.sent_count, result.failed_count) == (3, 0, 3)
    reasons = {f.subscription_id: f.reason for f in result.failures}
    assert reasons == {
        flaky.subscription.id: "the webhook answered HTTP 500",
        redirect.subscription.id: "the webhook answered HTTP 302; redirects are not followed",
        slow.subscription.id: "the webhook did not answer in time",
    }
    assert all(f.target_masked == f"{hooks.url}/***" for f in result.failures)
    assert "/redirect" not in str(result) and "/slow" not in str(result)


# -- Gateway -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def gateway(status: Status) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(
        GatewaySettings(telemetry_target=status.running.target, request_timeout_seconds=5)
    ) as client:
        yield client


async def test_gateway_routes_manage_verify_and_unsubscribe(
    gateway: httpx.AsyncClient, status: Status
) -> None:
    tenant, email = new_tenant(), unique_email("Gateway")
    as_admin = headers(admin(tenant))
    created = await gateway.post(
        "/v1/status-subscriptions",
        json={
            "channel": "email",
            "target": email,
            "severity_filter": "major",
            "metadata": {"a": 1},
        },
        headers={**as_admin, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    subscription = body["subscription"]
    assert email not in created.text
    assert subscription["target_masked"] == "G***@example.com"
    assert subscription["status"] == "pending_verification"
    assert subscription["severity_filter"] == "major" and subscription["metadata"] == {"a": 1}
    assert body["webhook_secret"] is None and body["verification_delivered"] is True
    assert created.headers["Location"] == f"/v1/status-subscriptions/{subscription['id']}"

    fetched = await gateway.get(created.headers["Location"], headers=as_admin)
    assert fetched.status_code == 200 and fetched.json()["id"] == subscription["id"]
    listed = await gateway.get("/v1/status-subscriptions?page_size=10", headers=as_admin)
    assert [s["id"] for s in listed.json()["subscriptions"]] == [subscription["id"]]
    foreign = await gateway.get(created.headers["Location"], headers=headers(admin(new_tenant())))
    assert foreign.status_code == 404 and foreign.json()["error"]["status"] == "NOT_FOUND"

    # The recipient is not signed in, or holds a token that no longer verifies.
    token = status.token_for(subscription["id"])
    verified = await gateway.post(
        "/v1/status-subscriptions/verify",
        json={"token": token},
        headers={"Authorization": "Bearer expired-or-foreign"},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "active"
    unsubscribed = await gateway.post(
        "/v1/status-subscriptions/unsubscribe",
        json={"token": status.unsubscribe_token_for(subscription["id"])},
    )
    assert unsubscribed.status_code == 200, unsubscribed.text
    assert unsubscribed.json()["status"] == "revoked"
    assert unsubscribed.json()["revoked_reason"] == "unsubscribed by the recipient"


async def test_gateway_revokes_resends_and_refuses_bad_input(gateway: httpx.AsyncClient) -> None:
    tenant = new_tenant()
    as_admin = headers(admin(tenant))
    created = await gateway.post(
        "/v1/status-subscriptions",
        json={"channel": "email", "target": unique_email()},
        headers=as_admin,
    )
    subscription_id = created.json()["subscription"]["id"]
    too_soon = await gateway.post(
        f"/v1/status-subscriptions/{subscription_id}:resend-verification", headers=as_admin
    )
    assert too_soon.status_code == 429
    revoked = await gateway.post(
        f"/v1/status-subscriptions/{subscription_id}:revoke",
        json={"reason": "no longer needed"},
        headers=as_admin,
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_reason"] == "no longer needed"
    again = await gateway.post(
        f"/v1/status-subscriptions/{subscription_id}:revoke", headers=as_admin
    )
    assert again.status_code == 200, again.text
    assert again.json()["revoked_reason"] == "no longer needed"

    bad = await gateway.post(
        "/v1/status-subscriptions",
        json={"channel": "webhook", "target": "http://hooks.example.com/x"},
        headers=as_admin,
    )
    assert bad.status_code == 400
    [violation] = [d for d in bad.json()["error"]["details"] if "fieldViolations" in d]
    assert [v["field"] for v in violation["fieldViolations"]] == ["target"]
    unknown_channel = await gateway.post(
        "/v1/status-subscriptions", json={"channel": "sms", "target": "x"}, headers=as_admin
    )
    assert unknown_channel.status_code == 400
    bad_token = await gateway.post("/v1/status-subscriptions/verify", json={"token": "qdsv_nope"})
    assert bad_token.status_code == 404
    anonymous = await gateway.get("/v1/status-subscriptions")
    assert anonymous.status_code == 401


async def test_concurrent_creates_of_one_target_make_one_subscription(status: Status) -> None:
    tenant, email = new_tenant(), unique_email("race")
    results = await asyncio.gather(
        *(subscribe(status, tenant, email) for _ in range(4)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, pb.CreateStatusSubscriptionResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(created) == 1 and len(refused) == 3
    assert all(r.code() == grpc.StatusCode.ALREADY_EXISTS for r in refused)


# -- The SMTP sender, against a local mail server ----------------------------------------------


@dataclass
class MailServer:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)


@asynccontextmanager
async def mail_server() -> AsyncIterator[MailServer]:
    """Just enough SMTP for smtplib: recipients containing "bounce" are refused (550)."""
    state = MailServer(port=0)

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await reply("220 test ESMTP")
        while line := await reader.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "RCPT" and "bounce" in command.lower():
                await reply("550 no such mailbox")
            elif verb == "DATA":
                await reply("354 end with .")
                data = b""
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                parsed = message_from_bytes(data, policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                state.messages.append(parsed)
                await reply("250 queued")
            elif verb == "QUIT":
                await reply("221 bye")
                break
            else:
                await reply("250 OK")
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def test_emails_go_out_over_smtp_with_their_links(backend: str, databases: Databases) -> None:
    url = await databases.url(backend, "telemetry", "status")
    async with (
        mail_server() as mail,
        running_service(
            "telemetry",
            url,
            authenticator=ISSUER.authenticator(),
            status_email_sender="smtp",
            status_smtp_port=mail.port,
            status_link_base_url="https://status.example.com",
            **SECRETS,
        ) as running,
        open_channel(running.target) as channel,
    ):
        status = Status(running, StatusSubscriptionServiceStub(channel), MemorySender())
        tenant, email = new_tenant(), unique_email("mail")
        created = await subscribe(status, tenant, email)
        assert created.verification_delivered, created.delivery_error
        [confirmation] = mail.messages
        assert confirmation["To"] == email
        assert confirmation["Subject"] == "Confirm your Quarterdeck status subscription"
        content = confirmation.get_content()
        token = re.search(r"qdsv_[A-Za-z0-9_-]+", content)
        assert token is not None
        assert f"https://status.example.com/status/verify?token={token[0]}" in content
        assert confirmation["List-Unsubscribe"].startswith(
            "<https://status.example.com/status/unsubscribe?token=qdsu_"
        )
        await status.stub.VerifyStatusSubscription(
            pb.VerifyStatusSubscriptionRequest(token=token[0])
        )

        bounced = await subscribe(status, tenant, unique_email("bounce"))
        assert not bounced.verification_delivered
        assert bounced.delivery_error == "the mail server refused the recipient"
        await status.set_columns(
            bounced.subscription.id,
            status=SubscriptionStatus.ACTIVE,
            verification_token_hash=None,
            verification_expires_at=None,
        )
        result = await status.stub.NotifyStatus(
            notify_request(tenant, pb.STATUS_SEVERITY_MAJOR), metadata=ISSUER.operator()
        )
        assert (result.sent_count, result.failed_count) == (1, 1)
        [failed] = result.failures
        assert failed.subscription_id == bounced.subscription.id
        update_mail = mail.messages[-1]
        assert update_mail["To"] == email
        assert update_mail["Subject"] == "[major] api: partial outage"
        assert "API errors" in update_mail.get_content()


async def test_encryption_keys_rotate_without_losing_stored_targets(
    status: Status, backend: str, databases: Databases
) -> None:
    tenant, email = new_tenant(), unique_email("rotated")
    before = await active_subscription(status, tenant, email)
    new_key = Fernet.generate_key().decode()
    url = await databases.url(backend, "telemetry", "status")
    sender = MemorySender()
    async with (
        recorded_status_service(
            url, sender, status_encryption_keys=f"{new_key},{ENCRYPTION_KEY}"
        ) as running,
        open_channel(running.target) as channel,
    ):
        rotated = Status(running, StatusSubscriptionServiceStub(channel), sender)
        after = await subscribe(rotated, tenant, unique_email("fresh"))
        result = await rotated.stub.NotifyStatus(
            notify_request(tenant, pb.STATUS_SEVERITY_INFO), metadata=ISSUER.operator()
        )
        assert (result.sent_count, result.failed_count) == (1, 0)
        [delivered] = sender.updates
        assert delivered.recipient.subscription_id == before.id
        assert delivered.recipient.target == email
        fresh_row = await rotated.row(after.subscription.id)
    only_new = StatusSecrets.create([new_key], SECRETS["status_hashing_key"])
    assert only_new.decrypt(fresh_row.target_encrypted).startswith("fresh.")
    with pytest.raises(UnreadableSecret):
        HASHER.decrypt(fresh_row.target_encrypted)

    # Re-sealing puts every row under the first key, so the old one can go; then back again,
    # for the tests that read rows with the old key.
    both = StatusSecrets.create([new_key, ENCRYPTION_KEY], SECRETS["status_hashing_key"])
    database = status.running.context.database
    report = await reseal_status_subscriptions(database, both, batch_size=3)
    assert report.resealed >= 2 and report.unreadable == []
    old_row = await status.row(before.id)
    assert only_new.decrypt(old_row.target_encrypted) == email
    assert only_new.decrypt(old_row.unsubscribe_token_encrypted or b"").startswith("qdsu_")
    with pytest.raises(UnreadableSecret):
        HASHER.decrypt(old_row.target_encrypted)
    back = StatusSecrets.create([ENCRYPTION_KEY, new_key], SECRETS["status_hashing_key"])
    assert (await reseal_status_subscriptions(database, back)).unreadable == []
    assert HASHER.decrypt((await status.row(before.id)).target_encrypted) == email


async def test_a_tenant_has_at_most_the_configured_live_subscriptions(
    backend: str, databases: Databases
) -> None:
    url = await databases.url(backend, "telemetry", "status")
    sender = MemorySender()
    async with (
        recorded_status_service(url, sender, status_max_live_subscriptions=2) as running,
        open_channel(running.target) as channel,
    ):
        limited = Status(running, StatusSubscriptionServiceStub(channel), sender)
        tenant = new_tenant()
        first = await subscribe(limited, tenant, unique_email())
        await subscribe(limited, tenant, unique_email())
        full = await failure(subscribe(limited, tenant, unique_email()))
        assert full.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert rich_error(full).reason == "SUBSCRIPTION_LIMIT_REACHED"
        assert len(sender.verifications) == 2
        await subscribe(limited, new_tenant(), unique_email())  # another tenant's own limit
        await limited.stub.RevokeStatusSubscription(
            pb.RevokeStatusSubscriptionRequest(id=first.subscription.id), metadata=admin(tenant)
        )
        await subscribe(limited, tenant, unique_email())


async def test_the_rotate_status_keys_command_reseals_every_subscription(
    backend: str,
    databases: Databases,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from services.cli import main as cli_main

    url = await databases.url(backend, "telemetry", "status-cli")
    sender = MemorySender()
    email = unique_email("rotated")
    async with (
        recorded_status_service(url, sender) as running,
        open_channel(running.target) as channel,
    ):
        status = Status(running, StatusSubscriptionServiceStub(channel), sender)
        created = await subscribe(status, new_tenant(), email)

    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("QD_TELEMETRY_DATABASE_URL", url)
    monkeypatch.setenv("QD_TELEMETRY_STATUS_ENCRYPTION_KEYS", f"{new_key},{ENCRYPTION_KEY}")
    monkeypatch.setenv("QD_TELEMETRY_STATUS_HASHING_KEY", SECRETS["status_hashing_key"])
    assert await asyncio.to_thread(cli_main, ["rotate-status-keys", "--batch-size", "1"]) == 0
    assert "status subscriptions re-encrypted: 1," in capsys.readouterr().out

    async with recorded_status_service(url, sender) as running:
        row = await Status(running, None, sender).row(created.subscription.id)  # type: ignore[arg-type]
    only_new = StatusSecrets.create([new_key], SECRETS["status_hashing_key"])
    assert only_new.decrypt(row.target_encrypted) == email
    with pytest.raises(UnreadableSecret):
        HASHER.decrypt(row.target_encrypted)

    # Without the keys the command refuses, naming the setting.
    monkeypatch.delenv("QD_TELEMETRY_STATUS_ENCRYPTION_KEYS")
    assert await asyncio.to_thread(cli_main, ["rotate-status-keys"]) == 2
    assert "QD_TELEMETRY_STATUS_ENCRYPTION_KEYS" in capsys.readouterr().err
