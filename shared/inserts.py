"""INSERTs that meet an existing row, written once for both databases (SQLite and PostgreSQL
spell ``ON CONFLICT`` with the same API, but from different dialect modules)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

#: The dialect's INSERT construct: the one with ``on_conflict_do_nothing``/``do_update``.
Insert = postgresql.Insert | sqlite.Insert

_INSERTS: dict[str, Callable[[Any], Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def dialect_insert(dialect: str, table: Any) -> Insert:
    """``INSERT INTO table`` for ``dialect`` ("postgresql" or "sqlite"), ready for ON CONFLICT."""
    return _INSERTS[dialect](table)


def insert_ignoring_duplicates(dialect: str, table: Any, key: Sequence[str]) -> Insert:
    """``INSERT ... ON CONFLICT (key) DO NOTHING``: a row whose ``key`` is stored is skipped."""
    return dialect_insert(dialect, table).on_conflict_do_nothing(index_elements=list(key))
