"""Service-account API keys: creation (the key is returned once and stored only as a keyed hash),
listing, revocation, and the exchange of a key for a short-lived access token.

An API key is ``qdk_<jti>.<secret>``: the jti finds its row, the keyed hash of the whole key
proves it. ExchangeApiKey also takes a service's internal key, ``qdi_<service>_<secret>``, of
which identity knows only the sha256 (``QD_IDENTITY_INTERNAL_CLIENTS``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.events import SecurityEvents
from services.identity.models import Base, ServiceAccountToken, User
from services.identity.reasons import API_KEY_EXPIRED, API_KEY_INVALID, API_KEY_REVOKED
from shared.auth import (
    ROLE_RANK,
    Principal,
    require_principal,
    require_tenant,
)
from shared.db import unique_violation
from shared.db_types import utcnow
from shared.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from shared.identity_link import INTERNAL_KEY_PREFIX
from shared.ids import parse_id
from shared.pagination import fetch_page
from shared.tenant_scope import one_tenant_for_read
from shared.timestamps import from_timestamp, to_timestamp

KEY_PREFIX = "qdk_"
# No ':' is allowed, so no account can pose as the seed's per-user "user:<id>" tokens.
ACCOUNT_PATTERN = re.compile(r"^[a-z0-9._-]{1,128}$")
SCOPE_PATTERN = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
MAX_SCOPES = 32
#: The scope_key column: the sorted scopes joined with spaces must fit.
MAX_SCOPE_KEY = 256
KEY_ROLES = ("viewer", "member", "admin")
MAX_REVOKE_REASON = 256
#: Far longer than any key this module or the supervisor makes; longer ones are not hashed.
MAX_PRESENTED_KEY = 512
EXCHANGE_METHOD = "/quarterdeck.identity.v1.IdentityService/ExchangeApiKey"
_USER_TOKEN_ACCOUNTS = "user:%"
_NO_DIGEST = "0" * 64
_ACTIVE_KEY_COLUMNS = ("account", "tenant_id", "scope_key")


def key_to_proto(row: ServiceAccountToken) -> pb.ApiKey:
    return pb.ApiKey(
        id=str(row.id),
        account=row.account,
        tenant_id=str(row.tenant_id) if row.tenant_id else "",
        scopes=list(row.scopes),
        signing_kid=row.signing_kid,
        create_time=to_timestamp(row.created_at),
        expire_time=to_timestamp(row.expires_at),
        revoke_time=to_timestamp(row.revoked_at),
        revoke_reason=row.revoked_reason or "",
        role=row.role,
    )


def _scope_violations(scopes: Sequence[str]) -> list[FieldViolation]:
    violations = [
        FieldViolation(
            f"scopes[{i}]",
            "must be 1 to 64 of a-z, 0-9, '_', '.', ':' or '-', starting with a letter",
        )
        for i, scope in enumerate(scopes)
        if not SCOPE_PATTERN.match(scope)
    ]
    distinct = set(scopes)
    if len(distinct) > MAX_SCOPES:
        violations.append(FieldViolation("scopes", f"may hold at most {MAX_SCOPES} scopes"))
    elif not violations and len(" ".join(distinct)) > MAX_SCOPE_KEY:
        violations.append(
            FieldViolation("scopes", f"together must be at most {MAX_SCOPE_KEY} characters")
        )
    return violations


def _expiry(request: pb.CreateApiKeyRequest, now: datetime, max_days: int) -> datetime | str:
    """The key's expiry, or the problem with the requested one."""
    latest = now + timedelta(days=max_days)
    if not request.HasField("expire_time"):
        return latest
    try:
        expires = from_timestamp(request.expire_time)
    except (ValueError, OverflowError):
        return "must be a valid timestamp"
    if expires <= now:
        return "must be in the future"
    if expires > latest:
        return f"must be at most {max_days} days ahead"
    return expires


def _may_see(principal: Principal, tenant_id: uuid.UUID | None) -> bool:
    return principal.is_operator or principal.is_internal or principal.tenant_id == str(tenant_id)


async def existing_user(session: AsyncSession, principal: Principal) -> uuid.UUID | None:
    """The caller's user id when it names a stored user (foreign keys point at users)."""
    if principal.user_id is None:
        return None
    try:
        user_id = uuid.UUID(principal.user_id)
    except ValueError:
        return None
    return await session.scalar(select(User.id).where(User.id == user_id))


class ApiKeyHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    # -- CreateApiKey -------------------------------------------------------------------------

    async def create_api_key(self, request: pb.CreateApiKeyRequest) -> pb.CreateApiKeyResponse:
        caller = require_principal()
        if caller.kind == "service_account":
            # A leaked key must not be able to mint its own successors.
            raise PermissionDenied(
                "API keys are created by people, not by other keys", reason="USER_ONLY"
            )
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        principal = require_tenant(str(tenant_id), "admin")
        now = utcnow()
        violations = []
        if not ACCOUNT_PATTERN.match(request.account):
            violations.append(
                FieldViolation("account", "must be 1 to 128 of a-z, 0-9, '.', '_' or '-'")
            )
        violations += _scope_violations(request.scopes)
        role = request.role or "member"
        if role not in KEY_ROLES:
            violations.append(FieldViolation("role", "must be viewer, member or admin"))
        expires = _expiry(request, now, self._ctx.settings.api_key_max_ttl_days)
        if isinstance(expires, str):
            violations.append(FieldViolation("expire_time", expires))
        if violations:
            raise InvalidArgument(violations)
        assert isinstance(expires, datetime)
        if not (principal.is_operator or principal.is_internal) and ROLE_RANK[role] > ROLE_RANK.get(
            principal.role or "", 0
        ):
            raise PermissionDenied(
                "an API key cannot carry a role above the caller's", reason="ROLE_ABOVE_CALLER"
            )
        scopes = sorted(set(request.scopes))
        scope_key = " ".join(scopes)
        created = False

        async def create(session: AsyncSession) -> pb.CreateApiKeyResponse:
            nonlocal created
            # An expired key the unique index still counts as active is revoked, so it does not
            # block its replacement.
            await session.execute(
                update(ServiceAccountToken)
                .where(
                    ServiceAccountToken.account == request.account,
                    ServiceAccountToken.tenant_id == tenant_id,
                    ServiceAccountToken.scope_key == scope_key,
                    ServiceAccountToken.revoked_at.is_(None),
                    ServiceAccountToken.expires_at <= now,
                )
                .values(revoked_at=now, revoked_reason="expired")
            )
            active = await session.scalar(
                select(ServiceAccountToken.id).where(
                    ServiceAccountToken.account == request.account,
                    ServiceAccountToken.tenant_id == tenant_id,
                    ServiceAccountToken.scope_key == scope_key,
                    ServiceAccountToken.revoked_at.is_(None),
                )
            )
            if active is not None:
                raise self._duplicate(request.account)
            creator = await existing_user(session, principal)
            jti = secrets.token_hex(16)
            api_key = f"{KEY_PREFIX}{jti}.{secrets.token_urlsafe(32)}"
            row = ServiceAccountToken(
                id=uuid.uuid4(),
                account=request.account,
                tenant_id=tenant_id,
                scope_key=scope_key,
                scopes=scopes,
                role=role,
                refresh_token_hash=self._ctx.secrets.hasher.hash(api_key),
                refresh_jti=jti,
                signing_kid=(await self._ctx.keys.active()).kid,
                created_by=creator,
                issued_at=now,
                expires_at=expires,
            )
            session.add(row)
            try:
                await session.flush()
            except IntegrityError as exc:  # a concurrent create of the same key won
                if unique_violation(exc, Base.metadata) == _ACTIVE_KEY_COLUMNS:
                    raise self._duplicate(request.account) from None
                raise
            SecurityEvents.add(
                session,
                "api_key_created",
                user_id=creator,
                tenant_id=tenant_id,
                metadata={
                    "key_id": str(row.id),
                    "account": row.account,
                    "role": role,
                    "scopes": scopes,
                    "actor": principal.subject,
                },
            )
            # The idempotency record keeps this response for replays: the key goes in sealed,
            # and is opened below, so it is never stored in clear.
            sealed = self._ctx.secrets.box.encrypt(api_key.encode()).decode()
            created = True
            return pb.CreateApiKeyResponse(key=key_to_proto(row), api_key=sealed)

        response = await self._ctx.idempotency.run(
            endpoint="IdentityService.CreateApiKey",
            request=request,
            response_type=pb.CreateApiKeyResponse,
            create=create,
            resource_id_of=lambda created: created.key.id,
            scope=str(tenant_id),
        )
        if created:  # committed now; a replayed request_id appends nothing
            key = response.key
            self._ctx.activity.append(
                key.tenant_id,
                "api_key.created",
                object_type="api_key",
                object_id=key.id,
                object_name=key.account,
                summary=f"API key for service account {key.account} was created as {key.role}",
                # Never the key nor its hash: only what ListApiKeys shows anyway.
                metadata={
                    "account": key.account,
                    "role": key.role,
                    "scopes": list(key.scopes),
                    "expire_time": key.expire_time.ToJsonString(),
                },
            )
        response.api_key = self._ctx.secrets.box.decrypt(response.api_key.encode()).decode()
        return response

    @staticmethod
    def _duplicate(account: str) -> AlreadyExists:
        return AlreadyExists(
            f"service account '{account}' already has an active key with these scopes; "
            "revoke it first",
            reason="API_KEY_EXISTS",
        )

    # -- ListApiKeys / RevokeApiKey -----------------------------------------------------------

    async def list_api_keys(self, request: pb.ListApiKeysRequest) -> pb.ListApiKeysResponse:
        # Naming no tenant lists the caller's own.
        tenant_id = parse_id(one_tenant_for_read(request.tenant_id), "tenant_id")
        statement = select(ServiceAccountToken).where(
            ServiceAccountToken.tenant_id == tenant_id,
            ServiceAccountToken.account.not_like(_USER_TOKEN_ACCOUNTS),
        )
        async with self._ctx.db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(ServiceAccountToken.created_at, ServiceAccountToken.id),
                position_of=lambda row: (row.created_at, row.id),
                codec=self._ctx.pages,
                query="ListApiKeys",
                filters={"tenant_id": str(tenant_id)},
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListApiKeysResponse(
            keys=[key_to_proto(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def revoke_api_key(self, request: pb.RevokeApiKeyRequest) -> pb.RevokeApiKeyResponse:
        principal = require_principal()
        key_id = parse_id(request.id, "id")
        if len(request.reason) > MAX_REVOKE_REASON:
            raise InvalidArgument.field("reason", f"must be at most {MAX_REVOKE_REASON} characters")
        revoked_now = False
        async with self._ctx.db.transaction() as session:
            row = await session.get(ServiceAccountToken, key_id, with_for_update=True)
            # Another tenant's key is indistinguishable from a missing one.
            if (
                row is None
                or row.account.startswith("user:")
                or not _may_see(principal, row.tenant_id)
            ):
                raise NotFound(f"API key {key_id} not found", reason="API_KEY_NOT_FOUND")
            require_tenant(str(row.tenant_id), "admin")
            if row.revoked_at is None:  # revoking twice keeps the first time and reason
                row.revoked_at = utcnow()
                row.revoked_reason = request.reason or None
                SecurityEvents.add(
                    session,
                    "api_key_revoked",
                    user_id=await existing_user(session, principal),
                    tenant_id=row.tenant_id,
                    metadata={
                        "key_id": str(row.id),
                        "account": row.account,
                        "reason": request.reason,
                        "actor": principal.subject,
                    },
                )
                await session.flush()
                revoked_now = True
            response = pb.RevokeApiKeyResponse(key=key_to_proto(row))
        key = response.key
        if revoked_now and key.tenant_id:  # committed; revoking again appends nothing
            self._ctx.activity.append(
                key.tenant_id,
                "api_key.revoked",
                object_type="api_key",
                object_id=key.id,
                object_name=key.account,
                summary=f"API key for service account {key.account} was revoked",
                metadata={"account": key.account, "reason": key.revoke_reason},
            )
        return response

    # -- ExchangeApiKey -----------------------------------------------------------------------

    async def exchange_api_key(
        self, request: pb.ExchangeApiKeyRequest
    ) -> pb.ExchangeApiKeyResponse:
        key = request.api_key
        if len(key) <= MAX_PRESENTED_KEY and key.startswith(INTERNAL_KEY_PREFIX):
            token, expires = await self._exchange_internal(key)
        elif len(key) <= MAX_PRESENTED_KEY and key.startswith(KEY_PREFIX):
            token, expires = await self._exchange_service_account(key)
        else:
            await self._refuse(API_KEY_INVALID, "the API key is not valid")
        return pb.ExchangeApiKeyResponse(access_token=token, expire_time=to_timestamp(expires))

    async def _exchange_internal(self, key: str) -> tuple[str, datetime]:
        service, _, secret = key[len(INTERNAL_KEY_PREFIX) :].partition("_")
        expected = self._ctx.secrets.internal_clients.get(service)
        presented = hashlib.sha256(key.encode()).hexdigest()
        # Compared in constant time even for an unknown service.
        matches = hmac.compare_digest(presented, expected or _NO_DIGEST)
        if not (secret and expected and matches):
            await self._refuse(
                API_KEY_INVALID, "the API key is not valid", metadata={"service": service[:32]}
            )
        return await self._ctx.issuer.internal_token(
            service, self._ctx.settings.internal_token_ttl_seconds
        )

    async def _exchange_service_account(self, key: str) -> tuple[str, datetime]:
        jti, _, secret = key[len(KEY_PREFIX) :].partition(".")
        row = None
        if jti and secret and len(jti) <= 64:
            async with self._ctx.db.reading() as session:
                row = await session.scalar(
                    select(ServiceAccountToken).where(ServiceAccountToken.refresh_jti == jti)
                )
        if row is not None and row.account.startswith("user:"):
            row = None  # the seed's per-user tokens are not API keys
        if row is None:
            await self._refuse(API_KEY_INVALID, "the API key is not valid")
        if not self._ctx.secrets.hasher.matches(key, row.refresh_token_hash):
            # A real key id with a wrong secret is worth telling its tenant about.
            await self._refuse(
                API_KEY_INVALID,
                "the API key is not valid",
                tenant_id=row.tenant_id,
                metadata={"key_id": str(row.id)},
            )
        details = {"key_id": str(row.id), "account": row.account}
        if row.revoked_at is not None:
            await self._refuse(
                API_KEY_REVOKED,
                "the API key was revoked",
                tenant_id=row.tenant_id,
                metadata=details,
            )
        now = utcnow()
        if row.expires_at <= now:
            await self._refuse(
                API_KEY_EXPIRED,
                "the API key has expired",
                tenant_id=row.tenant_id,
                metadata=details,
            )
        principal = Principal(
            subject=f"sa:{row.id}",
            kind="service_account",
            tenant_id=str(row.tenant_id) if row.tenant_id else None,
            role=row.role,
            scopes=frozenset(row.scopes),
        )
        # The token never outlives its key.
        remaining = int((row.expires_at - now).total_seconds())
        ttl = max(1, min(self._ctx.settings.access_token_ttl_seconds, remaining))
        return await self._ctx.issuer.access_token(principal, ttl)

    async def _refuse(
        self,
        reason: str,
        message: str,
        *,
        tenant_id: uuid.UUID | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> NoReturn:
        """Record the refusal (the interceptor leaves these reasons to us), then raise it."""
        await self._ctx.events.record(
            reason.lower(),
            tenant_id=tenant_id,
            metadata={"method": EXCHANGE_METHOD, "code": "UNAUTHENTICATED", **(metadata or {})},
        )
        raise Unauthenticated(message, reason=reason)
