"""The one way to open a channel to another service: traced, with trace context propagated."""

from __future__ import annotations

import grpc

from shared.tracing import client_interceptors

_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
]


def open_channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target, options=_CHANNEL_OPTIONS, interceptors=client_interceptors()
    )
