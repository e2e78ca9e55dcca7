"""Database refusals that are the caller's input, answered as such instead of INTERNAL.

Neither SQLite nor PostgreSQL stores a NUL character in text, and either refuses a statement
binding one (SQLite: "the query contains a null character"; PostgreSQL: an invalid byte
sequence 0x00). Checking every string of every request for it at the edge would cost every call
a walk of its message; the rare statement that meets one is answered here instead.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, StatementError

from shared.errors import FieldViolation, InvalidArgument

_NUL_MARKERS = ("null character", "0x00")


def input_error_of(exc: Exception) -> InvalidArgument | None:
    """The INVALID_ARGUMENT a database refusal of the request's own text amounts to, if any."""
    if not isinstance(exc, StatementError | DBAPIError):
        return None
    text = str(exc.orig if exc.orig is not None else exc)
    if any(marker in text for marker in _NUL_MARKERS):
        return InvalidArgument(
            FieldViolation("request", "text must not contain NUL characters"),
            reason="NUL_CHARACTER",
        )
    return None
