"""Everything identity's handlers are built from, made once per process by ``prepare``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.identity.config import IdentitySettings, token_lifetime
from services.identity.events import SecurityEvents
from services.identity.issuer import TokenIssuer
from services.identity.membership_revocations import MembershipRevocations
from services.identity.notifier import LogNotifier, Notifier
from services.identity.secrets import IdentitySecrets
from services.identity.signing import SigningKeys
from services.identity.tenancy_client import TenancyClient
from shared.activity_link import ActivityLink
from shared.auth import AUTHORIZATION_HEADER
from shared.background import TaskSet
from shared.db import Database
from shared.idempotency import Idempotency
from shared.pagination import PageTokenCodec
from shared.server import ServiceContext
from shared.tokens import LEEWAY_SECONDS

#: Identity's own internal tokens: short-lived, minted again a minute before they expire.
_INTERNAL_TOKEN_TTL_SECONDS = 600
_INTERNAL_TOKEN_RENEW_MARGIN_SECONDS = 60


class OwnInternalToken:
    """Call metadata with identity's own internal token, for its calls to other services.

    Other services exchange an internal key with identity for theirs; identity signs its own with
    its issuer. The token is minted again before it expires and after a key rotation (a token of
    a retired key would be refused). One instance serves the activity link and the tenancy client.
    """

    def __init__(self, issuer: TokenIssuer) -> None:
        self._issuer = issuer
        self._token: tuple[str, float, str] | None = None
        self._lock = asyncio.Lock()  # calls in flight together mint one token, not one each

    def forget_internal_token(self) -> None:
        self._token = None

    async def internal_metadata(self) -> list[tuple[str, str]]:
        async with self._lock:
            kid = await self._issuer.active_kid()
            if (
                self._token is None
                or self._token[1] - time.time() < _INTERNAL_TOKEN_RENEW_MARGIN_SECONDS
                or self._token[2] != kid
            ):
                token, expires = await self._issuer.internal_token(
                    "identity", _INTERNAL_TOKEN_TTL_SECONDS
                )
                self._token = (token, expires.timestamp(), kid)
            return [(AUTHORIZATION_HEADER, f"Bearer {self._token[0]}")]


@dataclass
class IdentityContext:
    settings: IdentitySettings
    db: Database
    pages: PageTokenCodec
    idempotency: Idempotency
    secrets: IdentitySecrets
    keys: SigningKeys
    issuer: TokenIssuer
    events: SecurityEvents
    #: None when no tenancy service is configured: sign-up and sign-in then refuse to run.
    tenancy: TenancyClient | None
    notifier: Notifier
    #: Appends to the tenants' activity feeds; disabled (appends skipped) without a telemetry
    #: target. Append only after the change is committed, never on an idempotent replay.
    activity: ActivityLink
    #: Fire-and-forget work (a reset email's delivery), finished or cancelled at shutdown.
    tasks: TaskSet
    #: The memberships tenancy removed or lowered in role, for the revocation feed.
    memberships: MembershipRevocations


async def build_identity_context(context: ServiceContext[IdentitySettings, Any]) -> IdentityContext:
    settings = context.settings
    secrets = IdentitySecrets.from_settings(settings)
    keys = SigningKeys(context.database, secrets.box)
    await keys.ensure_active()
    issuer = TokenIssuer(keys, settings.access_token_ttl_seconds)
    own_token = OwnInternalToken(issuer)  # one token for all of identity's calls out
    activity = ActivityLink(
        settings.telemetry_target,
        "identity",
        own_token,
    )
    context.resources.on_close(activity.close)
    tenancy = TenancyClient(settings.tenancy_target, own_token) if settings.tenancy_target else None
    # Feed readers poll every revocation_poll_seconds; tenancy is asked at most 4 times as often.
    memberships = MembershipRevocations(
        tenancy,
        token_lifetime(settings) + timedelta(seconds=LEEWAY_SECONDS),
        min_interval_seconds=settings.revocation_poll_seconds / 4,
    )
    return IdentityContext(
        settings=settings,
        db=context.database,
        pages=context.page_tokens,
        idempotency=context.idempotency,
        secrets=secrets,
        keys=keys,
        issuer=issuer,
        events=SecurityEvents(context.database),
        tenancy=tenancy,
        notifier=LogNotifier(),
        activity=activity,
        tasks=context.tasks,
        memberships=memberships,
    )


async def close_identity_context(
    context: ServiceContext[IdentitySettings, IdentityContext],
) -> None:
    state = context.state
    await state.events.close()
    if state.tenancy is not None:
        await state.tenancy.close()
