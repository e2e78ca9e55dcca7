"""``/v1/status-subscriptions``: status subscriptions (StatusSubscriptionService)."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.routing import ERROR_RESPONSES

router = APIRouter(tags=["status subscriptions"], responses=ERROR_RESPONSES)
