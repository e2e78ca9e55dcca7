"""Pluggable delivery of status subscription messages: verification challenges and updates.

A :class:`StatusSender` delivers one message to one recipient or raises :class:`DeliveryError`
with a reason that never contains the target in clear. Which sender handles which channel is
chosen by settings (:func:`build_sender`):

- ``log`` (the default for both channels): writes the masked target and the message to the
  service log; nothing leaves the process. Tokens are redacted unless
  ``status_log_reveals_tokens`` is set. The trade-off, for local development only: with
  redaction nobody can ever verify a subscription (the recipient never gets the token); with the
  tokens revealed, whoever reads the log can verify and unsubscribe as the recipient.
- ``webhook``: an HTTPS POST of a JSON body signed with HMAC-SHA256 under the subscription's own
  secret (``X-Quarterdeck-Signature: t=<unix seconds>,v1=<hex of HMAC(secret, "<t>.<body>")>``),
  with a timeout, no redirects followed, and the host's addresses checked against private
  networks at delivery time as well as at creation.
- ``smtp`` (email): one plain-text message per delivery through the configured relay
  (stdlib smtplib, run in a worker thread), with a List-Unsubscribe header; optional STARTTLS
  and login.
- :class:`MemorySender`: keeps messages in memory; tests inject it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import smtplib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from services.telemetry.config import TelemetrySettings
from services.telemetry.status.models import SubscriptionChannel
from services.telemetry.status.secrets import sign

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("quarterdeck.telemetry.status")

SIGNATURE_HEADER = "X-Quarterdeck-Signature"
EVENT_HEADER = "X-Quarterdeck-Event"
DELIVERY_HEADER = "X-Quarterdeck-Delivery"
CHALLENGE_EVENT = "status_subscription.challenge"
UPDATE_EVENT = "status.update"
REDACTED = "[redacted]"


class DeliveryError(Exception):
    """A message that was not delivered; ``reason`` never holds the target in clear."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to. ``target`` is in clear: it lives in memory for one delivery only."""

    subscription_id: str
    tenant_id: str | None
    channel: SubscriptionChannel
    target: str
    target_masked: str
    unsubscribe_token: str
    unsubscribe_url: str
    webhook_secret: str | None = None


@dataclass(frozen=True)
class VerificationMessage:
    recipient: Recipient
    #: The verification token (email) or challenge token (webhook) that activates it.
    token: str
    verify_url: str
    expires_at: datetime


@dataclass(frozen=True)
class StatusUpdate:
    tenant_id: str | None
    component: str
    status: str
    severity: str
    message: str
    time: datetime


@dataclass(frozen=True)
class UpdateMessage:
    recipient: Recipient
    update: StatusUpdate


class StatusSender(Protocol):
    async def send_verification(self, message: VerificationMessage) -> None: ...

    async def send_update(self, message: UpdateMessage) -> None: ...

    async def close(self) -> None: ...


def challenge_payload(message: VerificationMessage) -> dict[str, Any]:
    recipient = message.recipient
    return {
        "type": CHALLENGE_EVENT,
        "subscription_id": recipient.subscription_id,
        "tenant_id": recipient.tenant_id,
        "challenge": message.token,
        "verify_url": message.verify_url,
        "expire_time": message.expires_at.isoformat(),
        "unsubscribe_token": recipient.unsubscribe_token,
        "unsubscribe_url": recipient.unsubscribe_url,
    }


def update_payload(message: UpdateMessage) -> dict[str, Any]:
    recipient, update = message.recipient, message.update
    return {
        "type": UPDATE_EVENT,
        "subscription_id": recipient.subscription_id,
        "tenant_id": update.tenant_id,
        "component": update.component,
        "status": update.status,
        "severity": update.severity,
        "message": update.message,
        "time": update.time.isoformat(),
        "unsubscribe_token": recipient.unsubscribe_token,
        "unsubscribe_url": recipient.unsubscribe_url,
    }


class LogSender:
    """Writes messages to the log with the masked target; tokens redacted unless revealed."""

    def __init__(self, reveal_tokens: bool = False) -> None:
        self._reveal = reveal_tokens

    def _secret(self, value: str) -> str:
        return value if self._reveal else REDACTED

    async def send_verification(self, message: VerificationMessage) -> None:
        recipient = message.recipient
        log.info(
            "status subscription %s: verification for %s %s (expires %s): verify with token %s "
            "at %s",
            recipient.subscription_id,
            recipient.channel.value,
            recipient.target_masked,
            message.expires_at.isoformat(),
            self._secret(message.token),
            self._secret(message.verify_url),
        )

    async def send_update(self, message: UpdateMessage) -> None:
        recipient, update = message.recipient, message.update
        log.info(
            "status subscription %s: update for %s %s: [%s] %s is %s: %s (unsubscribe: %s)",
            recipient.subscription_id,
            recipient.channel.value,
            recipient.target_masked,
            update.severity,
            update.component,
            update.status,
            update.message,
            self._secret(recipient.unsubscribe_url),
        )

    async def close(self) -> None:
        return None


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, shared, reserved and multicast addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return f"t={timestamp},v1={sign(secret, signed)}"


class WebhookSender:
    """POSTs signed JSON to the subscription's URL; any answer but 2xx is a failed delivery."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        allow_private_hosts: bool,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._allow_private = allow_private_hosts
        self._timeout = timeout_seconds
        self._client = client

    def _http(self) -> httpx.AsyncClient:
        """The client, made at the first delivery: httpx is not imported when the service starts."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                headers={"User-Agent": "Quarterdeck-Status/1"},
            )
        return self._client

    async def _check_host(self, url: str) -> None:
        if self._allow_private:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or 443, type=0, proto=0
            )
        except OSError:
            raise DeliveryError("the webhook's host name does not resolve") from None
        # Checked at every delivery: a name that resolved to a public address when the
        # subscription was made may point inside the network now.
        if not infos or not all(is_public_address(str(info[4][0])) for info in infos):
            raise DeliveryError("the webhook's host resolves to a private address")

    async def _post(self, recipient: Recipient, event: str, payload: Mapping[str, Any]) -> None:
        if recipient.webhook_secret is None:
            raise DeliveryError("the subscription has no webhook secret")
        await self._check_host(recipient.target)
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            DELIVERY_HEADER: str(uuid.uuid4()),
            SIGNATURE_HEADER: signature_header(recipient.webhook_secret, body, int(time.time())),
        }
        client = self._http()
        import httpx  # imported by _http() already: only its error types are wanted here

        try:
            response = await client.post(recipient.target, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError("the webhook did not answer in time") from None
        except httpx.HTTPError as error:
            raise DeliveryError(
                f"the webhook could not be reached ({type(error).__name__})"
            ) from None
        if response.is_redirect:
            raise DeliveryError(
                f"the webhook answered HTTP {response.status_code}; redirects are not followed"
            )
        if not response.is_success:
            raise DeliveryError(f"the webhook answered HTTP {response.status_code}")

    async def send_verification(self, message: VerificationMessage) -> None:
        await self._post(message.recipient, CHALLENGE_EVENT, challenge_payload(message))

    async def send_update(self, message: UpdateMessage) -> None:
        await self._post(message.recipient, UPDATE_EVENT, update_payload(message))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    starttls: bool
    username: str | None
    password: str | None
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: TelemetrySettings) -> SmtpSettings:
        return cls(
            host=settings.status_smtp_host,
            port=settings.status_smtp_port,
            sender=settings.status_smtp_from,
            starttls=settings.status_smtp_starttls,
            username=settings.status_smtp_username,
            password=settings.status_smtp_password,
            timeout_seconds=settings.status_smtp_timeout_seconds,
        )


def verification_email(message: VerificationMessage, sender: str) -> EmailMessage:
    recipient = message.recipient
    email = EmailMessage()
    email["From"] = sender
    email["To"] = recipient.target
    email["Subject"] = "Confirm your Quarterdeck status subscription"
    email["List-Unsubscribe"] = f"<{recipient.unsubscribe_url}>"
    email.set_content(
        "This address was subscribed to Quarterdeck status updates.\n\n"
        f"To confirm, open {message.verify_url}\n"
        f"or send this token to POST /v1/status-subscriptions/verify: {message.token}\n"
        f"It expires at {message.expires_at.isoformat()}.\n\n"
        "If this was not you, ignore this message, or stop it for good at "
        f"{recipient.unsubscribe_url}\n"
    )
    return email


def update_email(message: UpdateMessage, sender: str) -> EmailMessage:
    recipient, update = message.recipient, message.update
    email = EmailMessage()
    email["From"] = sender
    email["To"] = recipient.target
    email["Subject"] = f"[{update.severity}] {update.component}: {update.status.replace('_', ' ')}"
    email["List-Unsubscribe"] = f"<{recipient.unsubscribe_url}>"
    email.set_content(
        f"{update.message}\n\n"
        f"Component: {update.component}\nStatus: {update.status}\n"
        f"Severity: {update.severity}\nTime: {update.time.isoformat()}\n\n"
        f"Unsubscribe: {recipient.unsubscribe_url}\n"
    )
    return email


class SmtpSender:
    """Sends each email over its own SMTP connection, in a worker thread."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    def _send(self, email: EmailMessage) -> None:
        settings = self._settings
        try:
            with smtplib.SMTP(
                settings.host, settings.port, timeout=settings.timeout_seconds
            ) as client:
                if settings.starttls:
                    client.starttls()
                if settings.username:
                    client.login(settings.username, settings.password or "")
                client.send_message(email)
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("the mail server refused the recipient") from None
        except smtplib.SMTPException as error:
            raise DeliveryError(
                f"the mail server refused the message ({type(error).__name__})"
            ) from None
        except OSError:
            raise DeliveryError("the mail server could not be reached") from None

    async def send_verification(self, message: VerificationMessage) -> None:
        await asyncio.to_thread(self._send, verification_email(message, self._settings.sender))

    async def send_update(self, message: UpdateMessage) -> None:
        await asyncio.to_thread(self._send, update_email(message, self._settings.sender))

    async def close(self) -> None:
        return None


@dataclass
class MemorySender:
    """Keeps every message; deliveries to a target in ``failing_targets`` fail (for tests)."""

    verifications: list[VerificationMessage] = field(default_factory=list)
    updates: list[UpdateMessage] = field(default_factory=list)
    failing_targets: set[str] = field(default_factory=set)

    def _check(self, recipient: Recipient) -> None:
        if recipient.target in self.failing_targets:
            raise DeliveryError("the recipient refused the message")

    async def send_verification(self, message: VerificationMessage) -> None:
        self._check(message.recipient)
        self.verifications.append(message)

    async def send_update(self, message: UpdateMessage) -> None:
        self._check(message.recipient)
        self.updates.append(message)

    async def close(self) -> None:
        return None


class ChannelSender:
    """Hands each message to the sender of its recipient's channel."""

    def __init__(self, senders: Mapping[SubscriptionChannel, StatusSender]) -> None:
        self._senders = dict(senders)

    def _for(self, recipient: Recipient) -> StatusSender:
        return self._senders[recipient.channel]

    async def send_verification(self, message: VerificationMessage) -> None:
        await self._for(message.recipient).send_verification(message)

    async def send_update(self, message: UpdateMessage) -> None:
        await self._for(message.recipient).send_update(message)

    async def close(self) -> None:
        for sender in {id(s): s for s in self._senders.values()}.values():
            await sender.close()


def build_sender(settings: TelemetrySettings) -> StatusSender:
    """The sender the settings choose, per channel."""
    log_sender = LogSender(reveal_tokens=settings.status_log_reveals_tokens)
    webhook: StatusSender = log_sender
    if settings.status_webhook_sender == "webhook":
        webhook = WebhookSender(
            timeout_seconds=settings.status_webhook_timeout_seconds,
            allow_private_hosts=settings.status_webhook_allow_private_hosts,
        )
    email: StatusSender = log_sender
    if settings.status_email_sender == "smtp":
        email = SmtpSender(SmtpSettings.from_settings(settings))
    return ChannelSender({SubscriptionChannel.EMAIL: email, SubscriptionChannel.WEBHOOK: webhook})
