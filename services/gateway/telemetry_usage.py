"""``/v1/telemetry``: recorded usage and cost analytics (UsageService)."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.routing import ERROR_RESPONSES

router = APIRouter(tags=["usage and cost"], responses=ERROR_RESPONSES)
