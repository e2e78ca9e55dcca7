"""The ``quarterdeck`` command: run the platform, one service, or its migrations."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from services.registry import GATEWAY, SERVICE_NAMES, spec_for

if TYPE_CHECKING:
    from shared.config import ServiceSettings
    from shared.db import Database
    from shared.secret_box import ResealReport

# Each command imports what it needs when it runs: `serve gateway` loads no database machinery,
# and `up` not even the settings and errors (pydantic and grpc, ~0.25 s of CPU the supervisor
# would spend before spawning its first child; each child imports them for itself).


async def _migrate(names: Sequence[str]) -> None:
    from shared.config import load_settings
    from shared.db import Database
    from shared.migrations import upgrade_to_head

    for name in names:
        spec = spec_for(name)
        settings = load_settings(spec.settings_type)
        database = Database(settings.resolved_database_url)
        try:
            await upgrade_to_head(database, spec.migrations_dir)
        finally:
            await database.dispose()
        print(f"{name}: migrated {database.engine.url.render_as_string(hide_password=True)}")


async def _revision(name: str, message: str) -> Path:
    from shared.db import Database
    from shared.migrations import autogenerate_revision, upgrade_to_head

    spec = spec_for(name)
    with tempfile.TemporaryDirectory() as scratch:
        database = Database(f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            await upgrade_to_head(database, spec.migrations_dir)
            path = await autogenerate_revision(database, spec.migrations_dir, message)
        finally:
            await database.dispose()
    return path


def _format_revision(path: Path) -> None:
    # Alembic's header leaves "Revises: " with a trailing space on a first revision.
    path.write_text("\n".join(line.rstrip() for line in path.read_text().split("\n")))
    for ruff_args in (["check", "--fix", "--quiet"], ["format", "--quiet"]):
        subprocess.run([sys.executable, "-m", "ruff", *ruff_args, str(path)], check=False)


def _serve(name: str) -> None:
    from shared.config import load_settings

    if name == GATEWAY:
        from services.gateway.main import serve_gateway

        serve_gateway()
        return
    from shared.server import serve

    spec = spec_for(name)
    serve(spec, load_settings(spec.settings_type))


def _internal_clients() -> str:
    """Identity's internal_clients list for every process holding an internal secret: each
    service (identity too: every process authenticates the spans it exports) and the gateway
    (which also writes the request log to telemetry)."""
    from services.gateway.config import GatewaySettings
    from shared.config import ConfigurationError, load_settings
    from shared.identity_link import internal_client_entry

    settings_types: dict[str, type[ServiceSettings] | type[GatewaySettings]] = {
        name: spec_for(name).settings_type for name in SERVICE_NAMES
    }
    settings_types[GATEWAY] = GatewaySettings
    entries = []
    for name, settings_type in settings_types.items():
        secret = load_settings(settings_type).internal_secret
        if secret is None:
            raise ConfigurationError(f"QD_{name.upper()}_INTERNAL_SECRET is not set")
        entries.append(internal_client_entry(name, secret.get_secret_value()))
    return ",".join(entries)


async def _reseal(
    service: str,
    database_url: str,
    reseal: Callable[[Database], Awaitable[ResealReport]],
    resealed: str,
    unreadable: str,
    *,
    counts_current: bool = True,
) -> int:
    """Runs one re-encryption walk against ``service``'s database (at its migration head) and
    prints its report: ``resealed`` names what was re-encrypted, ``unreadable`` (with ``{}`` for
    the row) one row no configured key opens. Exit status 1 when a row was unreadable."""
    from shared.db import Database
    from shared.migrations import require_head

    database = Database(database_url)
    try:
        await require_head(database, spec_for(service).migrations_dir, service)
        report = await reseal(database)
    finally:
        await database.dispose()
    current = f"already under the current key: {report.already_current}, " if counts_current else ""
    print(
        f"{service}: {resealed} re-encrypted: {report.resealed}, {current}"
        f"unreadable with every configured key: {len(report.unreadable)}"
    )
    for label in report.unreadable:
        print(f"{service}: unreadable {unreadable.format(label)} (kept as is)")
    return 1 if report.unreadable else 0


async def _rotate_provider_keys(batch_size: int) -> int:
    from services.tenancy.config import TenancySettings
    from services.tenancy.model_configs.crypto import SETTING, ProviderKeyBox
    from services.tenancy.model_configs.rotation import rotate_provider_keys
    from shared.config import ConfigurationError, load_settings

    settings = load_settings(TenancySettings)
    box = ProviderKeyBox.from_settings(settings)
    if box is None:
        raise ConfigurationError(f"{SETTING} is not set: nothing to rotate with")
    return await _reseal(
        "tenancy",
        settings.resolved_database_url,
        lambda database: rotate_provider_keys(database, box, batch_size),
        "provider keys",
        "provider key of tenant {}",
    )


async def _rotate_status_keys(batch_size: int) -> int:
    from services.telemetry.config import TelemetrySettings
    from services.telemetry.status.handlers import reseal_status_subscriptions
    from services.telemetry.status.secrets import ENCRYPTION_SETTING, StatusSecrets
    from shared.config import ConfigurationError, load_settings

    settings = load_settings(TelemetrySettings)
    secrets = StatusSecrets.from_settings(settings)
    if secrets is None:
        raise ConfigurationError(f"{ENCRYPTION_SETTING} or its hashing key is not set")
    return await _reseal(
        "telemetry",
        settings.resolved_database_url,
        lambda database: reseal_status_subscriptions(database, secrets, batch_size),
        "status subscriptions",
        "status subscription {}",
        counts_current=False,
    )


async def _rotate_tool_secrets(batch_size: int) -> int:
    from services.tooling.config import ToolingSettings
    from services.tooling.tools.secret_headers import SETTING, reseal_tool_secrets, secret_box_of
    from shared.config import ConfigurationError, load_settings

    settings = load_settings(ToolingSettings)
    box = secret_box_of(settings)
    if box is None:
        raise ConfigurationError(f"{SETTING} is not set: nothing to rotate with")
    return await _reseal(
        "tooling",
        settings.resolved_database_url,
        lambda database: reseal_tool_secrets(database, box, batch_size),
        "tool secret headers",
        "secret headers of tool {}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quarterdeck", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run every service and the gateway on this machine")
    up.add_argument("--data-dir", type=Path, default=Path(".quarterdeck"))
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--base-port", type=int, default=50051)
    up.add_argument("--http-port", type=int, default=8080)
    up.add_argument(
        "--test-provider",
        action="store_true",
        help="also start the local test model provider (provider quarterdeck-test: deterministic, "
        "no key; a tenant uses it only if its model config names such a catalogue model)",
    )
    up.add_argument("--test-provider-port", type=int, default=8089)

    serve = commands.add_parser("serve", help="run one service in this process")
    serve.add_argument("service", choices=[*SERVICE_NAMES, GATEWAY])

    commands.add_parser(
        "worker",
        help="carry out conversation runs in this process (QD_CONVERSATION_ settings), beside "
        "the conversation service",
    )

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*", choices=[[], *SERVICE_NAMES], default=[])

    revision = commands.add_parser("revision", help="autogenerate a migration (development)")
    revision.add_argument("service", choices=SERVICE_NAMES)
    revision.add_argument("-m", "--message", required=True)

    bootstrap = commands.add_parser(
        "bootstrap",
        help="create the first platform operator (password from QD_BOOTSTRAP_PASSWORD or a prompt)",
    )
    bootstrap.add_argument("--email", required=True)
    bootstrap.add_argument("--tenant-slug", default="platform")
    bootstrap.add_argument("--tenant-name", default="Platform")
    bootstrap.add_argument(
        "--data-dir",
        type=Path,
        help="use the settings `quarterdeck up` keeps in this data directory",
    )

    commands.add_parser(
        "internal-clients",
        help="print QD_IDENTITY_INTERNAL_CLIENTS for every QD_<SERVICE>_INTERNAL_SECRET (gateway included)",
    )
    for command, rotation, help_text in (
        (
            "rotate-provider-keys",
            _rotate_provider_keys,
            "re-encrypt tenants' provider keys under the first QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS key",
        ),
        (
            "rotate-status-keys",
            _rotate_status_keys,
            "re-encrypt status subscription targets under the first QD_TELEMETRY_STATUS_ENCRYPTION_KEYS key",
        ),
        (
            "rotate-tool-secrets",
            _rotate_tool_secrets,
            "re-encrypt tools' secret headers under the first QD_TOOLING_SECRET_ENCRYPTION_KEYS key",
        ),
    ):
        rotate = commands.add_parser(command, help=help_text)
        rotate.add_argument("--batch-size", type=int, default=200, help="rows per transaction")
        rotate.set_defaults(rotation=rotation)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "up":
        from services.supervisor import Platform

        return Platform(
            args.data_dir,
            args.host,
            args.base_port,
            args.http_port,
            test_provider_port=args.test_provider_port if args.test_provider else None,
        ).run()
    from shared.config import ConfigurationError, load_settings
    from shared.errors import FailedPrecondition

    try:
        if args.command == "bootstrap":
            from services.identity.bootstrap import run

            env_file = args.data_dir / "identity.env" if args.data_dir else None
            if env_file is not None and not env_file.exists():
                raise ConfigurationError(f"no {env_file}: run `quarterdeck up` there first")
            return run(args.email, args.tenant_slug, args.tenant_name, env_file)
        if args.command == "internal-clients":
            print(_internal_clients())
            return 0
        if hasattr(args, "rotation"):  # rotate-provider-keys, rotate-status-keys
            if args.batch_size < 1:
                raise ConfigurationError("--batch-size must be at least 1")
            return asyncio.run(args.rotation(args.batch_size))
        if args.command == "worker":
            from services.conversation.config import ConversationSettings
            from services.conversation.worker_process import serve_worker

            serve_worker(load_settings(ConversationSettings))
        elif args.command == "serve":
            _serve(args.service)
        elif args.command == "migrate":
            asyncio.run(_migrate(args.services or SERVICE_NAMES))
        elif args.command == "revision":
            _format_revision(asyncio.run(_revision(args.service, args.message)))
    except (ConfigurationError, FailedPrecondition) as exc:
        print(f"quarterdeck: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
