"""Whether a tenant may act, as other services ask it: TenancyService.CheckTenantStatus behind a
small time-to-live cache.

A service calls :meth:`TenantStatusClient.may_act` (or :meth:`check` for several tenants) on each
request it serves for a tenant. Answers are cached per tenant for ``ttl_seconds`` (a few
seconds), so a busy service asks tenancy at most once per tenant per TTL: the misses of one
call are asked in one batch, and concurrent requests missing the same tenant share one call.

    status = TenantStatusClient(TenancyServiceStub(channel), link.internal_metadata)
    if not await status.may_act(tenant_id):
        raise FailedPrecondition("the tenant is suspended", reason="TENANT_NOT_ACTIVE")

**Staleness is bounded by the TTL:** a tenant suspended (or deleted, or reactivated) is seen as
such by every service within ``ttl_seconds`` of the change, never later. Unknown tenants are
cached too (as not found), so a flood of requests for a made-up id does not reach tenancy
more than once per TTL. When tenancy cannot be reached the call fails (the error propagates)
rather than letting a possibly-suspended tenant act.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from shared.internal_client import CallMetadata

#: How long an answer is trusted by default: a suspension takes effect within this many seconds.
DEFAULT_TTL_SECONDS = 5.0
#: The most tenants asked in one CheckTenantStatus call (the service's own limit).
MAX_BATCH = 500
_CALL_TIMEOUT_SECONDS = 5.0
#: Past this many cached tenants, expired entries are dropped before adding more.
_SWEEP_ABOVE = 10_000

MetadataSource = Callable[[], Awaitable[CallMetadata]]


@dataclass(frozen=True, slots=True)
class TenantStatus:
    """One tenant's answer: whether it exists, its status name and whether it may act."""

    tenant_id: str
    found: bool
    status: str  # "active", "suspended", "deleted", or "unknown" when not found
    may_act: bool


_STATUS_NAMES = {
    pb.TENANT_STATUS_ACTIVE: "active",
    pb.TENANT_STATUS_SUSPENDED: "suspended",
    pb.TENANT_STATUS_DELETED: "deleted",
}


def _normalized(tenant_id: str) -> str:
    """The canonical spelling of a tenant id, so "ABC..." and "abc..." share a cache entry."""
    try:
        return str(uuid.UUID(tenant_id))
    except ValueError:
        raise ValueError(f"tenant id {tenant_id!r} is not a UUID") from None


class TenantStatusClient:
    """Cached answers of CheckTenantStatus; one instance per process, shared by all requests."""

    def __init__(
        self,
        stub: TenancyServiceStub,
        metadata: MetadataSource,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")
        self._stub = stub
        self._metadata = metadata
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, TenantStatus]] = {}
        #: The lookups under way, by tenant: a request missing a tenant already being asked
        #: about waits for that answer instead of asking again.
        self._inflight: dict[str, asyncio.Future[None]] = {}
        #: How many CheckTenantStatus calls this client made: for tests and metrics.
        self.calls = 0

    async def may_act(self, tenant_id: str) -> bool:
        """Whether the tenant exists and is active, as of at most ``ttl_seconds`` ago."""
        return (await self.check([tenant_id]))[0].may_act

    async def check(self, tenant_ids: Iterable[str]) -> list[TenantStatus]:
        """The answer for every id, in order; ids not cached (or expired) are asked in batches."""
        wanted = [_normalized(t) for t in tenant_ids]
        now = self._clock()
        missing = list(dict.fromkeys(t for t in wanted if not self._fresh(t, now)))
        if missing:
            pending = {self._inflight[t] for t in missing if t in self._inflight}
            mine = [t for t in missing if t not in self._inflight]
            if mine:
                await self._lead(mine)
            for lookup in pending:
                await asyncio.shield(lookup)
        return [self._cache[t][1] for t in wanted]

    async def _lead(self, tenant_ids: list[str]) -> None:
        """Ask about ``tenant_ids`` on behalf of every request that misses them meanwhile."""
        lookup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for tenant_id in tenant_ids:
            self._inflight[tenant_id] = lookup
        try:
            await self._fetch(tenant_ids)
        except BaseException as exc:
            # Waiters fail too (a tenant is never let act on a failed lookup); a cancelled
            # leader is not a cancellation of theirs.
            failure = exc if isinstance(exc, Exception) else RuntimeError("lookup cancelled")
            lookup.set_exception(failure)
            lookup.exception()  # retrieved here, so an unawaited failure is not reported
            raise
        else:
            lookup.set_result(None)
        finally:
            for tenant_id in tenant_ids:
                if self._inflight.get(tenant_id) is lookup:
                    del self._inflight[tenant_id]

    def forget(self, tenant_id: str | None = None) -> None:
        """Drop one tenant's cached answer, or all of them (e.g. after this service suspended
        a tenant itself and must not wait for the TTL)."""
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(_normalized(tenant_id), None)

    def _fresh(self, tenant_id: str, now: float) -> bool:
        entry = self._cache.get(tenant_id)
        return entry is not None and entry[0] > now

    async def _fetch(self, tenant_ids: list[str]) -> None:
        metadata = list(await self._metadata())
        for start in range(0, len(tenant_ids), MAX_BATCH):
            batch = tenant_ids[start : start + MAX_BATCH]
            self.calls += 1
            # The expiry counts from when the question was sent, so an answer is never trusted
            # for longer than the TTL after the state it reports.
            expires = self._clock() + self._ttl
            response = await self._stub.CheckTenantStatus(
                pb.CheckTenantStatusRequest(tenant_ids=batch),
                metadata=metadata,
                timeout=_CALL_TIMEOUT_SECONDS,
            )
            if len(self._cache) > _SWEEP_ABOVE:
                self._sweep()
            for check in response.checks:
                tenant_id = _normalized(check.tenant_id)
                self._cache[tenant_id] = (
                    expires,
                    TenantStatus(
                        tenant_id=tenant_id,
                        found=check.found,
                        status=_STATUS_NAMES.get(check.status, "unknown"),
                        may_act=check.may_act,
                    ),
                )

    def _sweep(self) -> None:
        now = self._clock()
        for tenant_id in [t for t, (expires, _) in self._cache.items() if expires <= now]:
            del self._cache[tenant_id]
