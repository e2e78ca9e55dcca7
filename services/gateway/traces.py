"""``/v1/traces``: traces; span search (TelemetryService)."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.routing import ERROR_RESPONSES

router = APIRouter(tags=["traces"], responses=ERROR_RESPONSES)
