"""Wake-ups across processes on PostgreSQL: LISTEN/NOTIFY as a hint, polling as the fallback.

A transaction that queues a run (or appends to a conversation's ledger) also issues
``pg_notify`` on a channel, which PostgreSQL delivers only once that transaction commits. Every
conversation process and every ``quarterdeck worker`` keeps one connection LISTENing: a queued
run wakes a worker's pass at once (instead of at its next poll), an append wakes the followers
of that conversation in a process other than the worker's. A notification lost (the listening
connection dropped and is being re-made) costs only the polling interval. SQLite has no
NOTIFY: there, polling is all there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.engine import make_url

from shared.db import PreparedRead, Transaction, dialect_name, execute_prepared

log = logging.getLogger("quarterdeck.conversation.wakeups")

#: A run was queued (or queued again); no payload.
RUNS_CHANNEL = "qd_conversation_runs"
#: A conversation's ledger grew; the payload is the conversation id.
LEDGER_CHANNEL = "qd_conversation_ledger"
#: How long a listener waits before connecting again after losing its connection.
RECONNECT_SECONDS = 1.0

_NOTIFY = PreparedRead(
    select(
        func.pg_notify(
            bindparam("channel", type_=String()), bindparam("payload", type_=String())
        ).label("sent")
    )
)
#: Names this process in what it announces: it woke its own workers and followers already
#: (after commit, in memory), so its listener passes over its own notifications.
PROCESS = uuid.uuid4().hex[:12]


async def notify(session: Transaction, channel: str, payload: str = "") -> None:
    """Announce on ``channel`` when the session's transaction commits (PostgreSQL only)."""
    if dialect_name(session) == "postgresql":
        await execute_prepared(
            session, _NOTIFY, {"channel": channel, "payload": f"{PROCESS}:{payload}"}
        )


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL of the database as a DSN asyncpg's own connect() reads."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


class Listener:
    """One connection LISTENing on some channels, each handed to its callback (with the
    notification's payload) in the event loop, but for those this process sent; re-connects after losing its connection."""

    def __init__(self, database_url: str, handlers: Mapping[str, Callable[[str], None]]) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._handlers = dict(handlers)
        self._task: asyncio.Task[None] | None = None
        #: Set while a connection is listening (tests wait on it).
        self.listening = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="conversation LISTEN"
            )

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        import asyncpg

        while True:
            lost = asyncio.Event()
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot LISTEN (%s); polling only until it can", exc)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            try:
                connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
                for channel, handler in self._handlers.items():
                    await connection.add_listener(channel, self._deliver(handler))
                self.listening.set()
                log.info("listening on %s", ", ".join(self._handlers))
                await lost.wait()
                log.warning("the LISTEN connection was lost; connecting again")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN failed (%s); connecting again", exc)
            finally:
                self.listening.clear()
                # At once, with nothing left to await: a LISTEN connection holds no work.
                connection.terminate()
            await asyncio.sleep(RECONNECT_SECONDS)

    @staticmethod
    def _deliver(handler: Callable[[str], None]) -> Callable[..., None]:
        def delivered(_connection: object, _pid: int, _channel: str, payload: str) -> None:
            origin, _, body = payload.partition(":")
            if origin == PROCESS:
                return
            try:
                handler(body)
            except Exception:
                log.exception("a wake-up handler failed")

        return delivered
