"""`quarterdeck bootstrap`: the first platform operator of a new installation.

Runs beside the platform (tenancy must answer, and verify identity's tokens): it writes the
operator straight into identity's database, with identity's own settings and secrets, then asks
the tenancy service for a tenant the operator owns, so they can sign in. If tenancy refuses,
the operator is removed again and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from services.identity.config import IdentitySettings
from services.identity.context import (
    IdentityContext,
    build_identity_context,
    close_identity_context,
)
from services.identity.models import PlatformRole, User, UserProfile, UserStatus
from services.identity.passwords.policy import check_strength
from services.identity.service import SPEC
from services.identity.signup.validation import email_problem
from shared.config import ConfigurationError, load_settings
from shared.db import Database
from shared.db_types import utcnow
from shared.errors import DomainError, InvalidArgument
from shared.idempotency import Idempotency
from shared.migrations import require_head
from shared.pagination import PageTokenCodec
from shared.server import ServiceContext

PASSWORD_ENV = "QD_BOOTSTRAP_PASSWORD"
DEFAULT_TENANT_SLUG = "platform"
DEFAULT_TENANT_NAME = "Platform"
_TENANCY_TIMEOUT_SECONDS = 10.0
#: Serializes concurrent bootstraps on PostgreSQL (SQLite's write lock already does).
_ADVISORY_LOCK_KEY = 0x5144_0B00_7500


class BootstrapRefused(Exception):
    """Why nothing was created; the message is for the person at the terminal."""


@dataclass(frozen=True)
class BootstrapResult:
    user_id: str
    email: str
    tenant_id: str
    tenant_slug: str


@asynccontextmanager
async def identity_context(settings: IdentitySettings) -> AsyncIterator[IdentityContext]:
    """Identity's context built as the service builds it, without serving anything."""
    database = Database(settings.resolved_database_url, pool_size=2, max_overflow=0)
    try:
        try:
            await database.ping()
        except (OSError, SQLAlchemyError) as exc:
            raise BootstrapRefused(f"cannot reach identity's database: {exc}") from None
        await require_head(database, SPEC.migrations_dir, SPEC.name)
        secret = settings.page_token_secret
        service: ServiceContext[IdentitySettings, IdentityContext] = ServiceContext(
            settings=settings,
            database=database,
            page_tokens=PageTokenCodec(
                secret.get_secret_value().encode() if secret else os.urandom(32)
            ),
            idempotency=Idempotency(
                database, SPEC.idempotency_model, timedelta(hours=settings.idempotency_ttl_hours)
            ),
        )
        service.state = await build_identity_context(service)
        try:
            yield service.state
        finally:
            await close_identity_context(service)
    finally:
        await database.dispose()


def _problems(error: InvalidArgument) -> str:
    return "; ".join(f"{v.field} {v.description}" for v in error.violations)


async def bootstrap_operator(
    settings: IdentitySettings,
    *,
    email: str,
    password: str,
    tenant_slug: str = DEFAULT_TENANT_SLUG,
    tenant_name: str = DEFAULT_TENANT_NAME,
) -> BootstrapResult:
    """Create the first platform operator and the tenant they own; BootstrapRefused says why not."""
    email = email.strip()
    if problem := email_problem(email):
        raise BootstrapRefused(f"email {problem}")
    try:
        check_strength(password, email, settings.password_min_length, "password")
    except InvalidArgument as error:
        raise BootstrapRefused(_problems(error)) from None
    if not settings.tenancy_target:
        raise BootstrapRefused(
            "QD_IDENTITY_TENANCY_TARGET must name the tenancy service, which creates the "
            "operator's tenant"
        )
    async with identity_context(settings) as ctx:
        user_id = await _create_operator(ctx, email, password)
        try:
            tenant_id = await _create_tenant(ctx, user_id, tenant_slug, tenant_name)
        except BaseException:
            async with ctx.db.transaction() as session:
                await session.execute(delete(User).where(User.id == user_id))
            raise
        await ctx.events.record(
            "operator_bootstrapped",
            user_id=user_id,
            tenant_id=tenant_id,
            metadata={"tenant_slug": tenant_slug},
        )
    return BootstrapResult(str(user_id), email, tenant_id, tenant_slug)


async def _create_operator(ctx: IdentityContext, email: str, password: str) -> uuid.UUID:
    async with ctx.db.transaction() as session:
        if ctx.db.dialect == "postgresql":
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
            )
        operator = await session.scalar(
            select(User.id).where(User.platform_role == PlatformRole.PLATFORM_OPERATOR).limit(1)
        )
        if operator is not None:
            raise BootstrapRefused(
                "a platform operator already exists; bootstrap only creates the first one "
                "(sign in as that operator to add more)"
            )
        taken = await session.scalar(
            select(User.id).where(func.lower(User.email) == email.lower()).limit(1)
        )
        if taken is not None:
            raise BootstrapRefused(f"a user with the email {email} already exists")
        # A first password has no history to check against or join.
        user = User(
            id=uuid.uuid4(),
            email=email,
            password_hash=ctx.secrets.passwords.hash(password),
            password_pepper_version=ctx.secrets.passwords.current_version,
            status=UserStatus.ACTIVE,
            platform_role=PlatformRole.PLATFORM_OPERATOR,
            # The installer vouches for their own address.
            email_verified_at=utcnow(),
        )
        session.add(user)
        await session.flush()
        session.add(UserProfile(user_id=user.id, display_name=email.split("@", 1)[0][:128]))
        return user.id


async def _create_tenant(ctx: IdentityContext, user_id: uuid.UUID, slug: str, name: str) -> str:
    assert ctx.tenancy is not None
    try:
        response = await ctx.tenancy.call(
            ctx.tenancy.stub.CreateTenant,
            tpb.CreateTenantRequest(
                tenant=tpb.Tenant(slug=slug, name=name), owner_user_id=str(user_id)
            ),
            _TENANCY_TIMEOUT_SECONDS,
        )
    except grpc.aio.AioRpcError as error:
        raise BootstrapRefused(
            f"the tenancy service at {ctx.settings.tenancy_target} did not create the tenant "
            f"({error.code().name}: {error.details()}); the operator was not kept"
        ) from None
    return str(response.tenant.id)


def read_password(
    environ: Mapping[str, str] = os.environ, prompt: Callable[[str], str] = getpass.getpass
) -> str:
    """From QD_BOOTSTRAP_PASSWORD, else asked twice at the terminal; never from the command line."""
    if (value := environ.get(PASSWORD_ENV)) is not None:
        return value
    first = prompt("Password for the first platform operator: ")
    if prompt("Repeat the password: ") != first:
        raise BootstrapRefused("the two passwords differ")
    return first


def run(email: str, tenant_slug: str, tenant_name: str, env_file: Path | None = None) -> int:
    """The command: 0 when created, 2 with the reason on stderr when refused."""
    try:
        if problem := email_problem(email.strip()):  # before anyone types a password
            raise BootstrapRefused(f"email {problem}")
        password = read_password()
        # `quarterdeck up` leaves identity's settings in <data dir>/identity.env.
        settings = (
            load_settings(IdentitySettings, _env_file=env_file)
            if env_file is not None
            else load_settings(IdentitySettings)
        )
        result = asyncio.run(
            bootstrap_operator(
                settings,
                email=email,
                password=password,
                tenant_slug=tenant_slug,
                tenant_name=tenant_name,
            )
        )
    except (EOFError, KeyboardInterrupt):
        print("quarterdeck bootstrap: no password given; nothing was created", file=sys.stderr)
        return 2
    except (BootstrapRefused, ConfigurationError, DomainError) as exc:
        print(f"quarterdeck bootstrap: {exc}", file=sys.stderr)
        return 2
    print(
        f"Created platform operator {result.email} (user {result.user_id}), owner of tenant "
        f"'{result.tenant_slug}' ({result.tenant_id}). They can sign in now."
    )
    return 0
