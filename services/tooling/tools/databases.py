"""Databases tenants register for their DB_QUERY tools (RegisterDatabase, ListDatabases).

A DSN is checked before it is sealed: ``postgresql://user:password@host[:port]/database`` (its
host is resolved and checked by the egress guard at every query, so a private address needs the
operators' allow-list), or ``sqlite:///path`` naming a file inside the directory operators set
(``db_query_sqlite_dir``); nothing else. The DSN is sealed with the tool secret keys and never
returned or logged.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from quarterdeck.tooling.v1 import tools_pb2 as pb
from services.tooling.access import acting_tenant, reading_tenant
from services.tooling.context import ToolingContext
from services.tooling.tools.models import TenantDatabaseRecord
from shared.errors import FailedPrecondition, FieldViolation, InvalidArgument
from shared.pagination import fetch_page
from shared.timestamps import to_timestamp

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MAX_DSN = 2000


@dataclass(frozen=True)
class Dsn:
    dialect: str  # "postgresql" or "sqlite"
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    database: str = ""
    path: Path | None = None

    @property
    def location(self) -> str:
        return self.path.name if self.path is not None else f"{self.host}:{self.port}"


def parse_dsn(dsn: str, sqlite_dir: str | None) -> Dsn:
    """The DSN's parts; ValueError saying what is wrong (never repeating the DSN)."""
    if len(dsn) > MAX_DSN or not dsn.isprintable():
        raise ValueError(f"must be at most {MAX_DSN} printable characters")
    if dsn.startswith("sqlite:///"):
        if not sqlite_dir:
            raise ValueError(
                "SQLite files are not allowed here (operators allow a directory with "
                "QD_TOOLING_DB_QUERY_SQLITE_DIR)"
            )
        root = Path(sqlite_dir).resolve()
        path = Path(unquote(dsn.removeprefix("sqlite:///")).split("?")[0]).resolve()
        if not path.is_relative_to(root) or path == root:
            raise ValueError("must name a SQLite file inside the directory operators allow")
        return Dsn("sqlite", path=path)
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql:// or sqlite:/// DSN")
    try:
        port = parts.port or 5432
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not parts.hostname:
        raise ValueError("must name a host")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ValueError("must name one database after the host")
    if parts.query or parts.fragment:
        raise ValueError("takes no query options")
    return Dsn(
        "postgresql",
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=database,
    )


def database_to_proto(row: TenantDatabaseRecord) -> pb.Database:
    return pb.Database(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        name=row.name,
        dialect=row.dialect,
        location=row.location,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


async def register_database(
    ctx: ToolingContext, request: pb.RegisterDatabaseRequest
) -> pb.RegisterDatabaseResponse:
    database = request.database
    tenant = acting_tenant(database.tenant_id, "admin")
    violations: dict[str, str] = {}
    if not _NAME.match(database.name):
        violations["database.name"] = "must be 1 to 100 of A-Z, a-z, 0-9, '_', '.' and '-'"
    parsed: Dsn | None = None
    if not database.dsn:
        violations["database.dsn"] = "is required"
    else:
        try:
            parsed = parse_dsn(database.dsn, ctx.settings.db_query_sqlite_dir)
        except ValueError as problem:
            violations["database.dsn"] = str(problem)
    if violations:
        raise InvalidArgument([FieldViolation(f, why) for f, why in violations.items()])
    assert parsed is not None
    box = ctx.secrets
    if box is None:
        raise FailedPrecondition(
            "a database cannot be registered: no encryption key is configured "
            "(QD_TOOLING_SECRET_ENCRYPTION_KEYS)",
            reason="NO_ENCRYPTION_KEYS",
        )
    sealed = box.encrypt(database.dsn.encode())
    for _attempt in (1, 2):  # a concurrent first registration of the name: update it
        try:
            async with ctx.database.transaction() as session:
                row = await session.scalar(
                    select(TenantDatabaseRecord).where(
                        TenantDatabaseRecord.tenant_id == tenant,
                        TenantDatabaseRecord.name == database.name,
                    )
                )
                if row is None:
                    row = TenantDatabaseRecord(
                        id=uuid.uuid4(), tenant_id=tenant, name=database.name
                    )
                    session.add(row)
                row.dialect = parsed.dialect
                row.location = parsed.location[:300]
                row.sealed_dsn = sealed
                row.secret_key_version = box.current_version
                await session.flush()
            return pb.RegisterDatabaseResponse(database=database_to_proto(row))
        except IntegrityError:
            continue
    raise FailedPrecondition(
        "the database was registered concurrently; send it again", reason="CONCURRENT_CHANGE"
    )


async def list_databases(
    ctx: ToolingContext, request: pb.ListDatabasesRequest
) -> pb.ListDatabasesResponse:
    tenant = reading_tenant(request.tenant_id)
    statement = select(TenantDatabaseRecord).where(TenantDatabaseRecord.tenant_id == tenant)
    async with ctx.database.reading() as session:
        page = await fetch_page(
            session,
            statement,
            sort_key=[TenantDatabaseRecord.name, TenantDatabaseRecord.id],
            position_of=lambda row: [row.name, row.id],
            codec=ctx.pages,
            query="tooling.ListDatabases",
            filters={"tenant": str(tenant)},
            page_size=request.page_size,
            page_token=request.page_token,
        )
    return pb.ListDatabasesResponse(
        databases=[database_to_proto(row) for row in page.items],
        next_page_token=page.next_page_token,
    )
