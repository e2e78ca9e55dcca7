"""Everything identity's handlers are built from, made once per process by ``prepare``."""

from __future__ import annotations

from dataclasses import dataclass

from services.identity.config import IdentitySettings
from services.identity.events import SecurityEvents
from services.identity.issuer import TokenIssuer
from services.identity.notifier import LogNotifier, Notifier
from services.identity.secrets import IdentitySecrets
from services.identity.signing import SigningKeys
from services.identity.tenancy_client import TenancyClient
from shared.db import Database
from shared.idempotency import Idempotency
from shared.pagination import PageTokenCodec
from shared.server import ServiceContext


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


async def build_identity_context(context: ServiceContext[IdentitySettings]) -> IdentityContext:
    settings = context.settings
    secrets = IdentitySecrets.from_settings(settings)
    keys = SigningKeys(context.database, secrets.box)
    await keys.ensure_active()
    issuer = TokenIssuer(keys, settings.access_token_ttl_seconds)
    return IdentityContext(
        settings=settings,
        db=context.database,
        pages=context.page_tokens,
        idempotency=context.idempotency,
        secrets=secrets,
        keys=keys,
        issuer=issuer,
        events=SecurityEvents(context.database),
        tenancy=TenancyClient(settings.tenancy_target, issuer) if settings.tenancy_target else None,
        notifier=LogNotifier(),
    )


async def close_identity_context(context: ServiceContext[IdentitySettings]) -> None:
    state: IdentityContext = context.state
    await state.events.drain()
    if state.tenancy is not None:
        await state.tenancy.close()
