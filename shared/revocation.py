"""Revoked credentials refused within seconds, without a call to identity per request.

Access tokens are verified locally and live for minutes. Identity lists what was revoked since a
time (sessions ended, API keys revoked, users locked, memberships removed or lowered in role:
:class:`Revocation` keys ``sid:<session>``, ``sub:<subject>`` and ``mem:<user>:<tenant>``, the
last one learned from tenancy); every service polls that list every ``revocation_poll_seconds`` into a
:class:`RevocationSet`, and :class:`RevocationCheckingAuthenticator` refuses a token carrying a
revoked claim that was issued at or before the revocation. So a revocation bites everywhere
within about one poll interval. While identity cannot be reached the set keeps what it has
(revocations already known still bite) and the poller retries at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import grpc

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from shared.auth import Authenticator, Principal
from shared.errors import Unauthenticated
from shared.grpc_client import open_channel
from shared.internal_client import InternalToken, call_internal

log = logging.getLogger("quarterdeck.revocation")
_POLL_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Revocation:
    #: ``sid:<session id>``, ``sub:<subject>`` or ``mem:<user id>:<tenant id>`` (see
    #: :func:`membership_key`).
    key: str
    #: Epoch seconds: tokens with the claim issued at or before this are refused.
    revoked_at: float
    #: Epoch seconds after which no token it refuses can still be valid.
    expires_at: float


#: One poll: the revocations since ``since`` (epoch seconds; None: all that still matter), and
#: the time to continue from.
RevocationSource = Callable[[float | None], Awaitable[tuple[Sequence[Revocation], float]]]


def membership_key(user_id: str, tenant_id: str) -> str:
    """The key of a user's access to one tenant: revoked when the membership is removed or its
    role lowered, it refuses the user's tokens for that tenant issued before then (and no other
    tenant's)."""
    return f"mem:{user_id}:{tenant_id}"


def principal_keys(principal: Principal) -> list[str]:
    """The revocation keys a principal's token carries."""
    keys = [f"sub:{principal.subject}"]
    if principal.session_id:
        keys.append(f"sid:{principal.session_id}")
    if principal.user_id and principal.tenant_id:
        keys.append(membership_key(principal.user_id, principal.tenant_id))
    return keys


class RevocationSet:
    """The revocations known here, by key; expired ones are forgotten as polls arrive."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._revoked: dict[str, Revocation] = {}
        self._clock = clock
        #: When the set last heard from identity (epoch seconds); None before the first poll.
        self.updated_at: float | None = None

    def add(self, revocations: Iterable[Revocation]) -> None:
        now = self._clock()
        for revocation in revocations:
            known = self._revoked.get(revocation.key)
            if known is None or revocation.revoked_at > known.revoked_at:
                self._revoked[revocation.key] = revocation
        for key in [k for k, r in self._revoked.items() if r.expires_at < now]:
            del self._revoked[key]
        self.updated_at = now

    def refuses(self, principal: Principal) -> bool:
        if not self._revoked:
            return False
        issued = principal.issued_at
        for key in principal_keys(principal):
            revocation = self._revoked.get(key)
            if revocation is not None and (issued is None or issued <= revocation.revoked_at):
                return True
        return False

    def __len__(self) -> int:
        return len(self._revoked)


class RevocationPoller:
    """Keeps a :class:`RevocationSet` current from ``source``, every ``interval_seconds``."""

    def __init__(
        self, source: RevocationSource, interval_seconds: float, revoked: RevocationSet
    ) -> None:
        self._source = source
        self._interval = interval_seconds
        self.revoked = revoked
        self._since: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> None:
        revocations, read_at = await self._source(self._since)
        self.revoked.add(revocations)
        self._since = read_at

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except (grpc.aio.AioRpcError, TimeoutError, RuntimeError) as error:
                # Identity down or restarting (or no internal secret): keep what is known.
                log.warning("revocation poll failed (%s); retrying in %.1fs", error, self._interval)
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class RevocationCheckingAuthenticator:
    """``inner``'s verification, then a refusal for a token whose credential was revoked."""

    def __init__(self, inner: Authenticator, revoked: RevocationSet) -> None:
        self._inner = inner
        self._revoked = revoked

    async def authenticate(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]]
    ) -> Principal | None:
        principal = await self._inner.authenticate(method, metadata)
        if principal is not None and self._revoked.refuses(principal):
            raise Unauthenticated(
                "the access token's session or credential was revoked", reason="TOKEN_REVOKED"
            )
        return principal


class IdentityRevocations:
    """Polls identity's ListRevocations with the service's internal token, over a channel of its
    own: polls that fail while identity is starting must not put the channel the service's other
    calls use into reconnect backoff."""

    def __init__(self, target: str, token: InternalToken) -> None:
        self._channel = open_channel(target, isolated=True)
        self._stub = IdentityServiceStub(self._channel)
        self._token = token

    async def __call__(self, since: float | None) -> tuple[Sequence[Revocation], float]:
        # Not before identity answers here: getting the internal token uses the shared channel.
        await asyncio.wait_for(self._channel.channel_ready(), _POLL_TIMEOUT_SECONDS)
        request = ipb.ListRevocationsRequest()
        if since is not None:
            request.since.FromNanoseconds(int(since * 1e9))
        reply = await call_internal(
            self._stub.ListRevocations, request, self._token, call_timeout=_POLL_TIMEOUT_SECONDS
        )
        return [
            Revocation(
                item.key,
                item.revoke_time.ToNanoseconds() / 1e9,
                item.expire_time.ToNanoseconds() / 1e9,
            )
            for item in reply.revocations
        ], reply.read_time.ToNanoseconds() / 1e9

    async def close(self) -> None:
        await self._channel.close()
