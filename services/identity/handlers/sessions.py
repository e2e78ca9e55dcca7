"""Placeholder while this area is being written; replaced before landing."""

from __future__ import annotations

from services.identity.context import IdentityContext


class SessionHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx
