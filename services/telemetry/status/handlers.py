"""Status subscriptions (seed 001), free of any transport.

Who may do what: tenant admins manage their tenant's subscriptions; platform operators and
Quarterdeck services manage any tenant's, and the platform's own (an empty ``tenant_id``).
VerifyStatusSubscription and UnsubscribeStatus need no caller: the token is the credential.
NotifyStatus is for operators and Quarterdeck services.

Nothing a caller sends as a target is kept or answered in clear (see ``status.secrets``): the
row holds it encrypted, HMAC-hashed and masked; even the idempotency record of a create holds a
fingerprint of the request with the target replaced by its HMAC. Tokens are random, go to the
recipient through the sender, and are stored as HMAC hashes; verification and challenge tokens
are sent once, work once and expire (``status_verification_ttl_seconds``), while the unsubscribe
token never expires and is also kept encrypted (seed 001's ``unsubscribe_token_encrypted``),
because every update must carry it. Deliveries happen outside any database transaction, so a
slow webhook never holds a lock. :func:`reseal_status_subscriptions` re-encrypts every row under
the first key after a key rotation.
"""

from __future__ import annotations

import asyncio
import builtins
import ipaddress
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from google.protobuf.json_format import MessageToDict
from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.telemetry.v1 import status_pb2 as pb
from services.telemetry.config import TelemetrySettings
from services.telemetry.context import TelemetryContext
from services.telemetry.status.convert import (
    CHANNELS,
    SEVERITIES,
    STATUSES,
    subscription_to_proto,
)
from services.telemetry.status.models import (
    SEVERITY_RANK,
    StatusSubscriptionRecord,
    SubscriptionChannel,
    SubscriptionSeverity,
    SubscriptionStatus,
)
from services.telemetry.status.secrets import (
    CHALLENGE_PREFIX,
    UNSUBSCRIBE_PREFIX,
    VERIFICATION_PREFIX,
    WEBHOOK_SECRET_PREFIX,
    StatusSecrets,
    UnreadableSecret,
    mask_email,
    mask_url,
    require_secrets,
)
from services.telemetry.status.senders import (
    DeliveryError,
    Recipient,
    StatusSender,
    StatusUpdate,
    UpdateMessage,
    VerificationMessage,
    is_public_address,
)
from shared.auth import Principal, require_operator, require_principal
from shared.db import Database
from shared.db_types import utcnow
from shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from shared.ids import parse_id
from shared.pagination import fetch_page
from shared.proto_enums import to_proto_map
from shared.secret_box import DEFAULT_BATCH_SIZE, ResealReport, reseal_rows
from shared.tenant_scope import tenant_for_write

log = logging.getLogger("quarterdeck.telemetry.status")

MAX_EMAIL = 254
MAX_EMAIL_LOCAL = 64
MAX_URL = 2048
MAX_TOKEN = 512
MAX_REASON = 500
MAX_COMPONENT = 128
MAX_MESSAGE = 4000
MAX_METADATA_BYTES = 4096
MAX_REPORTED_FAILURES = 100
NOTIFY_BATCH = 500
RESEND_INTERVAL = timedelta(minutes=1)
#: Host names that always mean this machine or its private network.
PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")

_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DNS_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

COMPONENT_STATUSES = {
    number: value
    for value, number in to_proto_map(
        pb.ComponentStatus,
        (
            "operational",
            "degraded_performance",
            "partial_outage",
            "major_outage",
            "under_maintenance",
        ),
    ).items()
}


# -- Targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A validated target: as given (encrypted for delivery), normalized (hashed), masked."""

    channel: SubscriptionChannel
    value: str
    normalized: str
    masked: str


def _host_is_private(host: str) -> bool:
    try:
        return not is_public_address(host)
    except ValueError:  # a name, not an address literal
        name = host.lower().rstrip(".")
        return name == "localhost" or name.endswith(PRIVATE_SUFFIXES) or "." not in name


def email_problem(address: str) -> str | None:
    """What is wrong with the syntax of ``address`` (never repeating it), or None."""
    if len(address) > MAX_EMAIL:
        return f"must be at most {MAX_EMAIL} characters"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "must be an email address such as jane@example.com"
    if len(local) > MAX_EMAIL_LOCAL or not _EMAIL_LOCAL.fullmatch(local):
        return "must be an email address such as jane@example.com (its part before @ is invalid)"
    labels = domain.split(".")
    if (
        len(labels) < 2
        or not all(_DNS_LABEL.fullmatch(label) for label in labels)
        or not labels[-1].isalpha()
    ):
        return "must be an email address with a domain such as example.com"
    return None


def webhook_problem(url: str, settings: TelemetrySettings) -> str | None:
    """What is wrong with ``url`` as a webhook (never repeating it), or None."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        return "must be an ASCII URL without spaces (use the punycode form of host names)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "must be a valid URL"
    allowed = ("https", "http") if settings.status_webhook_allow_http else ("https",)
    if parts.scheme.lower() not in allowed:
        return "must be an https:// URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials; the signature header authenticates deliveries"
    if parts.fragment:
        return "must not contain a fragment (#...)"
    if not settings.status_webhook_allow_private_hosts and _host_is_private(parts.hostname):
        return "must not point to a loopback, private or link-local host"
    return None


def _normalized_url(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{ipaddress.ip_address(host).compressed}]"
    default_port = {"https": 443, "http": 80}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port not in (None, default_port) else ""
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{host}{port}{path}{query}"


def parse_target(
    channel_value: pb.SubscriptionChannel, target: str, settings: TelemetrySettings
) -> tuple[Target | None, list[FieldViolation]]:
    violations: list[FieldViolation] = []
    channel = CHANNELS.get(channel_value)
    if channel is None:
        violations.append(FieldViolation("channel", "must be email or webhook"))
    if not target:
        violations.append(FieldViolation("target", "is required"))
    if channel is None or not target:
        return None, violations
    if channel is SubscriptionChannel.EMAIL:
        if problem := email_problem(target):
            return None, [FieldViolation("target", problem)]
        return Target(channel, target, target.lower(), mask_email(target)), []
    if problem := webhook_problem(target, settings):
        return None, [FieldViolation("target", problem)]
    return Target(channel, target, _normalized_url(target), mask_url(target)), []


# -- Conversions and scope ---------------------------------------------------------------------


def managed_tenant(requested: str, field: str = "tenant_id") -> uuid.UUID | None:
    """The tenant a management call acts on; None is the platform's own subscriptions.

    Operators and Quarterdeck services name any tenant, or none for the platform; a tenant's
    users act on their token's tenant (``requested`` empty or the same) and must be admins.
    """
    principal = require_principal()
    if principal.is_operator or principal.is_internal:
        return parse_id(requested, field) if requested else None
    return parse_id(tenant_for_write(requested, field, minimum_role="admin"), field)


def _require_manager_of(principal: Principal, row: StatusSubscriptionRecord | None) -> None:
    """Another tenant's row answers exactly as a missing one."""
    if principal.is_operator or principal.is_internal:
        if row is None:
            raise NotFound("status subscription not found", reason="SUBSCRIPTION_NOT_FOUND")
        return
    if row is None or row.tenant_id is None or str(row.tenant_id) != principal.tenant_id:
        raise NotFound("status subscription not found", reason="SUBSCRIPTION_NOT_FOUND")


async def _managed_row(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> StatusSubscriptionRecord:
    """The subscription, if the caller manages it (else NotFound, as for a missing one)."""
    row = await session.get(StatusSubscriptionRecord, subscription_id, with_for_update=for_update)
    _require_manager_of(principal, row)
    assert row is not None
    return row


def _require_manager() -> Principal:
    principal = require_principal()
    if principal.is_operator or principal.is_internal:
        return principal
    tenant_for_write("", minimum_role="admin")
    return principal


def _token_problem(token: str) -> str | None:
    if not token:
        return "is required"
    if len(token) > MAX_TOKEN or not token.isascii() or not token.isprintable():
        return "is not a token this service issued"
    return None


def _unsubscribe_url(settings: TelemetrySettings, token: str) -> str:
    return f"{settings.status_link_base_url.rstrip('/')}/status/unsubscribe?token={quote(token)}"


def _verify_url(settings: TelemetrySettings, token: str) -> str:
    return f"{settings.status_link_base_url.rstrip('/')}/status/verify?token={quote(token)}"


def _revoke(row: StatusSubscriptionRecord, reason: str) -> None:
    now = utcnow()
    row.status = SubscriptionStatus.REVOKED
    row.revoked_at = now
    row.revoked_reason = reason
    row.updated_at = now
    # Verification can never succeed again; the unsubscribe hash stays, so a recipient clicking
    # an old link still gets an answer.
    row.verification_token_hash = None
    row.challenge_token_hash = None
    row.verification_expires_at = None


@dataclass(frozen=True)
class IssuedChallenge:
    """Plain values of a challenge, in memory only until it is sent."""

    token: str
    expires_at: datetime


@dataclass
class Delivery:
    delivered: bool = False
    error: str = ""


class StatusSubscriptionHandlers:
    def __init__(self, context: TelemetryContext, sender: StatusSender) -> None:
        self._db = context.database
        self._idempotency = context.idempotency
        self._page_tokens = context.page_tokens
        self._settings = context.settings
        self._secrets = StatusSecrets.from_settings(context.settings)
        self._sender = sender

    # -- helpers ---------------------------------------------------------------------------

    def _token_hash(self, token: str) -> str:
        """The stored hash of a verify or unsubscribe link's token, once it looks like one."""
        if problem := _token_problem(token):
            raise InvalidArgument.field("token", problem)
        return require_secrets(self._secrets).token_hash(token)

    def _new_challenge(
        self, secrets: StatusSecrets, row: StatusSubscriptionRecord
    ) -> IssuedChallenge:
        """Puts a fresh verification (email) or challenge (webhook) token's hash on ``row``."""
        expires_at = utcnow() + timedelta(seconds=self._settings.status_verification_ttl_seconds)
        if row.channel is SubscriptionChannel.EMAIL:
            token = secrets.new_token(VERIFICATION_PREFIX)
            row.verification_token_hash, row.challenge_token_hash = secrets.token_hash(token), None
        else:
            token = secrets.new_token(CHALLENGE_PREFIX)
            row.challenge_token_hash, row.verification_token_hash = secrets.token_hash(token), None
        row.verification_expires_at = expires_at
        return IssuedChallenge(token, expires_at)

    def _recipient(self, secrets: StatusSecrets, row: StatusSubscriptionRecord) -> Recipient:
        unsubscribe = secrets.decrypt(row.unsubscribe_token_encrypted or b"")
        return Recipient(
            subscription_id=str(row.id),
            tenant_id=str(row.tenant_id) if row.tenant_id else None,
            channel=row.channel,
            target=secrets.decrypt(row.target_encrypted),
            target_masked=row.target_masked,
            unsubscribe_token=unsubscribe,
            unsubscribe_url=_unsubscribe_url(self._settings, unsubscribe),
            webhook_secret=(
                secrets.decrypt(row.webhook_secret_encrypted)
                if row.webhook_secret_encrypted
                else None
            ),
        )

    async def _send_challenge(
        self, secrets: StatusSecrets, row: StatusSubscriptionRecord, challenge: IssuedChallenge
    ) -> Delivery:
        """Sends the challenge; on success records when, in a transaction of its own."""
        try:
            await self._sender.send_verification(
                VerificationMessage(
                    recipient=self._recipient(secrets, row),
                    token=challenge.token,
                    verify_url=_verify_url(self._settings, challenge.token),
                    expires_at=challenge.expires_at,
                )
            )
        except DeliveryError as error:
            return Delivery(False, error.reason)
        except UnreadableSecret:
            return Delivery(False, "the stored target does not open with any configured key")
        async with self._db.transaction() as session:
            stored = await session.get(StatusSubscriptionRecord, row.id)
            if stored is not None:
                stored.last_challenge_sent_at = utcnow()
                row.last_challenge_sent_at = stored.last_challenge_sent_at
        return Delivery(True)

    async def _lock_target(self, session: AsyncSession, target_hash: str) -> None:
        """Serializes creates of one target, so two concurrent ones cannot both pass the
        duplicate check (SQLite's write transactions are serialized already)."""
        if self._db.dialect == "postgresql":
            key = int(target_hash[:15], 16)
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    # -- RPCs ------------------------------------------------------------------------------

    async def create(
        self, request: pb.CreateStatusSubscriptionRequest
    ) -> pb.CreateStatusSubscriptionResponse:
        tenant_id = managed_tenant(request.tenant_id)
        principal = require_principal()
        target, violations = parse_target(request.channel, request.target, self._settings)
        severity = SubscriptionSeverity.INFO
        if request.severity_filter != pb.STATUS_SEVERITY_UNSPECIFIED:
            if request.severity_filter not in SEVERITIES:
                violations.append(FieldViolation("severity_filter", "is not a known severity"))
            else:
                severity = SEVERITIES[request.severity_filter]
        metadata: dict[str, Any] = MessageToDict(request.metadata)
        if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
            violations.append(
                FieldViolation("metadata", f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
            )
        if violations:
            raise InvalidArgument(violations)
        assert target is not None
        secrets = require_secrets(self._secrets)
        target_hash = secrets.target_hash(target.channel.value, target.normalized)
        issued: dict[str, Any] = {}

        async def create_in(session: AsyncSession) -> pb.CreateStatusSubscriptionResponse:
            await self._lock_target(session, target_hash)
            await self._refuse_duplicate(session, tenant_id, target_hash)
            unsubscribe = secrets.new_token(UNSUBSCRIBE_PREFIX)
            webhook_secret = (
                secrets.new_token(WEBHOOK_SECRET_PREFIX)
                if target.channel is SubscriptionChannel.WEBHOOK
                else None
            )
            row = StatusSubscriptionRecord(
                id=uuid.uuid4(),
                channel=target.channel,
                target_hash=target_hash,
                target_masked=target.masked,
                target_encrypted=secrets.encrypt(target.value),
                severity_filter=severity,
                status=SubscriptionStatus.PENDING_VERIFICATION,
                tenant_id=tenant_id,
                metadata_json=metadata,
                created_by=principal.subject[:64],
                unsubscribe_token_hash=secrets.token_hash(unsubscribe),
                unsubscribe_token_encrypted=secrets.encrypt(unsubscribe),
                webhook_secret_encrypted=(
                    secrets.encrypt(webhook_secret) if webhook_secret else None
                ),
            )
            issued["challenge"] = self._new_challenge(secrets, row)
            session.add(row)
            await session.flush()
            issued["row"] = row
            # No webhook secret here: this response is stored for replays; it is added below.
            return pb.CreateStatusSubscriptionResponse(subscription=subscription_to_proto(row))

        # The stored fingerprint of the request must not be a plain hash of the target either.
        fingerprint = pb.CreateStatusSubscriptionRequest()
        fingerprint.CopyFrom(request)
        fingerprint.target = target_hash
        response = await self._idempotency.run(
            endpoint="CreateStatusSubscription",
            request=fingerprint,
            response_type=pb.CreateStatusSubscriptionResponse,
            create=create_in,
            resource_id_of=lambda reply: reply.subscription.id,
            scope=f"status:{tenant_id or 'platform'}",
        )
        created: StatusSubscriptionRecord | None = issued.get("row")
        if created is not None and str(created.id) == response.subscription.id:
            row = created
            delivery = await self._send_challenge(secrets, row, issued["challenge"])
            response.verification_delivered = delivery.delivered
            response.delivery_error = delivery.error
            response.subscription.CopyFrom(subscription_to_proto(row))
        else:  # a replay: the secret is read back for the same caller
            async with self._db.reading() as session:
                row_or_none = await session.get(
                    StatusSubscriptionRecord, uuid.UUID(response.subscription.id)
                )
            if row_or_none is None:
                raise NotFound("status subscription not found", reason="SUBSCRIPTION_NOT_FOUND")
            row = row_or_none
            response.verification_delivered = row.last_challenge_sent_at is not None
        if row.webhook_secret_encrypted:
            response.webhook_secret = secrets.decrypt(row.webhook_secret_encrypted)
        return response

    async def _refuse_duplicate(
        self, session: AsyncSession, tenant_id: uuid.UUID | None, target_hash: str
    ) -> None:
        """Refuses a target already live in the scope (an expired, never verified one is
        replaced), and a scope at its limit of live subscriptions."""
        model = StatusSubscriptionRecord
        live_in_scope = (
            model.tenant_id.is_(None) if tenant_id is None else model.tenant_id == tenant_id,
            model.status != SubscriptionStatus.REVOKED,
        )
        same_target = await session.scalars(
            select(model).where(model.target_hash == target_hash, *live_in_scope)
        )
        now = utcnow()
        for existing in same_target.all():
            expired = (
                existing.status is SubscriptionStatus.PENDING_VERIFICATION
                and existing.verification_expires_at is not None
                and existing.verification_expires_at <= now
            )
            if expired:  # never verified: the new subscription replaces it
                _revoke(existing, "verification expired; replaced by a new subscription")
                continue
            raise AlreadyExists(
                "this target is already subscribed",
                reason="SUBSCRIPTION_EXISTS",
                metadata={"subscription_id": str(existing.id)},
            )
        await session.flush()  # a replaced subscription no longer counts below
        live = await session.scalar(select(func.count()).select_from(model).where(*live_in_scope))
        limit = self._settings.status_max_live_subscriptions
        if (live or 0) >= limit:
            raise ResourceExhausted(
                f"at most {limit} subscriptions may be live at once; revoke some first",
                reason="SUBSCRIPTION_LIMIT_REACHED",
            )

    async def verify(
        self, request: pb.VerifyStatusSubscriptionRequest
    ) -> pb.VerifyStatusSubscriptionResponse:
        token_hash = self._token_hash(request.token)
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(StatusSubscriptionRecord)
                .where(
                    or_(
                        StatusSubscriptionRecord.verification_token_hash == token_hash,
                        StatusSubscriptionRecord.challenge_token_hash == token_hash,
                    )
                )
                .with_for_update()
            )
            if row is None or row.status is SubscriptionStatus.REVOKED:
                raise NotFound(
                    "no subscription waits for this token; it may have been used already",
                    reason="TOKEN_NOT_FOUND",
                )
            if row.verification_expires_at is None or row.verification_expires_at <= utcnow():
                raise FailedPrecondition(
                    "this token has expired; ask for a new verification",
                    reason="TOKEN_EXPIRED",
                )
            row.status = SubscriptionStatus.ACTIVE
            row.verification_token_hash = None
            row.challenge_token_hash = None
            row.verification_expires_at = None
            row.updated_at = utcnow()
            await session.flush()
            return pb.VerifyStatusSubscriptionResponse(subscription=subscription_to_proto(row))

    async def unsubscribe(
        self, request: pb.UnsubscribeStatusRequest
    ) -> pb.UnsubscribeStatusResponse:
        token_hash = self._token_hash(request.token)
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(StatusSubscriptionRecord)
                .where(StatusSubscriptionRecord.unsubscribe_token_hash == token_hash)
                .with_for_update()
            )
            if row is None:
                raise NotFound(
                    "no subscription has this unsubscribe token", reason="TOKEN_NOT_FOUND"
                )
            if row.status is not SubscriptionStatus.REVOKED:
                _revoke(row, "unsubscribed by the recipient")
                await session.flush()
            return pb.UnsubscribeStatusResponse(subscription=subscription_to_proto(row))

    async def resend_verification(
        self, request: pb.ResendStatusVerificationRequest
    ) -> pb.ResendStatusVerificationResponse:
        principal = _require_manager()
        subscription_id = parse_id(request.id, "id")
        secrets = require_secrets(self._secrets)
        async with self._db.transaction() as session:
            row = await _managed_row(session, principal, subscription_id, for_update=True)
            if row.status is not SubscriptionStatus.PENDING_VERIFICATION:
                raise FailedPrecondition(
                    f"the subscription is {row.status.value}, not pending verification",
                    reason="SUBSCRIPTION_NOT_PENDING",
                )
            last = row.last_challenge_sent_at
            if last is not None and utcnow() - last < RESEND_INTERVAL:
                wait = RESEND_INTERVAL - (utcnow() - last)
                raise ResourceExhausted(
                    "a verification was sent less than a minute ago; retry later",
                    reason="RESEND_TOO_SOON",
                    metadata={"retry_after_ms": str(max(1, int(wait.total_seconds() * 1000)))},
                )
            challenge = self._new_challenge(secrets, row)
            row.updated_at = utcnow()
            await session.flush()
        delivery = await self._send_challenge(secrets, row, challenge)
        return pb.ResendStatusVerificationResponse(
            subscription=subscription_to_proto(row),
            verification_delivered=delivery.delivered,
            delivery_error=delivery.error,
        )

    async def revoke(
        self, request: pb.RevokeStatusSubscriptionRequest
    ) -> pb.RevokeStatusSubscriptionResponse:
        principal = _require_manager()
        subscription_id = parse_id(request.id, "id")
        if len(request.reason) > MAX_REASON:
            raise InvalidArgument.field("reason", f"must be at most {MAX_REASON} characters")
        async with self._db.transaction() as session:
            row = await _managed_row(session, principal, subscription_id, for_update=True)
            if row.status is not SubscriptionStatus.REVOKED:
                _revoke(row, request.reason or "revoked by an administrator")
                await session.flush()
            return pb.RevokeStatusSubscriptionResponse(subscription=subscription_to_proto(row))

    async def get(
        self, request: pb.GetStatusSubscriptionRequest
    ) -> pb.GetStatusSubscriptionResponse:
        principal = _require_manager()
        subscription_id = parse_id(request.id, "id")
        async with self._db.reading() as session:
            row = await _managed_row(session, principal, subscription_id)
        return pb.GetStatusSubscriptionResponse(subscription=subscription_to_proto(row))

    async def list(
        self, request: pb.ListStatusSubscriptionsRequest
    ) -> pb.ListStatusSubscriptionsResponse:
        tenant_id = managed_tenant(request.tenant_id)
        status = None
        if request.status != pb.SUBSCRIPTION_STATUS_UNSPECIFIED:
            status = STATUSES.get(request.status)
            if status is None:
                raise InvalidArgument.field("status", "is not a known subscription status")
        model = StatusSubscriptionRecord
        statement: Select[tuple[StatusSubscriptionRecord]] = select(model).where(
            model.tenant_id.is_(None) if tenant_id is None else model.tenant_id == tenant_id
        )
        if status is not None:
            statement = statement.where(model.status == status)
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=[model.created_at, model.id],
                codec=self._page_tokens,
                query="ListStatusSubscriptions",
                filters={
                    "tenant_id": str(tenant_id or "platform"),
                    "status": status.value if status else "",
                },
                page_size=request.page_size,
                page_token=request.page_token,
                descending=True,
            )
        return pb.ListStatusSubscriptionsResponse(
            subscriptions=[subscription_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def notify(self, request: pb.NotifyStatusRequest) -> pb.NotifyStatusResponse:
        require_operator()
        violations: builtins.list[FieldViolation] = []
        tenant_id: uuid.UUID | None = None
        if request.tenant_id:
            try:
                tenant_id = uuid.UUID(request.tenant_id)
            except ValueError:
                violations.append(FieldViolation("tenant_id", "must be a UUID"))
        component = request.component
        if not component or len(component) > MAX_COMPONENT or not component.isprintable():
            violations.append(
                FieldViolation("component", f"must be 1 to {MAX_COMPONENT} printable characters")
            )
        component_status = COMPONENT_STATUSES.get(request.status)
        if component_status is None:
            violations.append(FieldViolation("status", "must be a component status"))
        severity = SEVERITIES.get(request.severity)
        if severity is None:
            violations.append(FieldViolation("severity", "must be info, minor, major or critical"))
        if not request.message.strip() or len(request.message) > MAX_MESSAGE:
            violations.append(FieldViolation("message", f"must be 1 to {MAX_MESSAGE} characters"))
        if violations:
            raise InvalidArgument(violations)
        assert severity is not None and component_status is not None
        secrets = require_secrets(self._secrets)
        update = StatusUpdate(
            tenant_id=str(tenant_id) if tenant_id else None,
            component=component,
            status=component_status,
            severity=severity.value,
            message=request.message,
            time=utcnow(),
        )
        reached = [s for s, rank in SEVERITY_RANK.items() if rank <= SEVERITY_RANK[severity]]
        response = pb.NotifyStatusResponse()
        async for batch in self._active_batches(tenant_id, reached):
            response.matched_count += len(batch)
            for row, failure in zip(
                batch, await self._deliver(secrets, batch, update), strict=True
            ):
                if failure is None:
                    response.sent_count += 1
                    continue
                response.failed_count += 1
                if len(response.failures) < MAX_REPORTED_FAILURES:
                    response.failures.append(
                        pb.DeliveryFailure(
                            subscription_id=str(row.id),
                            target_masked=row.target_masked,
                            reason=failure,
                        )
                    )
        log.info(
            "status update for %s (%s, %s): %d matched, %d sent, %d failed",
            update.tenant_id or "the platform",
            update.component,
            update.severity,
            response.matched_count,
            response.sent_count,
            response.failed_count,
        )
        return response

    async def _active_batches(
        self, tenant_id: uuid.UUID | None, severities: Sequence[SubscriptionSeverity]
    ) -> AsyncIterator[builtins.list[StatusSubscriptionRecord]]:
        """Active subscriptions the update reaches, in id order, one batch per read."""
        model = StatusSubscriptionRecord
        after: uuid.UUID | None = None
        while True:
            statement = (
                select(model)
                .where(
                    model.tenant_id.is_(None)
                    if tenant_id is None
                    else model.tenant_id == tenant_id,
                    model.status == SubscriptionStatus.ACTIVE,
                    model.severity_filter.in_(list(severities)),
                )
                .order_by(model.id)
                .limit(NOTIFY_BATCH)
            )
            if after is not None:
                statement = statement.where(model.id > after)
            async with self._db.reading() as session:
                batch = list((await session.scalars(statement)).all())
            if not batch:
                return
            yield batch
            if len(batch) < NOTIFY_BATCH:
                return
            after = batch[-1].id

    async def _deliver(
        self,
        secrets: StatusSecrets,
        rows: Sequence[StatusSubscriptionRecord],
        update: StatusUpdate,
    ) -> builtins.list[str | None]:
        """One delivery per row, a few at a time; each answers None or why it failed."""
        gate = asyncio.Semaphore(self._settings.status_delivery_concurrency)

        async def deliver(row: StatusSubscriptionRecord) -> str | None:
            async with gate:
                try:
                    recipient = self._recipient(secrets, row)
                    await self._sender.send_update(UpdateMessage(recipient, update))
                except DeliveryError as error:
                    return error.reason
                except UnreadableSecret:
                    return "the stored target does not open with any configured key"
                return None

        return list(await asyncio.gather(*(deliver(row) for row in rows)))


# -- Key rotation ------------------------------------------------------------------------------


async def reseal_status_subscriptions(
    database: Database, secrets: StatusSecrets, batch_size: int = DEFAULT_BATCH_SIZE
) -> ResealReport:
    """Re-encrypts every stored target, webhook secret and unsubscribe token under the first
    configured key, a batch per transaction; afterwards the keys after the first can be dropped.

    Run after putting a new key first in QD_TELEMETRY_STATUS_ENCRYPTION_KEYS. The hashing key
    cannot rotate this way: hashes do not re-key without the clear values.
    """
    model = StatusSubscriptionRecord
    return await reseal_rows(
        database,
        secrets.box,
        model.id,
        [model.target_encrypted, model.webhook_secret_encrypted, model.unsubscribe_token_encrypted],
        batch_size=batch_size,
    )
