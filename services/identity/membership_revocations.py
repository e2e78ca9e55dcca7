"""Memberships removed or lowered in role, learned from tenancy (which records them in the
transaction that changes the membership) and folded into identity's revocation feed as
``mem:<user id>:<tenant id>``: every service then refuses the user's tokens for that tenant issued
at or before the change, within about one poll of the feed.

Identity asks tenancy when the feed is read (at most once per ``min_interval_seconds``, so many
services polling cost one call), not on a timer of its own, so a change reaches a service within
its own poll interval plus one short call. What was learned is kept here with the time it was
learned: a feed reader's cursor moves by that time, so a revocation learned late is still sent.
If tenancy does not answer, what is known keeps biting and the next read asks again; identity
restarting asks again for everything whose tokens may still be valid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from services.identity.tenancy_client import TenancyClient
from shared.revocation import Revocation, membership_key
from shared.timestamps import to_timestamp

log = logging.getLogger("quarterdeck.identity.revocations")
#: A feed read waits at most this long for tenancy before it answers with what is known.
CALL_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class _Learned:
    revocation: Revocation
    #: Epoch seconds.
    learned_at: float


class MembershipRevocations:
    def __init__(
        self,
        tenancy: TenancyClient | None,
        token_lifetime: timedelta,
        min_interval_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tenancy = tenancy
        self._lifetime = token_lifetime
        self._min_interval = min_interval_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._asked_at: float | None = None
        self._cursor: datetime | None = None
        self._known: dict[str, _Learned] = {}
        #: Whether the last ask failed: a failure is logged once, not at every ask.
        self._failing = False

    async def refresh(self) -> None:
        """Learns what tenancy recorded since the last answer; a failure is logged and the known
        revocations kept."""
        if self._tenancy is None:
            return
        async with self._lock:
            now = time.monotonic()
            if self._asked_at is not None and now - self._asked_at < self._min_interval:
                return
            self._asked_at = now
            since = self._cursor or datetime.now(UTC) - self._lifetime
            try:
                reply = await self._tenancy.call(
                    self._tenancy.stub.ListMembershipRevocations,
                    tpb.ListMembershipRevocationsRequest(since=to_timestamp(since)),
                    call_timeout=CALL_TIMEOUT_SECONDS,
                )
            except (grpc.aio.AioRpcError, TimeoutError, RuntimeError) as error:
                level = logging.DEBUG if self._failing else logging.WARNING
                log.log(level, "membership revocations not read from tenancy (%s)", error)
                self._failing = True
                return
            if self._failing:
                log.info("membership revocations read from tenancy again")
                self._failing = False
            self._learn(reply)

    def _learn(self, reply: tpb.ListMembershipRevocationsResponse) -> None:
        now = self._clock()
        lifetime = self._lifetime.total_seconds()
        for item in reply.revocations:
            key = membership_key(item.user_id, item.tenant_id)
            revoked_at = item.revoke_time.ToNanoseconds() / 1e9
            known = self._known.get(key)
            if known is None or revoked_at > known.revocation.revoked_at:
                self._known[key] = _Learned(
                    Revocation(key, revoked_at, revoked_at + lifetime), learned_at=now
                )
        for key in [k for k, v in self._known.items() if v.revocation.expires_at < now]:
            del self._known[key]
        self._cursor = reply.read_time.ToDatetime(tzinfo=UTC)

    def learned_since(self, start: datetime) -> list[Revocation]:
        """The revocations learned at or after ``start``."""
        at = start.timestamp()
        return [v.revocation for v in self._known.values() if v.learned_at >= at]
