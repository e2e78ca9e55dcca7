"""Status senders without a server: the log sender's redaction, channel routing, the webhook
sender's refusal of private addresses at delivery time, and the emails' shape."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from services.telemetry.config import TelemetrySettings
from services.telemetry.status.models import SubscriptionChannel
from services.telemetry.status.senders import (
    ChannelSender,
    DeliveryError,
    LogSender,
    MemorySender,
    Recipient,
    SmtpSender,
    StatusUpdate,
    UpdateMessage,
    VerificationMessage,
    WebhookSender,
    build_sender,
    update_email,
    verification_email,
)

TOKEN = "qdsv_the-verification-token"
UNSUBSCRIBE = "qdsu_the-unsubscribe-token"


def recipient(channel: SubscriptionChannel, target: str) -> Recipient:
    return Recipient(
        subscription_id="sub-1",
        tenant_id="tenant-1",
        channel=channel,
        target=target,
        target_masked="j***@example.com",
        unsubscribe_token=UNSUBSCRIBE,
        unsubscribe_url=f"https://status.example.com/status/unsubscribe?token={UNSUBSCRIBE}",
        webhook_secret="qdsw_secret" if channel is SubscriptionChannel.WEBHOOK else None,
    )


def verification(channel: SubscriptionChannel, target: str) -> VerificationMessage:
    return VerificationMessage(
        recipient=recipient(channel, target),
        token=TOKEN,
        verify_url=f"https://status.example.com/status/verify?token={TOKEN}",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )


def update(channel: SubscriptionChannel, target: str) -> UpdateMessage:
    return UpdateMessage(
        recipient(channel, target),
        StatusUpdate("tenant-1", "api", "major_outage", "critical", "down", datetime.now(UTC)),
    )


@pytest.mark.parametrize("reveal", [False, True])
async def test_the_log_sender_writes_masked_targets_and_redacts_tokens_unless_told(
    caplog: pytest.LogCaptureFixture, reveal: bool
) -> None:
    caplog.set_level(logging.INFO, logger="quarterdeck.telemetry.status")
    sender = LogSender(reveal_tokens=reveal)
    await sender.send_verification(verification(SubscriptionChannel.EMAIL, "jane@example.com"))
    await sender.send_update(update(SubscriptionChannel.EMAIL, "jane@example.com"))
    logged = caplog.text
    assert "j***@example.com" in logged and "jane@example.com" not in logged
    assert "api is major_outage: down" in logged
    assert (TOKEN in logged) is reveal and (UNSUBSCRIBE in logged) is reveal


async def test_the_channel_sender_routes_by_channel() -> None:
    email, webhook = MemorySender(), MemorySender()
    sender = ChannelSender({SubscriptionChannel.EMAIL: email, SubscriptionChannel.WEBHOOK: webhook})
    await sender.send_update(update(SubscriptionChannel.WEBHOOK, "https://hooks.example.com/"))
    await sender.send_verification(verification(SubscriptionChannel.EMAIL, "jane@example.com"))
    assert (len(email.verifications), len(email.updates)) == (1, 0)
    assert (len(webhook.verifications), len(webhook.updates)) == (0, 1)


async def test_the_webhook_sender_refuses_private_addresses_at_delivery_time() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(204)

    sender = WebhookSender(
        timeout_seconds=1,
        allow_private_hosts=False,
        client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
    )
    with pytest.raises(DeliveryError, match="private address"):
        await sender.send_update(update(SubscriptionChannel.WEBHOOK, "https://127.0.0.1/hook"))
    with pytest.raises(DeliveryError, match="private address"):
        await sender.send_update(update(SubscriptionChannel.WEBHOOK, "https://localhost/hook"))
    assert calls == []
    await sender.close()


def test_emails_carry_the_links_and_an_unsubscribe_header() -> None:
    confirmation = verification_email(
        verification(SubscriptionChannel.EMAIL, "jane@example.com"), "status@example.com"
    )
    assert confirmation["To"] == "jane@example.com"
    assert TOKEN in confirmation.get_content()
    assert UNSUBSCRIBE in confirmation["List-Unsubscribe"]
    notice = update_email(update(SubscriptionChannel.EMAIL, "jane@example.com"), "s@example.com")
    assert notice["Subject"] == "[critical] api: major outage"
    assert "down" in notice.get_content()


def test_settings_choose_the_senders() -> None:
    chosen = build_sender(TelemetrySettings(status_email_sender="smtp"))
    assert isinstance(chosen, ChannelSender)
    assert isinstance(chosen._for(recipient(SubscriptionChannel.EMAIL, "j@x.com")), SmtpSender)
    assert isinstance(
        chosen._for(recipient(SubscriptionChannel.WEBHOOK, "https://h.example.com/")), LogSender
    )
