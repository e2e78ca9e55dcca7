"""Sealing of tenants' provider API keys in the shared secret box (MultiFernet).

Each sealed key is stored with the id of the key that sealed it (a short hash of that key, never
the key), so rotation knows which rows are already under the current key. Plain keys exist only
in memory, for the length of one call.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.tenancy.config import TenancySettings
from shared.errors import FailedPrecondition
from shared.secret_box import SecretBox, split_keys

SETTING = "QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS"
HINT_LENGTH = 4
#: Salts the stored key version (kept as it was, so rows sealed before stay current).
_VERSION_LABEL = "quarterdeck-provider-key-id:"


def hint_of(api_key: str) -> str:
    return api_key[-HINT_LENGTH:]


@dataclass(frozen=True)
class Sealed:
    token: bytes
    key_version: str


class ProviderKeyBox(SecretBox):
    """The secret box of provider keys: sealed keys carry the version of the key that sealed them."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(keys, SETTING, version_label=_VERSION_LABEL)

    @classmethod
    def from_settings(cls, settings: TenancySettings) -> ProviderKeyBox | None:
        """The box, or None when no key is configured (provider-key calls then refuse)."""
        raw = settings.provider_key_encryption_keys
        return None if raw is None else cls(split_keys(raw.get_secret_value()))

    def seal(self, api_key: str) -> Sealed:
        return Sealed(self.encrypt(api_key.encode()), self.current_version)

    def open(self, token: bytes) -> str:
        return self.decrypt(token).decode()


def require_box(box: ProviderKeyBox | None) -> ProviderKeyBox:
    if box is None:
        raise FailedPrecondition(
            "provider keys cannot be handled: the tenancy service has no encryption key "
            f"configured ({SETTING})",
            reason="PROVIDER_KEY_ENCRYPTION_NOT_CONFIGURED",
        )
    return box
