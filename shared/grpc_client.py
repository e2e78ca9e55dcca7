"""The one way to open a channel to another service: traced, with trace context propagated."""

from __future__ import annotations

import grpc

from shared.channel_options import RECONNECT_BACKOFF_OPTIONS
from shared.traced_channel import TracedChannel

_CHANNEL_OPTIONS = [
    # Spread calls over every address a target resolves to (e.g. dns:/// of a headless Service);
    # the default would pin all calls to one replica.
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
    *RECONNECT_BACKOFF_OPTIONS,
]


def open_channel(target: str, *, isolated: bool = False) -> grpc.aio.Channel:
    """``isolated``: connections of its own, so its failures (a poll while the target is still
    starting) never put other channels to the same target into reconnect backoff."""
    options = (
        [*_CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)] if isolated else _CHANNEL_OPTIONS
    )
    return TracedChannel(grpc.aio.insecure_channel(target, options=options))
