"""What the status area does to targets and tokens before they touch the database.

- Recoverable values (targets, webhook secrets, unsubscribe tokens): the shared secret box
  (MultiFernet): the first key encrypts, every key decrypts, ``rotate`` re-encrypts.
- Lookups without the clear value (duplicate targets, tokens): HMAC-SHA256 under the hashing
  key, each kind of value under its own label, so a target's hash never equals a token's.
- Display: targets masked, such as ``j***@example.com`` or ``https://hooks.example.com/***``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.telemetry.config import TelemetrySettings
from shared.errors import FailedPrecondition
from shared.secret_box import SecretBox, UnreadableSecret, split_keys

ENCRYPTION_SETTING = "QD_TELEMETRY_STATUS_ENCRYPTION_KEYS"
HASHING_SETTING = "QD_TELEMETRY_STATUS_HASHING_KEY"

#: Token prefixes say what a token is when it turns up in a support ticket or a secret scanner.
VERIFICATION_PREFIX = "qdsv_"
CHALLENGE_PREFIX = "qdsc_"
UNSUBSCRIBE_PREFIX = "qdsu_"
WEBHOOK_SECRET_PREFIX = "qdsw_"


__all__ = ["StatusSecrets", "UnreadableSecret"]


@dataclass(frozen=True)
class StatusSecrets:
    box: SecretBox
    hashing_key: bytes

    @classmethod
    def create(cls, encryption_keys: list[str], hashing_key: str) -> StatusSecrets:
        return cls(SecretBox(encryption_keys, ENCRYPTION_SETTING), hashing_key.encode())

    @classmethod
    def from_settings(cls, settings: TelemetrySettings) -> StatusSecrets | None:
        """The secrets, or None when a key is missing (the status RPCs then refuse)."""
        if settings.status_encryption_keys is None or settings.status_hashing_key is None:
            return None
        keys = split_keys(settings.status_encryption_keys)
        return cls.create(keys, settings.status_hashing_key)

    def encrypt(self, plain: str) -> bytes:
        return self.box.encrypt(plain.encode())

    def decrypt(self, sealed: bytes) -> str:
        return self.box.decrypt(sealed).decode()

    def rotate(self, sealed: bytes) -> bytes:
        """``sealed`` re-encrypted under the first key (for a key rotation pass)."""
        return self.box.rotate(sealed)

    def _hash(self, label: str, value: str) -> str:
        return hmac.new(self.hashing_key, f"{label}:{value}".encode(), hashlib.sha256).hexdigest()

    def target_hash(self, channel: str, normalized_target: str) -> str:
        return self._hash(f"status-target:{channel}", normalized_target)

    def token_hash(self, token: str) -> str:
        return self._hash("status-token", token)

    @staticmethod
    def new_token(prefix: str, nbytes: int = 32) -> str:
        return f"{prefix}{secrets.token_urlsafe(nbytes)}"


def sign(secret: str, payload: bytes) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed by ``secret`` (webhook signatures)."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def require_secrets(value: StatusSecrets | None) -> StatusSecrets:
    if value is None:
        raise FailedPrecondition(
            "status subscriptions cannot be handled: the telemetry service has no "
            f"{ENCRYPTION_SETTING} and {HASHING_SETTING} configured",
            reason="STATUS_SECRETS_NOT_CONFIGURED",
        )
    return value


def mask_email(address: str) -> str:
    """jane.doe@example.com -> j***@example.com: the first character and the domain only."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def mask_url(url: str) -> str:
    """https://hooks.example.com/services/T0/B0/xyz -> https://hooks.example.com/***: the path,
    query and credentials often are the secret, so only scheme, host and port remain."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}/***"
