"""Status subscription targets and secrets without a server: validation, masking, hashing,
encryption with key rotation, and webhook signatures."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet

from quarterdeck.telemetry.v1 import status_pb2 as pb
from services.telemetry.config import TelemetrySettings
from services.telemetry.status.handlers import email_problem, parse_target, webhook_problem
from services.telemetry.status.models import SubscriptionChannel
from services.telemetry.status.secrets import (
    StatusSecrets,
    UnreadableSecret,
    mask_email,
    mask_url,
)
from services.telemetry.status.senders import is_public_address, signature_header

STRICT = TelemetrySettings()
LOCAL = TelemetrySettings(status_webhook_allow_http=True, status_webhook_allow_private_hosts=True)


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jane.doe@example.com", "j***@example.com"),
        ("J@Example.COM", "J***@Example.COM"),
        ("ops+status@mail.example.co.uk", "o***@mail.example.co.uk"),
    ],
)
def test_emails_are_masked_to_their_first_character_and_domain(address: str, masked: str) -> None:
    assert email_problem(address) is None
    assert mask_email(address) == masked


@pytest.mark.parametrize(
    "address",
    [
        "no-at-sign",
        "@example.com",
        "jane@",
        "jane@localhost",
        "jane doe@example.com",
        "jane..doe@example.com",
        ".jane@example.com",
        "jane@exa_mple.com",
        "jane@example.c0m",
        "x" * 65 + "@example.com",
        "jane@" + "a" * 250 + ".com",
    ],
)
def test_malformed_emails_are_refused(address: str) -> None:
    assert email_problem(address) is not None


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://hooks.example.com/services/T0/B0/secret", "https://hooks.example.com/***"),
        ("https://Hooks.Example.com:8443/x?token=abc", "https://hooks.example.com:8443/***"),
        ("https://[2001:db8::1]/hook", "https://[2001:db8::1]/***"),
    ],
)
def test_webhook_urls_keep_only_scheme_host_and_port(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("https:///x", "host"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("https://127.0.0.1/x", "private"),
        ("https://10.1.2.3/x", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::1]/x", "private"),
        ("https://[::ffff:192.168.0.1]/x", "private"),
        ("https://localhost/x", "private"),
        ("https://db.internal/x", "private"),
        ("https://intranet/x", "private"),
        ("https://hooks.example.com:99999/x", "valid URL"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://exämple.com/x", "punycode"),
    ],
)
def test_webhooks_must_be_public_https_urls(url: str, why: str) -> None:
    problem = webhook_problem(url, STRICT)
    assert problem is not None and why in problem


def test_local_settings_allow_http_and_loopback_webhooks() -> None:
    assert webhook_problem("http://127.0.0.1:8080/hook", LOCAL) is None
    assert webhook_problem("https://hooks.example.com/hook", STRICT) is None


def test_targets_are_normalized_for_duplicate_detection() -> None:
    email, problems = parse_target(pb.SUBSCRIPTION_CHANNEL_EMAIL, "Jane@Example.com", STRICT)
    assert problems == [] and email is not None
    assert (email.channel, email.value, email.normalized) == (
        SubscriptionChannel.EMAIL,
        "Jane@Example.com",
        "jane@example.com",
    )
    hook, _ = parse_target(pb.SUBSCRIPTION_CHANNEL_WEBHOOK, "HTTPS://Hooks.Example.com:443", STRICT)
    assert hook is not None and hook.normalized == "https://hooks.example.com/"


def test_missing_channel_and_target_are_both_reported() -> None:
    target, problems = parse_target(pb.SUBSCRIPTION_CHANNEL_UNSPECIFIED, "", STRICT)
    assert target is None
    assert {v.field for v in problems} == {"channel", "target"}


def test_public_addresses() -> None:
    assert is_public_address("93.184.216.34")
    assert is_public_address("2606:2800:220:1:248:1893:25c8:1946")
    for private in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "100.64.0.1", "fe80::1", "224.0.0.1"):
        assert not is_public_address(private)


def test_secrets_encrypt_with_the_first_key_and_decrypt_with_any() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = StatusSecrets.create([old], "a-hashing-key-of-length")
    sealed = before.encrypt("jane@example.com")
    assert b"jane" not in sealed
    after = StatusSecrets.create([new, old], "a-hashing-key-of-length")
    assert after.decrypt(sealed) == "jane@example.com"
    rotated = after.rotate(sealed)
    assert StatusSecrets.create([new], "a-hashing-key-of-length").decrypt(rotated) == (
        "jane@example.com"
    )
    with pytest.raises(UnreadableSecret):
        StatusSecrets.create([new], "a-hashing-key-of-length").decrypt(sealed)


def test_hashes_are_keyed_and_kept_apart_by_kind() -> None:
    one = StatusSecrets.create([Fernet.generate_key().decode()], "first-hashing-key")
    two = StatusSecrets.create([Fernet.generate_key().decode()], "second-hashing-key")
    assert one.target_hash("email", "j@example.com") != two.target_hash("email", "j@example.com")
    assert one.target_hash("email", "x") != one.target_hash("webhook", "x")
    assert one.token_hash("x") != one.target_hash("email", "x")
    assert one.token_hash("x") != hashlib.sha256(b"x").hexdigest()


def test_signature_header_is_an_hmac_over_timestamp_and_body() -> None:
    header = signature_header("whsec", b'{"a":1}', 1_700_000_000)
    expected = hmac.new(b"whsec", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
