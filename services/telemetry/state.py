"""The telemetry service's long-lived objects: whatever an area starts in ``register`` (a price
cache, a background loop) registers its release here, and the bootstrap's cleanup runs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.telemetry.config import TelemetrySettings
from shared.server import ServiceContext


class TelemetryState:
    def __init__(self) -> None:
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` when the service stops, after the server has drained (last first)."""
        self._closers.append(closer)

    async def close(self) -> None:
        closers, self._closers = self._closers, []
        for closer in reversed(closers):
            await closer()


async def prepare(context: ServiceContext[TelemetrySettings]) -> TelemetryState:
    return TelemetryState()


async def cleanup(context: ServiceContext[TelemetrySettings]) -> None:
    if isinstance(context.state, TelemetryState):
        await context.state.close()
