"""Placeholder while this area is being written; replaced before landing."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from services.tenancy.config import TenancySettings
from shared.server import ServiceContext


def register(server: grpc.aio.Server, context: ServiceContext[TenancySettings]) -> Sequence[str]:
    return []
