"""The one way to open a channel to another service: traced, with trace context propagated."""

from __future__ import annotations

import grpc

from shared.tracing import client_interceptors

_CHANNEL_OPTIONS = [
    # Spread calls over every address a target resolves to (e.g. dns:/// of a headless Service);
    # the default would pin all calls to one replica.
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
]


def open_channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target, options=_CHANNEL_OPTIONS, interceptors=client_interceptors()
    )
