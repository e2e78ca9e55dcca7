"""Settings of the conversation service (environment prefix ``QD_CONVERSATION_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class ConversationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_CONVERSATION_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "conversation"
    port: int = 50053
