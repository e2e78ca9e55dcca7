"""Channel options every outbound connection between Quarterdeck processes shares.

gRPC's default reconnect backoff grows to two minutes. Processes of one platform start at the
same moment, so a peer that was not listening yet would otherwise stay unreachable for up to two
minutes after it came up (a JWKS fetch, a span export). Capping it keeps a refused connection a
matter of seconds.
"""

from __future__ import annotations

RECONNECT_BACKOFF_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 3_000),
)
