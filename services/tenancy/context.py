"""What tenancy's handlers are built from: the shared service context, typed with tenancy's own
long-lived objects (built once by ``prepare``)."""

from __future__ import annotations

from dataclasses import dataclass

from services.tenancy.config import TenancySettings
from services.tenancy.model_configs.tooling_grants import ToolingGrants
from shared.activity_link import ActivityLink
from shared.server import ServiceContext


@dataclass(frozen=True)
class TenancyState:
    #: Appends tenant lifecycle, membership and model-config changes to the activity feed.
    activity: ActivityLink
    #: Stores and revokes onboarding's agent and tool grants in the tooling service.
    tooling: ToolingGrants


TenancyContext = ServiceContext[TenancySettings, TenancyState]
