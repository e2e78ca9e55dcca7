"""Throttling of the credential methods: sign-in, the MFA step, password-reset requests,
sign-up (and access requests) and API key exchange, per client address and per account.

Attempts are counted in identity's own database, in fixed windows of
``throttle_window_seconds`` (one upsert of two counters per attempt), so every identity replica
and every gateway in front of them share one count, with SQLite as with PostgreSQL, and gRPC
callers are throttled as HTTP ones are. Past ``throttle_per_address`` attempts from one address
or ``throttle_per_account`` for one account (email, MFA challenge or API key) in a window, the
call is RESOURCE_EXHAUSTED with a RetryInfo until the window ends (429 with Retry-After at the
gateway), and the first refusal of each window is recorded as a ``credential_throttled``
security event. Counters are keyed by keyed hashes: no address or email is stored in clear.

The client address is the caller's peer address; a caller in ``client_address_sources`` (the
gateway, which reads it from trusted proxy headers only) names the client it acts for in
``x-quarterdeck-client-address``, and a trusted caller that names none is not throttled by
address (it is a proxy: its own address is everyone's).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from sqlalchemy import BigInteger, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from quarterdeck.identity.v1 import identity_pb2
from services.identity.config import IdentitySettings
from services.identity.context import IdentityContext
from services.identity.models import Base
from shared.auth import CLIENT_ADDRESS_METADATA
from shared.clock import Clock
from shared.errors import ResourceExhausted
from shared.interceptors import Layer, UnaryCall
from shared.server import ServiceContext

log = logging.getLogger("quarterdeck.identity.throttling")

THROTTLED_REASON = "CREDENTIAL_THROTTLED"
THROTTLED_EVENT = "credential_throttled"

_SERVICE = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


def _email(request: Any) -> str:
    return str(request.email).strip().lower()


#: method -> (the family its attempts are counted in, the account an attempt is for).
THROTTLED_METHODS: dict[str, tuple[str, Callable[[Any], str]]] = {
    f"/{_SERVICE}/SignIn": ("signin", _email),
    f"/{_SERVICE}/CompleteMfaSignIn": ("mfa", lambda request: str(request.mfa_token)),
    f"/{_SERVICE}/RequestPasswordReset": ("reset", _email),
    f"/{_SERVICE}/SignUp": ("signup", _email),
    f"/{_SERVICE}/RequestAccess": ("signup", _email),
    f"/{_SERVICE}/ExchangeApiKey": ("apikey", lambda request: str(request.api_key)),
}


class CredentialAttempt(Base):
    """Attempts at one credential family by one address or for one account, in one window."""

    __tablename__ = "credential_attempts"

    #: "<family>:<address|account>:<keyed hash>".
    bucket: Mapped[str] = mapped_column(String(160), primary_key=True)
    #: The window's start, in seconds since the epoch.
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)


_COUNT_ATTEMPT = text(
    "INSERT INTO credential_attempts (bucket, window_start, attempts) "
    "VALUES (:address, :window, 1), (:account, :window, 1) "
    "ON CONFLICT (bucket, window_start) "
    "DO UPDATE SET attempts = credential_attempts.attempts + 1 "
    "RETURNING bucket, attempts"
)
_FORGET_BEFORE = text("DELETE FROM credential_attempts WHERE window_start < :window")


def _networks(entries: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(
        ipaddress.ip_network(entry.strip(), strict=False)
        for entry in entries.split(",")
        if entry.strip()
    )


def _peer_address(peer: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``ipv4:1.2.3.4:5`` / ``ipv6:[::1]:5`` -> the address; None for anything else."""
    if not peer:
        return None
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        host = rest.rpartition(":")[0]
    elif kind == "ipv6":
        host = rest.rpartition(":")[0].strip("[]").split("%", 1)[0]
    else:
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class CredentialThrottle(Layer):
    """Counts each call of a throttled method and refuses it past its limits."""

    def __init__(self, ctx: IdentityContext, clock: Clock) -> None:
        settings: IdentitySettings = ctx.settings
        self._ctx = ctx
        self._clock = clock
        self._window = settings.throttle_window_seconds
        self._per_address = settings.throttle_per_address
        self._per_account = settings.throttle_per_account
        self._trusted = _networks(settings.client_address_sources)
        self._swept_window = 0

    def applies_to(self, method: str) -> bool:
        return method in THROTTLED_METHODS and (self._per_address > 0 or self._per_account > 0)

    def client_address(self, context: grpc.aio.ServicerContext) -> str | None:
        """The client's address, or None when a trusted proxy called without naming one."""
        peer = _peer_address(context.peer())
        if peer is None:
            return None
        if not any(peer in network for network in self._trusted):
            return str(peer)
        for key, value in context.invocation_metadata() or ():
            if key == CLIENT_ADDRESS_METADATA:
                try:
                    return str(ipaddress.ip_address(str(value).strip()))
                except ValueError:
                    return None
        return None

    async def around_unary(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, call: UnaryCall
    ) -> Any:
        await self.check(method, request, context)
        return await call(request, context)

    async def check(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        family, account_of = THROTTLED_METHODS[method]
        hasher = self._ctx.secrets.hasher
        address = self.client_address(context)
        now = self._clock()
        window = int(now // self._window) * self._window
        address_bucket = f"{family}:address:{hasher.hash(f'ip:{address}')}" if address else ""
        account_bucket = f"{family}:account:{hasher.hash(f'{family}:{account_of(request)}')}"
        async with self._ctx.db.transaction() as session:
            if window != self._swept_window:  # a new window: the ones before it are done
                self._swept_window = window
                await session.execute(_FORGET_BEFORE, {"window": window - self._window})
            rows = (
                await session.execute(
                    _COUNT_ATTEMPT,
                    {"address": address_bucket, "account": account_bucket, "window": window},
                )
            ).all()
        counts = {bucket: attempts for bucket, attempts in rows}
        over = [
            (scope, counts.get(bucket, 0) - limit)
            for scope, bucket, limit in (
                ("address", address_bucket, self._per_address if address else 0),
                ("account", account_bucket, self._per_account),
            )
            if limit > 0 and counts.get(bucket, 0) > limit
        ]
        if not over:
            return
        scope, excess = over[0]
        if excess == 1:  # the first refusal of this window for this bucket
            await self._record(method, scope, address)
        raise ResourceExhausted(
            "too many attempts, try again later",
            reason=THROTTLED_REASON,
            metadata={"scope": scope},
            retry_after_seconds=window + self._window - now,
        )

    async def _record(self, method: str, scope: str, address: str | None) -> None:
        try:
            await self._ctx.events.record(
                THROTTLED_EVENT,
                ip_hash=self._ctx.secrets.hasher.hash(f"ip:{address}") if address else None,
                metadata={"method": method.rpartition("/")[2], "scope": scope},
            )
        except Exception:
            log.exception("could not record a throttled %s", method)


def credential_layers(
    context: ServiceContext[IdentitySettings, IdentityContext],
) -> Sequence[Layer]:
    return [CredentialThrottle(context.state, context.clock)]
