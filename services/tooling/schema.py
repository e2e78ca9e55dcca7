"""Every table of the tooling service, for migrations and the bootstrap: one import per area's
models module, so an area added later cannot be forgotten by one of them."""

from __future__ import annotations

from services.tooling import models
from services.tooling.agents import models as agents_models
from services.tooling.checkpoints import models as checkpoints_models
from services.tooling.executions import models as executions_models
from services.tooling.memory import models as memory_models
from services.tooling.permissions import models as permissions_models
from services.tooling.tools import models as tools_models

metadata = models.Base.metadata

__all__ = [
    "agents_models",
    "checkpoints_models",
    "executions_models",
    "memory_models",
    "metadata",
    "models",
    "permissions_models",
    "tools_models",
]
