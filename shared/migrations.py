"""Alembic, driven from code: each service keeps its own revisions in ``services/<name>/migrations``.

``quarterdeck migrate`` applies them; every service checks at start that its database is at head
and refuses to serve otherwise. Each service's ``env.py`` is one call to :func:`run_migrations`.

Alembic (with Mako and Pygments behind it) costs more to import than the rest of a service's
start, and a database that is already at head needs none of it: the heads are read from the
revision files' ``revision`` / ``down_revision`` assignments and the database's from its
``alembic_version`` table, and Alembic is imported only when there is something to upgrade.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import JSON, Connection, MetaData, text

from shared.db import Database
from shared.db_types import UTCDateTime
from shared.errors import FailedPrecondition

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext
    from alembic.config import Config

#: Alembic's default version table, which every service's migrations use.
VERSION_TABLE = "alembic_version"
_REVISION_NAMES = ("revision", "down_revision", "depends_on")


def alembic_config(migrations_dir: Path) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return config


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the shared column types by name, with their import (Alembic would spell out the
    JSON variant wrongly and forget the import of UTCDateTime)."""
    if kind == "type" and isinstance(obj, JSON) and getattr(obj, "_variant_mapping", None):
        autogen_context.imports.add("import shared.db_types")
        return "shared.db_types.JSONType"
    if kind == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import shared.db_types")
        return "shared.db_types.UTCDateTime()"
    return False


#: Full-text search objects a migration builds beside a table, different on each database (an
#: FTS5 table and its shadow tables on SQLite, a generated tsvector column and its GIN index on
#: PostgreSQL): the models cannot describe them, so the comparison with the models skips them.
SEARCH_INDEX_PREFIX = "fts_"


def partitions_excluded(connection: Connection) -> Callable[[str | None, str, Any], bool]:
    """An ``include_name`` hook that leaves out the partitions of PostgreSQL partitioned tables:
    the models describe the partitioned table, and its partitions come and go at run time (the
    telemetry service's daily span partitions), so they are no difference from the models; and the
    full-text search objects named with :data:`SEARCH_INDEX_PREFIX`."""
    partitions: set[str] = set()
    if connection.dialect.name == "postgresql":
        partitions = set(
            connection.scalars(text("SELECT relname FROM pg_class WHERE relispartition"))
        )

    def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
        if type_ == "table" and name in partitions:
            return False
        return not (name or "").startswith(SEARCH_INDEX_PREFIX)

    return include_name


def run_migrations(metadata: MetaData) -> None:
    """The body of every service's env.py: migrate over the connection the caller handed in."""
    from alembic import context

    connection: Connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_name=partitions_excluded(connection),
    )
    with context.begin_transaction():
        context.run_migrations()


def _revision_fields(path: Path) -> dict[str, Any]:
    """The module-level ``revision``, ``down_revision``, ... literals of one revision file."""
    fields: dict[str, Any] = {}
    target: ast.expr
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in _REVISION_NAMES:
            fields[target.id] = ast.literal_eval(value)
    return fields


def script_heads(migrations_dir: Path) -> set[str] | None:
    """The head revisions of the scripts in ``migrations_dir/versions`` (those no other names as
    its ``down_revision``, as Alembic reckons them), read without Alembic; None when a script uses
    what this reading does not follow (``depends_on``, a revision not written as a literal), so
    the caller asks Alembic instead."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations_dir / "versions").glob("*.py"):
        if path.name.startswith(("_", ".")):
            continue
        try:
            fields = _revision_fields(path)
        except (SyntaxError, ValueError):
            return None
        revision, down = fields.get("revision"), fields.get("down_revision")
        if not isinstance(revision, str) or fields.get("depends_on"):
            return None
        revisions.add(revision)
        parents.update([down] if isinstance(down, str) else down or ())
    return revisions - parents


def _alembic_heads(migrations_dir: Path) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(migrations_dir)).get_heads())


def _database_revisions(connection: Connection) -> set[str]:
    if not connection.dialect.has_table(connection, VERSION_TABLE):
        return set()
    return set(connection.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))


async def migration_state(database: Database, migrations_dir: Path) -> tuple[set[str], set[str]]:
    """The revisions the database is at, and the heads the code expects."""
    heads = script_heads(migrations_dir)
    if heads is None:
        heads = _alembic_heads(migrations_dir)
    async with database.engine.connect() as conn:
        return await conn.run_sync(_database_revisions), heads


async def upgrade_to_head(database: Database, migrations_dir: Path) -> None:
    """Upgrade to every head (should a service have several branches); Alembic is imported only
    when the database is not at head already."""
    current, heads = await migration_state(database, migrations_dir)
    if current and current == heads:
        return
    from alembic import command

    config = alembic_config(migrations_dir)

    def upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")

    async with database.engine.begin() as conn:
        await conn.run_sync(upgrade)


async def require_head(database: Database, migrations_dir: Path, service: str) -> None:
    current, heads = await migration_state(database, migrations_dir)
    if current != heads:
        raise FailedPrecondition(
            f"the {service} database is at {sorted(current) or 'no revision'}, the code expects "
            f"{sorted(heads)}: run `quarterdeck migrate {service}`"
        )


async def autogenerate_revision(database: Database, migrations_dir: Path, message: str) -> Path:
    """Write a new revision from the difference between the models and a database at head."""
    from alembic import command

    config = alembic_config(migrations_dir)

    def revision(connection: Connection) -> Path:
        config.attributes["connection"] = connection
        script = command.revision(config, message=message, autogenerate=True)
        # One revision on one branch: Alembic hands back its Script (lists and None are for
        # several heads and for nothing to write).
        return Path(script.path)  # type: ignore[union-attr]

    async with database.engine.begin() as conn:
        return await conn.run_sync(revision)
