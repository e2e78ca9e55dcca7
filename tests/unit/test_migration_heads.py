"""The heads a service's start compares its database with are read from the revision files
without Alembic; they must be the heads Alembic itself reckons."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.registry import SERVICE_NAMES, spec_for
from shared.migrations import _alembic_heads, script_heads


def _write_revision(versions: Path, revision: str, down: object, **extra: object) -> None:
    lines = [f"revision = {revision!r}", f"down_revision = {down!r}"]
    lines += [f"{name} = {value!r}" for name, value in extra.items()]
    (versions / f"{revision}.py").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_heads_read_from_the_files_are_alembics(service: str) -> None:
    migrations_dir = spec_for(service).migrations_dir
    assert script_heads(migrations_dir) == _alembic_heads(migrations_dir)


def test_branches_and_their_merge(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    _write_revision(versions, "base", None)
    _write_revision(versions, "left", "base", branch_labels=("left",))
    _write_revision(versions, "right", "base")
    assert script_heads(tmp_path) == {"left", "right"}
    _write_revision(versions, "merged", ("left", "right"))
    assert script_heads(tmp_path) == {"merged"}


def test_what_the_reading_does_not_follow_is_left_to_alembic(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    _write_revision(versions, "base", None)
    _write_revision(versions, "other", None, depends_on="base")
    assert script_heads(tmp_path) is None
    (versions / "other.py").write_text("revision = make_id()\ndown_revision = None\n")
    assert script_heads(tmp_path) is None
