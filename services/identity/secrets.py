"""Everything identity does to secrets before they touch the database.

- Passwords: argon2id over an HMAC of the password with a versioned pepper, so a stolen
  database alone cannot be brute-forced and peppers rotate (rehash on the next sign-in).
- High-entropy tokens (refresh tokens, API keys, invite and reset tokens, recovery codes):
  stored as HMAC-SHA256 under the hashing key; looked up by that hash.
- Recoverable secrets (TOTP secrets, signing keys, IP addresses): the shared secret box
  (MultiFernet): the first key encrypts, every key decrypts, and ``rotate`` re-encrypts.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher as Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.identity.config import IdentitySettings
from shared.config import ConfigurationError
from shared.secret_box import SecretBox, split_keys


def _pairs(raw: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = item.partition(":")
        if not sep or not name or not value:
            raise ConfigurationError(f"invalid configuration: {what} must be 'name:value' pairs")
        pairs[name] = value
    return pairs


class Hasher:
    """Keyed hashes of high-entropy secrets, and the generation of such secrets."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def hash(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, expected_hash: str) -> bool:
        return hmac.compare_digest(self.hash(secret), expected_hash)

    @staticmethod
    def new_token(prefix: str, nbytes: int = 32) -> str:
        return f"{prefix}{secrets.token_urlsafe(nbytes)}"


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    needs_rehash: bool = False


class Passwords:
    """argon2id over HMAC(pepper, password); the pepper version is stored beside the hash."""

    def __init__(self, settings: IdentitySettings, peppers: dict[str, str]) -> None:
        if settings.password_pepper_version not in peppers:
            raise ConfigurationError(
                "invalid configuration: QD_IDENTITY_PASSWORD_PEPPER_VERSION "
                f"'{settings.password_pepper_version}' has no pepper in QD_IDENTITY_PASSWORD_PEPPERS"
            )
        self._peppers = peppers
        self.current_version = settings.password_pepper_version
        self._argon2 = Argon2(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # Verifying against this when the account does not exist costs the same time as a real
        # check, so an unknown email cannot be told apart by timing.
        self._decoy = self.hash("decoy password that matches nothing")

    def _peppered(self, password: str, version: str) -> str:
        pepper = self._peppers[version].encode()
        return hmac.new(pepper, password.encode(), hashlib.sha256).hexdigest()

    def hash(self, password: str) -> str:
        return self._argon2.hash(self._peppered(password, self.current_version))

    def verify(self, password: str, stored_hash: str, pepper_version: str) -> PasswordCheck:
        if pepper_version not in self._peppers:
            self.verify_decoy(password)
            return PasswordCheck(ok=False)
        try:
            self._argon2.verify(stored_hash, self._peppered(password, pepper_version))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return PasswordCheck(ok=False)
        stale = pepper_version != self.current_version or self._argon2.check_needs_rehash(
            stored_hash
        )
        return PasswordCheck(ok=True, needs_rehash=stale)

    def verify_decoy(self, password: str) -> None:
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            self._argon2.verify(self._decoy, self._peppered(password, self.current_version))


def mask_ip(address: str) -> str | None:
    """203.0.113.7 -> 203.0.113.x; 2001:db8:1:2::5 -> 2001:db8:1::/48."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 4:
        return ".".join(address.split(".")[:3]) + ".x"
    network = ipaddress.ip_network(f"{ip}/48", strict=False)
    return str(network)


@dataclass(frozen=True)
class IdentitySecrets:
    box: SecretBox
    hasher: Hasher
    passwords: Passwords
    #: service name -> hash of its internal API key
    internal_clients: dict[str, str]

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> IdentitySecrets:
        missing = [
            name
            for name, value in (
                ("QD_IDENTITY_ENCRYPTION_KEYS", settings.encryption_keys),
                ("QD_IDENTITY_HASHING_KEY", settings.hashing_key),
                ("QD_IDENTITY_PASSWORD_PEPPERS", settings.password_peppers),
            )
            if value is None
        ]
        if missing:
            raise ConfigurationError(f"invalid configuration: {', '.join(missing)} must be set")
        assert settings.encryption_keys and settings.hashing_key and settings.password_peppers
        keys = split_keys(settings.encryption_keys.get_secret_value())
        clients = settings.internal_clients.get_secret_value() if settings.internal_clients else ""
        return cls(
            box=SecretBox(keys, "QD_IDENTITY_ENCRYPTION_KEYS"),
            hasher=Hasher(settings.hashing_key.get_secret_value().encode()),
            passwords=Passwords(
                settings, _pairs(settings.password_peppers.get_secret_value(), "peppers")
            ),
            internal_clients=_pairs(clients, "QD_IDENTITY_INTERNAL_CLIENTS"),
        )
