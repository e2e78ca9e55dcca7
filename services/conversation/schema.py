"""Every table of the conversation service, for migrations and the bootstrap: one import per
area's models module, so an area added later cannot be forgotten by one of them."""

from __future__ import annotations

from services.conversation import models
from services.conversation.conversations import models as conversations_models
from services.conversation.events import models as events_models
from services.conversation.messages import models as messages_models
from services.conversation.runs import models as runs_models
from services.conversation.tickets import models as tickets_models

metadata = models.Base.metadata

__all__ = [
    "conversations_models",
    "events_models",
    "messages_models",
    "metadata",
    "models",
    "runs_models",
    "tickets_models",
]
