"""AIP-155 request_id idempotency, backed by one ``idempotency_keys`` table per service.

The table keeps seed 003's ``ai_idempotency_keys`` shape (key, endpoint, resource_id,
response_data, expires_at, created_at) plus the caller scope and a hash of the request, so one
tenant's key never answers another's and a key reused for a different request is refused.

The key row is inserted *before* the create runs, in the same transaction: a concurrent duplicate
blocks on the unique index, then finds the first response instead of creating twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.db import Database, rows_matched
from shared.db_types import JSONType, UTCDateTime, utcnow
from shared.errors import Aborted, InvalidArgument
from shared.inserts import insert_ignoring_duplicates
from shared.validation import MAX_REQUEST_ID_LENGTH

ResponseT = TypeVar("ResponseT", bound=Message)


class IdempotencyKeyMixin:
    """Columns of the per-service ``idempotency_keys`` table; each service maps it on its Base."""

    __tablename__ = "idempotency_keys"

    if TYPE_CHECKING:
        # The mapped class a service builds from this mixin takes its columns as keywords.
        def __init__(self, **columns: Any) -> None: ...

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(MAX_REQUEST_ID_LENGTH))
    endpoint: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(255), default="")
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(255))
    response_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            UniqueConstraint("scope", "endpoint", "idempotency_key"),
            Index(None, "endpoint"),
            Index(None, "expires_at"),
        )


def request_fingerprint(request: Message) -> str:
    """A hash of the request without its request_id, to spot a key reused for another request."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


class Idempotency:
    """Runs a create at most once per (scope, endpoint, request_id) within the retention window."""

    def __init__(self, database: Database, model: type[IdempotencyKeyMixin], ttl: timedelta):
        self._database = database
        self._model = model
        self._ttl = ttl

    async def run(
        self,
        *,
        endpoint: str,
        request: Message,
        response_type: type[ResponseT],
        create: Callable[[AsyncSession], Awaitable[ResponseT]],
        resource_id_of: Callable[[ResponseT], str],
        scope: str = "",
    ) -> ResponseT:
        request_id: str = getattr(request, "request_id", "")
        if not request_id:
            async with self._database.transaction() as session:
                return await create(session)
        if len(request_id) > MAX_REQUEST_ID_LENGTH:
            raise InvalidArgument.field(
                "request_id", f"must be at most {MAX_REQUEST_ID_LENGTH} characters"
            )
        fingerprint = request_fingerprint(request)
        model = self._model
        try:
            async with self._database.transaction() as session:
                # Claim the key first (waiting for a request that holds it): a new key, the
                # usual case, costs this one statement before the create, not a lookup too.
                key_id = await self._claim(session, scope, endpoint, request_id, fingerprint)
                if key_id is None:  # stored: replay it, or take it over once expired
                    record = await self._find(session, scope, endpoint, request_id)
                    if record is not None and record.expires_at > utcnow():
                        return self._replay(record, fingerprint, response_type)
                    if record is not None:
                        await session.delete(record)
                        await session.flush()
                    record = model(
                        idempotency_key=request_id,
                        endpoint=endpoint,
                        scope=scope,
                        request_hash=fingerprint,
                        expires_at=utcnow() + self._ttl,
                    )
                    session.add(record)
                    await session.flush()  # claims the key, or meets the request that took it
                    key_id = record.id
                response = await create(session)
                await session.execute(
                    update(model)
                    .where(model.id == key_id)
                    .values(
                        resource_id=resource_id_of(response),
                        response_data=MessageToDict(response, preserving_proto_field_name=True),
                    )
                    .execution_options(synchronize_session=False)
                )
                return response
        except IntegrityError as exc:
            async with self._database.sessions() as session:
                record = await self._find(session, scope, endpoint, request_id)
            if record is None:
                raise exc
            return self._replay(record, fingerprint, response_type)

    async def _claim(
        self, session: AsyncSession, scope: str, endpoint: str, request_id: str, fingerprint: str
    ) -> int | None:
        """Store the key, unless one is stored (then None): its row's id."""
        now = utcnow()
        return await session.scalar(
            insert_ignoring_duplicates(
                self._database.dialect,
                self._model.__table__,  # type: ignore[attr-defined]
                ["scope", "endpoint", "idempotency_key"],
            )
            .values(
                idempotency_key=request_id,
                endpoint=endpoint,
                scope=scope,
                request_hash=fingerprint,
                expires_at=now + self._ttl,
                created_at=now,
            )
            .returning(self._model.__table__.c.id)  # type: ignore[attr-defined]
        )

    async def _find(
        self, session: AsyncSession, scope: str, endpoint: str, request_id: str
    ) -> IdempotencyKeyMixin | None:
        model = self._model
        return await session.scalar(
            select(model).where(
                model.scope == scope,
                model.endpoint == endpoint,
                model.idempotency_key == request_id,
            )
        )

    @staticmethod
    def _replay(
        record: IdempotencyKeyMixin, fingerprint: str, response_type: type[ResponseT]
    ) -> ResponseT:
        if record.request_hash != fingerprint:
            raise InvalidArgument.field("request_id", "was already used for a different request")
        if record.response_data is None:
            raise Aborted(
                "a request with this request_id is still in progress; retry shortly",
                reason="REQUEST_IN_PROGRESS",
            )
        return ParseDict(record.response_data, response_type())

    async def purge_expired(self) -> int:
        async with self._database.transaction() as session:
            result = await session.execute(
                delete(self._model).where(self._model.expires_at <= utcnow())
            )
            return int(rows_matched(result) or 0)
