"""``/v1/activity``: the caller's activity feed (ActivityService)."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.routing import ERROR_RESPONSES

router = APIRouter(tags=["activity"], responses=ERROR_RESPONSES)
