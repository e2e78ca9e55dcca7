"""Access tokens obtained for API keys, reused while they are fresh (the gateway's callers, and
the OTLP receiver's exporters, present keys).

A caller authenticating with a service-account key (``qdk_...``) is one whose key identity
exchanges (ExchangeApiKey) for a short-lived access token, which is what the services then see.
Exchanging on every request would cost a round trip and a keyed hash each time, so the token is
kept for a while, under the SHA-256 of the key: the key itself is never kept, and a dump of the
cache yields nothing a caller could present.

A token is reused for at most ``max_age_seconds`` and never past :data:`EXPIRY_MARGIN_SECONDS`
before it expires; a refused key is never remembered, so the caller gets identity's answer each
time. Revoking a key through this gateway forgets its token at once; a key revoked elsewhere
stops working here within ``max_age_seconds``. A token a service refuses (its signing key retired
early) is dropped with :meth:`ApiKeyTokens.forget_token`, so the key is exchanged afresh. Concurrent requests with the same key share one
exchange.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import jwt

from quarterdeck.identity.v1 import identity_pb2 as ipb

#: An API key as the gateway recognises one; anything else in a bearer header is a token.
API_KEY_PREFIX = "qdk_"
#: A token is not reused this close to its expiry, so it cannot expire on its way to a service.
EXPIRY_MARGIN_SECONDS = 30.0
#: The subject of a service account's token: ``sa:<key id>``.
_SUBJECT_PREFIX = "sa:"

Exchange = Callable[[str], Awaitable[ipb.ExchangeApiKeyResponse]]


def key_digest(api_key: str) -> str:
    """What the cache files a key under: its SHA-256, hex."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def _key_id(access_token: str) -> str | None:
    """The key id a service account's token names, read unverified: it only indexes the cache
    for :meth:`ApiKeyTokens.forget_key`, and identity, which just minted it, is trusted."""
    try:
        subject = jwt.decode(access_token, options={"verify_signature": False}).get("sub")
    except jwt.InvalidTokenError:
        return None
    if isinstance(subject, str) and subject.startswith(_SUBJECT_PREFIX):
        return subject[len(_SUBJECT_PREFIX) :]
    return None


@dataclass(frozen=True)
class _Entry:
    access_token: str
    fresh_until: float  # on the monotonic clock
    key_id: str | None


class ApiKeyTokens:
    """A bounded, least-recently-used map from SHA-256 of a key to its exchanged access token."""

    def __init__(
        self,
        exchange: Exchange,
        *,
        max_entries: int,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._exchange = exchange
        self._max_entries = max_entries
        self._max_age = max_age_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[str]] = {}
        #: Bumped by forget_key, so an exchange already under way then is not kept afterwards.
        self._generation = 0

    def digests(self) -> list[str]:
        """The keys the cache holds entries under (SHA-256 hex digests), oldest use first."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def forget_key(self, key_id: str) -> None:
        """Drop the token of the API key with this id (it was just revoked)."""
        self._generation += 1
        for digest in [d for d, entry in self._entries.items() if entry.key_id == key_id]:
            del self._entries[digest]

    def forget_token(self, api_key: str, access_token: str) -> None:
        """Drop ``api_key``'s cached token if it is still ``access_token``: a service refused it
        (signed by a key retired since, say), so the next use exchanges the key afresh. A newer
        token already cached for the key is kept."""
        digest = key_digest(api_key)
        entry = self._entries.get(digest)
        if entry is not None and entry.access_token == access_token:
            del self._entries[digest]

    def clear(self) -> None:
        self._entries.clear()

    async def access_token(self, api_key: str) -> str:
        """A fresh access token for ``api_key``; identity's refusal propagates as its RpcError."""
        digest = key_digest(api_key)
        entry = self._entries.get(digest)
        if entry is not None:
            if entry.fresh_until > self._clock():
                self._entries.move_to_end(digest)
                return entry.access_token
            del self._entries[digest]
        pending = self._inflight.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(
                self._exchange_and_keep(digest, api_key, self._generation)
            )
            self._inflight[digest] = pending
            pending.add_done_callback(lambda done: self._settled(digest, done))
        # Shielded: one waiter giving up (its client went away) does not fail the others.
        return await asyncio.shield(pending)

    def _settled(self, digest: str, done: asyncio.Future[str]) -> None:
        if self._inflight.get(digest) is done:
            del self._inflight[digest]
        if not done.cancelled():
            done.exception()  # retrieved here, so an exchange nobody awaited any more is quiet

    async def _exchange_and_keep(self, digest: str, api_key: str, generation: int) -> str:
        reply = await self._exchange(api_key)
        lifetime = reply.expire_time.ToNanoseconds() / 1e9 - self._wall_clock()
        keep_for = min(self._max_age, lifetime - EXPIRY_MARGIN_SECONDS)
        if keep_for > 0 and generation == self._generation:
            self._entries[digest] = _Entry(
                reply.access_token, self._clock() + keep_for, _key_id(reply.access_token)
            )
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return reply.access_token
