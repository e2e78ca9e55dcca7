"""Where identity sends messages meant for a person (password-reset tokens, for now).

The default writes to the log, which is the delivery channel on a laptop; a deployment plugs in
its mailer by implementing :class:`Notifier`.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("quarterdeck.identity.notifier")


class Notifier(Protocol):
    async def send_password_reset(self, email: str, token: str) -> None: ...


class LogNotifier:
    async def send_password_reset(self, email: str, token: str) -> None:
        log.info("password reset requested for %s: reset token %s", email, token)
