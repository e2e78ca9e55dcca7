"""Recoverable secrets at rest: Fernet under a rotatable key list (MultiFernet), and the walker
that re-encrypts a table's sealed columns under the first key after a rotation.

The first configured key encrypts, every key decrypts. To rotate: put a new key first (keeping
the old ones after it), run the service's rotate command (it calls :func:`reseal_rows`), and once
it reports no unreadable row, drop the old keys.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from shared.config import ConfigurationError
from shared.db import Database, rows_matched

DEFAULT_BATCH_SIZE = 200


class UnreadableSecret(ValueError):
    """A stored value that no configured encryption key opens."""


def split_keys(raw: str) -> list[str]:
    """A comma-separated key list setting, blanks dropped."""
    return [key.strip() for key in raw.split(",") if key.strip()]


class SecretBox:
    """Encrypts with the first key, decrypts with any, re-encrypts under the first."""

    def __init__(self, keys: Sequence[str], setting: str, *, version_label: str = "") -> None:
        """``setting`` names the keys' setting in configuration errors; ``version_label``
        salts :attr:`current_version` (a short hash of the first key, never the key)."""
        if not keys:
            raise ConfigurationError(f"invalid configuration: {setting} names no key")
        try:
            self._fernets = [Fernet(key.encode()) for key in keys]
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"invalid configuration: {setting} must be Fernet keys "
                "(32 url-safe base64 bytes each), comma-separated"
            ) from None
        self._multi = MultiFernet(self._fernets)
        #: Which key sealed a value, for tables that store it beside the value.
        self.current_version = hashlib.sha256(f"{version_label}{keys[0]}".encode()).hexdigest()[:16]

    def encrypt(self, plain: bytes) -> bytes:
        return self._fernets[0].encrypt(plain)

    def decrypt(self, sealed: bytes) -> bytes:
        try:
            return self._multi.decrypt(sealed)
        except InvalidToken:
            raise UnreadableSecret("a stored value does not open with any configured key") from None

    def rotate(self, sealed: bytes) -> bytes:
        """``sealed`` re-encrypted under the first key."""
        try:
            return self._multi.rotate(sealed)
        except InvalidToken:
            raise UnreadableSecret("a stored value does not open with any configured key") from None


@dataclass
class ResealReport:
    resealed: int = 0
    already_current: int = 0
    #: Rows (named by ``label``) a sealed value of which no configured key opens; left as is.
    unreadable: list[str] = field(default_factory=list)


async def reseal_rows(
    database: Database,
    box: SecretBox,
    id_column: InstrumentedAttribute[Any],
    sealed_columns: Sequence[InstrumentedAttribute[Any]],
    *,
    label: InstrumentedAttribute[Any] | None = None,
    version_column: InstrumentedAttribute[Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ResealReport:
    """Re-encrypt every non-null ``sealed_columns`` value under the first key, a batch per
    transaction, walking ``id_column`` in order.

    With ``version_column``, rows already under :attr:`SecretBox.current_version` are left alone
    and the column is set on the rows resealed. A row changed meanwhile is skipped by
    compare-and-set (it was written under the current key anyway); a Core update leaves the
    row's optimistic version alone, as nothing a reader sees has changed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    extra = [column for column in (label, version_column) if column is not None]
    report = ResealReport()
    after: uuid.UUID | None = None
    while True:
        async with database.transaction() as session:
            statement = (
                select(id_column, *extra, *sealed_columns).order_by(id_column).limit(batch_size)
            )
            if after is not None:
                statement = statement.where(id_column > after)
            rows = (await session.execute(statement)).all()
            for row in rows:
                row_id, *values = row
                row_label = values.pop(0) if label is not None else row_id
                version = values.pop(0) if version_column is not None else None
                if version is not None and version == box.current_version:
                    report.already_current += 1
                    continue
                current = dict(zip((c.key for c in sealed_columns), values, strict=True))
                try:
                    resealed: dict[str, Any] = {
                        key: box.rotate(value) if value is not None else None
                        for key, value in current.items()
                    }
                except UnreadableSecret:
                    report.unreadable.append(str(row_label))
                    continue
                if version_column is not None:
                    resealed[version_column.key] = box.current_version
                result = await session.execute(
                    update(id_column.class_)
                    .where(
                        id_column == row_id,
                        *(
                            column.is_(None)
                            if current[column.key] is None
                            else column == current[column.key]
                            for column in sealed_columns
                        ),
                    )
                    .values(**resealed)
                    .execution_options(synchronize_session=False)
                )
                if rows_matched(result):
                    report.resealed += 1
                else:
                    report.already_current += 1
        if len(rows) < batch_size:
            return report
        after = rows[-1][0]
