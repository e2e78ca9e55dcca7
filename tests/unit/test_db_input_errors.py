"""A NUL character in request text, which neither database stores, is the caller's bad input
(INVALID_ARGUMENT), not an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.db import Database
from shared.db_errors import input_error_of


async def test_a_nul_character_refused_by_the_database_is_invalid_argument(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'nul.db'}")
    try:
        with pytest.raises(SQLAlchemyError) as refused:
            async with database.reading() as session:
                # A value rendered into the statement, as some filters are.
                await session.execute(text("SELECT 'zero\x00byte'"))
    finally:
        await database.dispose()
    error = input_error_of(refused.value)
    assert error is not None and error.reason == "NUL_CHARACTER"
    assert [v.field for v in error.violations] == ["request"]
    assert input_error_of(ValueError("null character")) is None
