"""``/v1/telemetry``: request logs, agent metrics and tool usage (RequestLogService, AgentMetricsService, ToolUsageService)."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.routing import ERROR_RESPONSES

router = APIRouter(tags=["operations"], responses=ERROR_RESPONSES)
