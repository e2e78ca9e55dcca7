"""Sealing of tenants' provider API keys: Fernet under a rotatable key list (MultiFernet).

The first configured key encrypts, every key decrypts. Each sealed key is stored with the id of
the key that sealed it (a short hash of that key, never the key), so rotation knows which rows
are already under the current key. Plain keys exist only in memory, for the length of one call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.tenancy.config import TenancySettings
from shared.config import ConfigurationError
from shared.errors import FailedPrecondition

SETTING = "QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS"
HINT_LENGTH = 4


class UnreadableProviderKey(Exception):
    """A stored provider key that no configured encryption key opens."""


def key_id(key: str) -> str:
    return hashlib.sha256(b"quarterdeck-provider-key-id:" + key.encode()).hexdigest()[:16]


def hint_of(api_key: str) -> str:
    return api_key[-HINT_LENGTH:]


@dataclass(frozen=True)
class Sealed:
    token: bytes
    key_version: str


class ProviderKeyBox:
    """Encrypts provider keys with the first key; decrypts with any; re-seals under the first."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError(f"invalid configuration: {SETTING} names no key")
        try:
            self._fernets = [Fernet(key.encode()) for key in keys]
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"invalid configuration: {SETTING} must be Fernet keys "
                "(32 url-safe base64 bytes each), comma-separated"
            ) from None
        self._multi = MultiFernet(self._fernets)
        self.current_version = key_id(keys[0])

    @classmethod
    def from_settings(cls, settings: TenancySettings) -> ProviderKeyBox | None:
        """The box, or None when no key is configured (provider-key calls then refuse)."""
        raw = settings.provider_key_encryption_keys
        if raw is None:
            return None
        return cls([k.strip() for k in raw.get_secret_value().split(",") if k.strip()])

    def seal(self, api_key: str) -> Sealed:
        return Sealed(self._fernets[0].encrypt(api_key.encode()), self.current_version)

    def open(self, token: bytes) -> str:
        try:
            return self._multi.decrypt(token).decode()
        except InvalidToken:
            raise UnreadableProviderKey(
                "a stored provider key does not open with any configured key"
            ) from None

    def reseal(self, token: bytes) -> Sealed:
        try:
            return Sealed(self._multi.rotate(token), self.current_version)
        except InvalidToken:
            raise UnreadableProviderKey(
                "a stored provider key does not open with any configured key"
            ) from None


def require_box(box: ProviderKeyBox | None) -> ProviderKeyBox:
    if box is None:
        raise FailedPrecondition(
            "provider keys cannot be handled: the tenancy service has no encryption key "
            f"configured ({SETTING})",
            reason="PROVIDER_KEY_ENCRYPTION_NOT_CONFIGURED",
        )
    return box
