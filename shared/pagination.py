"""AIP-158 pagination: page_size/page_token over keyset queries, with opaque tokens.

A token is the last row's sort key, sealed with AES-GCM. The query name and its filters are the
associated data, so a token replayed against another query or other filters fails to open and
the caller gets INVALID_ARGUMENT naming ``page_token``. Clients can neither read nor forge one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Select, bindparam, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_NONCE_BYTES = 12

RowT = TypeVar("RowT")


def page_size_from(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, UUID):
        return {"uuid": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "dt" in value:
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, dict) and "uuid" in value:
        return UUID(value["uuid"])
    return value


class PageTokenCodec:
    """Seals and opens page tokens with a key every replica of a service shares."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(hashlib.sha256(b"quarterdeck-page-token:" + secret).digest())

    @staticmethod
    def _binding(query: str, filters: Mapping[str, Any]) -> bytes:
        return json.dumps([query, filters], sort_keys=True, default=str).encode()

    def encode(self, query: str, filters: Mapping[str, Any], position: Sequence[Any]) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps([_encode_value(v) for v in position]).encode()
        sealed = self._aead.encrypt(nonce, plain, self._binding(query, filters))
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def decode(self, token: str, query: str, filters: Mapping[str, Any]) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._binding(query, filters)
            )
            return [_decode_value(v) for v in json.loads(plain)]
        except (binascii.Error, ValueError, InvalidTag):
            raise InvalidArgument.field(
                "page_token",
                "is not a token from a previous call of this method with the same filters",
            ) from None


@dataclass(frozen=True)
class Page(Generic[RowT]):
    items: list[RowT]
    next_page_token: str


async def fetch_page(
    session: AsyncSession,
    statement: Select[tuple[RowT]],
    *,
    sort_key: Sequence[InstrumentedAttribute[Any]],
    position_of: Callable[[RowT], Sequence[Any]] | None = None,
    codec: PageTokenCodec,
    query: str,
    filters: Mapping[str, Any],
    page_size: int,
    page_token: str,
    descending: bool = False,
) -> Page[RowT]:
    """Run ``statement`` as one keyset page ordered by ``sort_key`` (which must be unique and
    non-null), ascending or, with ``descending``, newest first. A row's position in that order
    is ``position_of(row)``; by default, its attributes of the ``sort_key`` columns."""
    size = page_size_from(page_size)
    if page_token:
        position = codec.decode(page_token, query, filters)
        if len(position) != len(sort_key):
            raise InvalidArgument.field("page_token", "does not match this query")
        bound = [
            bindparam(None, value, type_=col.type)
            for col, value in zip(sort_key, position, strict=True)
        ]
        after = (
            tuple_(*sort_key) < tuple_(*bound) if descending else tuple_(*sort_key) > tuple_(*bound)
        )
        statement = statement.where(after)
    order = [column.desc() for column in sort_key] if descending else list(sort_key)
    rows = list((await session.scalars(statement.order_by(*order).limit(size + 1))).all())
    if len(rows) <= size:
        return Page(rows, "")
    items = rows[:size]
    last = items[-1]
    reached: Sequence[Any] = (
        [getattr(last, column.key) for column in sort_key]
        if position_of is None
        else position_of(last)
    )
    return Page(items, codec.encode(query, filters, reached))
