"""Everything the conversation service's handlers and workers are built from, made once per
process by ``prepare``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.conversation.config import ConversationSettings
from services.conversation.events.ledger import Ledger
from services.conversation.runs.links import ServiceLinks
from services.conversation.runs.queue import RunQueue
from services.conversation.runs.wakeups import Listener
from services.conversation.runs.worker import RunWorker
from services.conversation.runs.writes import RunWrites
from shared.clock import Clock, system_clock
from shared.db import Database
from shared.idempotency import Idempotency
from shared.pagination import PageTokenCodec
from shared.server import ServiceContext


@dataclass(frozen=True)
class ConversationContext:
    settings: ConversationSettings
    database: Database
    pages: PageTokenCodec
    idempotency: Idempotency
    ledger: Ledger
    runs: RunQueue
    #: The fenced writes of runs.
    writes: RunWrites
    #: The in-process worker, when the services a run needs are configured.
    worker: RunWorker | None = None
    #: The services runs call, when configured.
    links: ServiceLinks | None = None
    #: The time expiries are reckoned with (tests pass their own).
    clock: Clock = system_clock
    #: The LISTENing connection (PostgreSQL): wake-ups from other processes.
    listener: Listener | None = None

    @classmethod
    def of(
        cls, context: ServiceContext[ConversationSettings, Any], ledger: Ledger
    ) -> ConversationContext:
        settings = context.settings
        return cls(
            settings=settings,
            database=context.database,
            pages=context.page_tokens,
            idempotency=context.idempotency,
            ledger=ledger,
            clock=context.clock,
            writes=RunWrites(context.database, ledger),
            runs=RunQueue(
                context.database,
                ledger,
                lease_seconds=settings.run_lease_seconds,
                max_attempts=settings.run_max_attempts,
            ),
        )
