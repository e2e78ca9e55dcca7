"""AIP-155 request_id idempotency, backed by one ``idempotency_keys`` table per service.

The table keeps seed 003's ``ai_idempotency_keys`` shape (key, endpoint, resource_id,
response_data, expires_at, created_at) plus the caller scope and a hash of the request, so one
tenant's key never answers another's and a key reused for a different request is refused.

The key row is inserted *before* the create runs, in the same transaction: a concurrent duplicate
blocks on the unique index, then finds the first response instead of creating twice.

Its statements are prepared (``shared.db.PreparedStatement``): compiled once per table and
dialect and run on the transaction's driver connection, since each create with a request_id
(every usage report of an agent turn) pays for them. A create whose own statements are all
prepared runs with them in a driver transaction (:meth:`Idempotency.run_on_driver`), with no
SQLAlchemy session at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.db import (
    Database,
    DriverTransaction,
    PreparedRead,
    PreparedStatement,
    column_param,
    execute_prepared,
    rows_matched,
)
from shared.db_types import JSONType, UTCDateTime, utcnow
from shared.errors import Aborted, InvalidArgument
from shared.inserts import insert_ignoring_duplicates
from shared.validation import MAX_REQUEST_ID_LENGTH

ResponseT = TypeVar("ResponseT", bound=Message)
#: What a create runs in: a session's transaction, or a driver transaction.
TransactionT = TypeVar("TransactionT", AsyncSession, DriverTransaction)


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


class _KeyStatements:
    """The statements of one service's ``idempotency_keys`` table, prepared for its dialect."""

    def __init__(self, table: Table, dialect: str) -> None:
        c = table.c
        key = {
            "scope": column_param("scope", c.scope),
            "endpoint": column_param("endpoint", c.endpoint),
            "idempotency_key": column_param("idempotency_key", c.idempotency_key),
        }
        new_key = {
            **key,
            "request_hash": column_param("request_hash", c.request_hash),
            "expires_at": column_param("expires_at", c.expires_at),
            "created_at": column_param("created_at", c.created_at),
        }
        #: A new key stored, its id returned; nothing (no row) when the key is stored already.
        self.claim = PreparedStatement(
            insert_ignoring_duplicates(dialect, table, list(key)).values(new_key).returning(c.id)
        )
        #: A key stored in place of an expired one; one stored meanwhile fails it.
        self.take_over = PreparedStatement(insert(table).values(new_key).returning(c.id))
        self.drop = PreparedStatement(delete(table).where(c.id == column_param("key_id", c.id)))
        #: The response kept on the key's row.
        self.answer = PreparedStatement(
            update(table)
            .where(c.id == column_param("key_id", c.id))
            .values(
                resource_id=column_param("answer_resource_id", c.resource_id),
                response_data=column_param("answer_data", c.response_data),
            )
        )
        self.find = PreparedRead(
            select(c.id, c.request_hash, c.response_data, c.expires_at).where(
                *(c[name] == parameter for name, parameter in key.items())
            )
        )


class Idempotency:
    """Runs a create at most once per (scope, endpoint, request_id) within the retention window."""

    def __init__(self, database: Database, model: type[IdempotencyKeyMixin], ttl: timedelta):
        self._database = database
        self._model = model
        self._ttl = ttl
        self._statements = _KeyStatements(
            model.__table__,  # type: ignore[attr-defined]
            database.dialect,
        )

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
        """``create``'s response, run in a session's transaction (:meth:`Database.transaction`)
        with the key's claim, or the response stored under the key."""
        return await self._once(
            self._database.transaction,
            endpoint,
            request,
            response_type,
            create,
            resource_id_of,
            scope,
        )

    async def run_on_driver(
        self,
        *,
        endpoint: str,
        request: Message,
        response_type: type[ResponseT],
        create: Callable[[DriverTransaction], Awaitable[ResponseT]],
        resource_id_of: Callable[[ResponseT], str],
        scope: str = "",
    ) -> ResponseT:
        """As :meth:`run`, for a create whose every statement is prepared
        (:func:`shared.db.execute_prepared`): in a driver transaction
        (:meth:`Database.driver_transaction`), with no SQLAlchemy session around it."""
        return await self._once(
            self._database.driver_transaction,
            endpoint,
            request,
            response_type,
            create,
            resource_id_of,
            scope,
        )

    async def _once(
        self,
        begin: Callable[[], AbstractAsyncContextManager[TransactionT]],
        endpoint: str,
        request: Message,
        response_type: type[ResponseT],
        create: Callable[[TransactionT], Awaitable[ResponseT]],
        resource_id_of: Callable[[ResponseT], str],
        scope: str,
    ) -> ResponseT:
        request_id: str = getattr(request, "request_id", "")
        if not request_id:
            async with begin() as transaction:
                return await create(transaction)
        if len(request_id) > MAX_REQUEST_ID_LENGTH:
            raise InvalidArgument.field(
                "request_id", f"must be at most {MAX_REQUEST_ID_LENGTH} characters"
            )
        key = {"scope": scope, "endpoint": endpoint, "idempotency_key": request_id}
        fingerprint = request_fingerprint(request)
        statements = self._statements
        try:
            async with begin() as session:
                # Claim the key first (waiting for a request that holds it): a new key, the
                # usual case, costs this one statement before the create, not a lookup too.
                new_key = {**key, "request_hash": fingerprint, **self._lifetime()}
                claimed = (await execute_prepared(session, statements.claim, new_key)).first()
                if claimed is None:  # stored: replay it, or take it over once expired
                    record = (await execute_prepared(session, statements.find, key)).first()
                    if record is not None and record.expires_at > utcnow():
                        return self._replay(record, fingerprint, response_type)
                    if record is not None:
                        await execute_prepared(session, statements.drop, {"key_id": record.id})
                    # Claims the key, or meets (IntegrityError) the request that took it.
                    new_key.update(self._lifetime())
                    claimed = (
                        await execute_prepared(session, statements.take_over, new_key)
                    ).first()
                response = await create(session)
                await execute_prepared(
                    session,
                    statements.answer,
                    {
                        "key_id": claimed.id,
                        "answer_resource_id": resource_id_of(response),
                        "answer_data": MessageToDict(response, preserving_proto_field_name=True),
                    },
                )
                return response
        except IntegrityError as exc:
            found = await self._database.fetch_prepared(statements.find, key)
            if not found:
                raise exc
            return self._replay(found[0], fingerprint, response_type)

    def _lifetime(self) -> dict[str, datetime]:
        """A key's times, stored from now."""
        now = utcnow()
        return {"created_at": now, "expires_at": now + self._ttl}

    @staticmethod
    def _replay(record: Any, fingerprint: str, response_type: type[ResponseT]) -> ResponseT:
        """The response stored with ``record`` (a row of the key's request_hash and
        response_data), for a request of ``fingerprint``."""
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
