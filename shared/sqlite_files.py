"""SQLite database files readable by their owner only.

SQLite creates a database with the process umask (usually 0644) and gives its -wal, -shm and
-journal files the main file's mode, so creating the main file 0600 before the first connection
(and tightening one an older version left readable) keeps all of them private.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_MODE = 0o600
_COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private(database: Path) -> None:
    """Create ``database`` (and its directory) owner-only, or tighten what already exists."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE))
    for suffix in _COMPANIONS:
        path = database.with_name(database.name + suffix)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            path.chmod(mode & 0o700)
