"""Opening sessions and minting token pairs, shared by sign-up, sign-in and refresh.

A refresh token is ``qdr_<session id>.<jti>.<secret>`` whose jti is a keyed hash of the session
id and the secret, so identity can tell a token it really issued from a forged one without
storing old tokens. The session row keeps the jti of the one refresh token still valid and the
keyed hash of that token; presenting a genuine token with any other jti means a token was
reused, which revokes the whole session. A forged token (wrong jti) is merely invalid: knowing a
session id is not enough to end someone's session.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.models import User, UserSession
from services.identity.secrets import Hasher, mask_ip
from shared.auth import Principal
from shared.db_types import utcnow
from shared.errors import Unauthenticated
from shared.timestamps import to_timestamp

REFRESH_PREFIX = "qdr_"


@dataclass(frozen=True)
class DeviceHashes:
    ip_hash: str
    user_agent_hash: str | None


def device_hashes(ctx: IdentityContext, device: pb.DeviceInfo) -> DeviceHashes:
    """Keyed hashes of the client's IP and agent, for login and security events."""
    hasher = ctx.secrets.hasher
    return DeviceHashes(
        ip_hash=hasher.hash(f"ip:{device.ip_address}"),
        user_agent_hash=hasher.hash(f"ua:{device.user_agent}") if device.user_agent else None,
    )


def parse_refresh_token(token: str) -> tuple[uuid.UUID, str]:
    """(session id, jti) of a well-formed refresh token; anything else is UNAUTHENTICATED."""
    try:
        if not token.startswith(REFRESH_PREFIX):
            raise ValueError
        session_hex, jti, secret = token[len(REFRESH_PREFIX) :].split(".")
        if not (jti and secret):
            raise ValueError
        return uuid.UUID(hex=session_hex), jti
    except ValueError:
        raise Unauthenticated(
            "the refresh token is malformed", reason="REFRESH_TOKEN_INVALID"
        ) from None


def _refresh_jti(hasher: Hasher, session_hex: str, secret: str) -> str:
    return hasher.hash(f"refresh:{session_hex}:{secret}")[:32]


def refresh_token_is_genuine(hasher: Hasher, token: str) -> bool:
    """Whether identity issued this refresh token at some point (current or superseded)."""
    session_hex, jti, secret = token[len(REFRESH_PREFIX) :].split(".")
    return secrets.compare_digest(jti, _refresh_jti(hasher, session_hex, secret))


def _new_refresh_token(hasher: Hasher, session_id: uuid.UUID) -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    jti = _refresh_jti(hasher, session_id.hex, secret)
    return f"{REFRESH_PREFIX}{session_id.hex}.{jti}.{secret}", jti


async def issue_tokens(
    ctx: IdentityContext, row: UserSession, user: User, role: str
) -> pb.TokenPair:
    """Give ``row`` a fresh refresh token (invalidating the previous one) and an access token."""
    refresh_token, jti = _new_refresh_token(ctx.secrets.hasher, row.id)
    row.refresh_jti = jti
    row.session_token_hash = ctx.secrets.hasher.hash(refresh_token)
    row.last_seen_at = utcnow()
    principal = Principal(
        subject=str(user.id),
        kind="user",
        tenant_id=str(row.tenant_id),
        role=role,
        platform_role=user.platform_role.value if user.platform_role else None,
        session_id=str(row.id),
    )
    access_token, access_expires = await ctx.issuer.access_token(principal)
    return pb.TokenPair(
        access_token=access_token,
        access_token_expire_time=to_timestamp(access_expires),
        refresh_token=refresh_token,
        refresh_token_expire_time=to_timestamp(row.expires_at),
        session_id=str(row.id),
        tenant_id=str(row.tenant_id),
        role=role,
    )


async def open_session(
    ctx: IdentityContext,
    session: AsyncSession,
    user: User,
    tenant_id: str,
    role: str,
    device: pb.DeviceInfo,
) -> pb.TokenPair:
    """A new session for ``user`` in ``tenant_id``, with its first token pair."""
    hashes = device_hashes(ctx, device)
    row = UserSession(
        id=uuid.uuid4(),
        user_id=user.id,
        tenant_id=uuid.UUID(tenant_id),
        # Placeholders replaced by issue_tokens before the flush.
        refresh_jti=secrets.token_hex(16),
        session_token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        fingerprint=device.fingerprint[:256] or None,
        ip_hash=hashes.ip_hash if device.ip_address else None,
        ip_encrypted=ctx.secrets.box.encrypt(device.ip_address.encode())
        if device.ip_address
        else None,
        ip_masked=mask_ip(device.ip_address),
        user_agent=device.user_agent[:512] or None,
        client_platform=device.client_platform[:64] or None,
        client_browser=device.client_browser[:64] or None,
        client_device=device.client_device[:32] or None,
        expires_at=utcnow() + timedelta(seconds=ctx.settings.refresh_token_ttl_seconds),
    )
    tokens = await issue_tokens(ctx, row, user, role)
    session.add(row)
    await session.flush()
    return tokens
