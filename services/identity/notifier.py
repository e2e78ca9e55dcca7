"""Where identity sends messages meant for a person: password-reset tokens and team invites.

The default writes to the log, which is the delivery channel on a laptop; a deployment plugs in
its mailer by implementing :class:`Notifier`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

log = logging.getLogger("quarterdeck.identity.notifier")


class Notifier(Protocol):
    async def send_password_reset(self, email: str, token: str) -> None: ...

    async def send_team_invite(
        self, email: str, tenant_id: str, role: str, token: str, expires_at: datetime
    ) -> None: ...


class LogNotifier:
    async def send_password_reset(self, email: str, token: str) -> None:
        log.info("password reset requested for %s: reset token %s", email, token)

    async def send_team_invite(
        self, email: str, tenant_id: str, role: str, token: str, expires_at: datetime
    ) -> None:
        log.info(
            "team invite for %s to join tenant %s as %s until %s: invite token %s",
            email,
            tenant_id,
            role,
            expires_at.isoformat(),
            token,
        )
