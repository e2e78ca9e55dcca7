"""The deployment files under deploy/ agree with the code they deploy.

Nothing here runs them (the development machines have no Docker engine and no cluster), so this
checks what can be checked without one: every service the registry knows, and the gateway, has a
compose service and a Kubernetes Deployment and Service, on the port its settings class defaults
to, setting only variables its settings class reads, with its own database, health probes and a
stop grace above its drain; the image builds what pyproject.toml packages. What `quarterdeck up`
wires between the processes (targets, internal secrets, keys) the manifests wire too, and the
README documents the tunable settings.

"""

from __future__ import annotations

import importlib
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from services.cli import build_parser
from services.registry import GATEWAY, PORT_OFFSETS, SERVICE_NAMES
from services.supervisor import Platform
from shared.config import TracingSettings, env_prefix_of
from shared.identity_link import internal_api_key

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PROCESSES = (*SERVICE_NAMES, GATEWAY)
NAMESPACE = "quarterdeck"
SECRET_NAME = "quarterdeck"
#: OTEL_* variables the manifests may set: those shared.tracing reads, plus two the SDK reads.
OTEL_VARIABLES = {name.upper() for name in TracingSettings.model_fields} | {
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
}
#: Variables that are neither QD_ nor OTEL_: only helpers other variables expand.
HELPER_VARIABLES = {"POD_NAME"}
#: After draining, shutdown_tracing flushes the last spans; the OTLP exporter gives up after its
#: default timeout (OTEL_EXPORTER_OTLP_TIMEOUT, 10 s). Telemetry always waits that long, as its
#: own receiver is already gone.
SPAN_FLUSH_SECONDS = 10.0
#: Secrets a deployment may leave out: compose gives them an empty default (which the service
#: treats as unset) and the pods read them with `optional: true`.
OPTIONAL_SECRETS = {"QD_TENANCY_STRIPE_WEBHOOK_SECRET"}
#: Set per process by `quarterdeck up` but fixed by each deployment file itself (and
#: migrate_on_start: deployments migrate in a job of their own before the services start).
LOCAL_ONLY_FIELDS = {"host", "port", "data_dir", "migrate_on_start"}


# --- the files -------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    (document,) = yaml.safe_load_all((DEPLOY / "compose.yaml").read_text())
    return document


@cache
def kustomization() -> dict[str, Any]:
    (document,) = yaml.safe_load_all((K8S / "kustomization.yaml").read_text())
    return document


@cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    objects: list[dict[str, Any]] = []
    for resource in kustomization()["resources"]:
        for document in yaml.safe_load_all((K8S / resource).read_text()):
            document["_file"] = resource
            objects.append(document)
    return tuple(objects)


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def secret_data() -> dict[str, str]:
    return k8s_object("Secret", SECRET_NAME)["stringData"]


@cache
def dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def image_uid() -> int:
    match = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", dockerfile(), re.MULTILINE)
    assert match, "the Dockerfile must switch to a numeric, non-root USER"
    return int(match[1])


# --- what the code says ----------------------------------------------------------------------


def settings_type(process: str) -> type[BaseSettings]:
    module = importlib.import_module(f"services.{process}.config")
    settings: type[BaseSettings] = getattr(module, f"{process.capitalize()}Settings")
    return settings


def default_port(process: str) -> int:
    port = settings_type(process).model_fields["port"].default
    assert isinstance(port, int) and port > 0, f"{process}: no default port"
    return port


def grace_seconds(process: str, env: Mapping[str, str]) -> float:
    """How long the process may drain after SIGTERM before it exits on its own."""
    settings = settings_type(process)
    prefix, fields = env_prefix_of(settings), settings.model_fields
    if "grace_period_seconds" in fields:
        variable = f"{prefix}GRACE_PERIOD_SECONDS"
        return float(env.get(variable, fields["grace_period_seconds"].default))
    # The gateway (services/gateway/main.py) waits for in-flight requests up to one call's
    # deadline, rounded up, plus a second.
    timeout = env.get(f"{prefix}REQUEST_TIMEOUT_SECONDS", fields["request_timeout_seconds"].default)
    return math.ceil(float(timeout)) + 1.0


def assert_known_variables(env: Mapping[str, Any], owners: Sequence[str], where: str) -> None:
    """Every QD_ variable is a field of an owner's settings class, under that class's prefix."""
    prefixes = {env_prefix_of(settings_type(owner)): settings_type(owner) for owner in owners}
    for variable, value in env.items():
        assert isinstance(value, str), f"{where}: {variable} must be a quoted string"
        assert variable == variable.upper(), f"{where}: {variable} is not upper case"
        if variable.startswith("QD_"):
            owner = [prefix for prefix in prefixes if variable.startswith(prefix)]
            assert owner, f"{where}: {variable} has none of the prefixes {sorted(prefixes)}"
            field = variable.removeprefix(owner[0]).lower()
            assert field in prefixes[owner[0]].model_fields, (
                f"{where}: {variable} is no setting of {prefixes[owner[0]].__name__}"
            )
        elif variable.startswith("OTEL_"):
            assert variable in OTEL_VARIABLES, f"{where}: {variable} is read by nothing"
        else:
            assert variable in HELPER_VARIABLES, f"{where}: unexpected variable {variable}"


def assert_cli_accepts(arguments: Sequence[str], where: str) -> Any:
    try:
        return build_parser().parse_args(list(arguments))
    except SystemExit:
        pytest.fail(f"{where}: `quarterdeck {' '.join(arguments)}` is not a valid command")


def assert_database_url(url: str, service: str, where: str) -> Any:
    """A PostgreSQL URL through asyncpg to the service's own database; returns it parsed."""
    parsed = make_url(re.sub(r"\$\{[^}]*\}", "interpolated", url))
    assert parsed.drivername == "postgresql+asyncpg", f"{where}: {parsed.drivername}"
    assert parsed.database == service, f"{where}: {service} must use its own database"
    return parsed


def duration_seconds(text: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text}"
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    return sum(float(number) * scale[unit] for number, unit in parts)


# --- the image -------------------------------------------------------------------------------


def test_the_image_builds_the_locked_project_and_runs_the_console_script() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    text = dockerfile()
    base = re.search(r"^ARG PYTHON_IMAGE=python:((\d+)\.(\d+))-slim$", text, re.MULTILINE)
    assert base and base[1] == "3.11", "python:3.11-slim"
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.MULTILINE)
    assert [image for image, _ in stages] == ["${PYTHON_IMAGE}"] * 2, "build + runtime stage"
    # uv must use the base image's interpreter: the venv's links point at it in both stages.
    assert f"UV_PYTHON=/usr/local/bin/python{base[1]}" in text
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert minimum and (int(minimum[1]), int(minimum[2])) <= (int(base[2]), int(base[3]))
    assert re.search(r"pip install .*\buv==0\.13\.8\b", text)
    assert "uv sync --locked --no-dev" in text
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in text
    assert "COPY --from=build /app/.venv /app/.venv" in text
    assert "ENV PATH=/app/.venv/bin:$PATH" in text
    assert "quarterdeck" in pyproject["project"]["scripts"]
    assert re.search(r'^ENTRYPOINT \["quarterdeck"\]$', text, re.MULTILINE)
    assert image_uid() != 0
    copied = set(re.findall(r"^COPY (?!--)(.+?) \S+$", text, re.MULTILINE))
    copied = {part for line in copied for part in line.split()}
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for needed in {p.split("/")[0] for p in packages} | {"pyproject.toml", "uv.lock"}:
        assert needed in copied, f"the Dockerfile does not copy {needed}"
    assert pyproject["project"]["readme"] in copied
    exposed = {
        int(p) for line in re.findall(r"^EXPOSE (.+)$", text, re.MULTILINE) for p in line.split()
    }
    assert exposed == {default_port(process) for process in PROCESSES}


# --- compose ---------------------------------------------------------------------------------


def test_compose_has_postgres_with_a_database_per_service() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", *PROCESSES}
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    mounts = {m.split(":")[0]: m.split(":")[1] for m in postgres["volumes"]}
    assert mounts["./postgres-init.sql"].startswith("/docker-entrypoint-initdb.d/")
    created = re.findall(
        r"^CREATE DATABASE (\w+);$", (DEPLOY / "postgres-init.sql").read_text(), re.MULTILINE
    )
    assert sorted(created) == sorted(SERVICE_NAMES)
    assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", postgres["environment"]["POSTGRES_PASSWORD"])
    assert "pg_isready" in postgres["healthcheck"]["test"]
    named = [source for source in mounts if not source.startswith(".")]
    assert named and set(named) <= set(compose()["volumes"]), "PostgreSQL data needs a volume"


def test_compose_commits_no_secret() -> None:
    """Every ${VAR} in compose.yaml must be set by whoever runs it: no default value (an
    optional secret defaults to empty, which its service treats as unset)."""
    text = (DEPLOY / "compose.yaml").read_text()
    interpolations = re.findall(r"\$\{([^}]*)\}", text)
    assert interpolations
    for expression in interpolations:
        optional = re.fullmatch(r"([A-Z_][A-Z0-9_]*):-", expression)
        if optional:
            assert optional[1] in OPTIONAL_SECRETS, f"{expression}: a default value"
            continue
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*:\?.+", expression), expression


def test_compose_migrates_every_database_first() -> None:
    migrate = compose()["services"]["migrate"]
    assert assert_cli_accepts(migrate["command"], "migrate").command == "migrate"
    env = migrate["environment"]
    assert_known_variables(env, SERVICE_NAMES, "compose migrate")
    assert set(env) == {f"{env_prefix_of(settings_type(s))}DATABASE_URL" for s in SERVICE_NAMES}
    for service in SERVICE_NAMES:
        url = env[f"{env_prefix_of(settings_type(service))}DATABASE_URL"]
        assert assert_database_url(url, service, "compose migrate").host == "postgres"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("process", PROCESSES)
def test_compose_runs_the_process_as_its_code_expects(process: str) -> None:
    services = compose()["services"]
    service = services[process]
    where = f"compose {process}"
    port = default_port(process)
    prefix = env_prefix_of(settings_type(process))
    env = service["environment"]

    args = assert_cli_accepts(service["command"], where)
    assert (args.command, args.service) == ("serve", process)
    assert service["image"] == services["migrate"]["image"]
    assert service["build"] == services["migrate"]["build"]
    assert (DEPLOY / service["build"]["context"]).resolve() == ROOT
    assert (ROOT / service["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"

    assert_known_variables(env, [process], where)
    assert env[f"{prefix}HOST"] == "0.0.0.0"
    assert int(env.get(f"{prefix}PORT", port)) == port
    assert env["OTEL_SERVICE_NAME"] == process
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://telemetry:{default_port('telemetry')}"

    check = service["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    compile(check[3], f"<{where} healthcheck>", "exec")
    if process == GATEWAY:
        assert f"http://127.0.0.1:{port}/healthz" in check[3]
    else:
        assert f"'127.0.0.1:{port}'" in check[3] and "grpc_health" in check[3]
    stop = duration_seconds(service["stop_grace_period"])
    assert stop > grace_seconds(process, env) + SPAN_FLUSH_SECONDS, f"{where}: stop_grace_period"

    if process == GATEWAY:
        assert not any(variable.endswith("_DATABASE_URL") for variable in env)
        assert service["ports"] == [f"{port}:{port}"]
        assert service["depends_on"] == {
            name: {"condition": "service_healthy"} for name in SERVICE_NAMES
        }
    else:
        url = env[f"{prefix}DATABASE_URL"]
        assert assert_database_url(url, process, where).host == "postgres"
        assert re.search(r"://\w+:\$\{QD_POSTGRES_PASSWORD:\?[^}]+\}@", url), where
        assert re.fullmatch(
            r"\$\{QD_PAGE_TOKEN_SECRET:\?[^}]+\}", env[f"{prefix}PAGE_TOKEN_SECRET"]
        )
        assert "ports" not in service, "only the gateway is published"
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}


def test_compose_points_the_gateway_at_every_service() -> None:
    env = compose()["services"][GATEWAY]["environment"]
    targets = [f for f in settings_type(GATEWAY).model_fields if f.endswith("_target")]
    assert sorted(f.removesuffix("_target") for f in targets) == sorted(SERVICE_NAMES)
    for service in SERVICE_NAMES:
        assert env[f"QD_GATEWAY_{service.upper()}_TARGET"] == f"{service}:{default_port(service)}"


# --- Kubernetes ------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    listed = kustomization()["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)
    assert kustomization()["namespace"] == NAMESPACE


def test_every_object_lives_in_the_namespace() -> None:
    k8s_object("Namespace", NAMESPACE)
    for obj in k8s_objects():
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE, f"{obj['_file']}: {obj['kind']}"


def _secret_keys_referenced(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set()
        if "secretKeyRef" in node:
            found.add(node["secretKeyRef"]["key"])
        for value in node.values():
            found |= _secret_keys_referenced(value)
        return found
    if isinstance(node, list):
        return set().union(*(_secret_keys_referenced(item) for item in node)) if node else set()
    return set()


def test_the_secret_is_a_template_with_every_key_the_pods_use() -> None:
    data = secret_data()
    referenced = set().union(*(_secret_keys_referenced(o) for o in k8s_objects()))
    assert set(data) == referenced
    assert {f"{s}-database-url" for s in SERVICE_NAMES} | {"page-token-secret"} <= set(data)
    for key, value in data.items():
        assert "REPLACE_ME" in value, f"{key} must be a clearly marked placeholder"
    for service in SERVICE_NAMES:
        assert_database_url(data[f"{service}-database-url"], service, "secret")


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod_spec(obj)["containers"]
    return container


def _env(container: dict[str, Any], where: str) -> dict[str, Any]:
    """name -> plain value, or the secret key it comes from, checking every reference."""
    env: dict[str, Any] = {}
    for entry in container["env"]:
        name = entry["name"]
        assert name not in env, f"{where}: {name} set twice"
        if "value" in entry:
            env[name] = entry["value"]
            for used in re.findall(r"\$\((\w+)\)", str(entry["value"])):
                assert used in env, f"{where}: {name} expands {used}, which is not set before it"
        elif "secretKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET_NAME and ref["key"] in secret_data(), f"{where}: {ref}"
            env[name] = f"secret:{ref['key']}"
        else:
            env[name] = f"field:{entry['valueFrom']['fieldRef']['fieldPath']}"
    return env


def _assert_hardened(obj: dict[str, Any], where: str) -> None:
    pod, container = _pod_spec(obj), _container(obj)
    assert pod["securityContext"]["runAsNonRoot"] is True, where
    assert pod["securityContext"]["runAsUser"] == image_uid(), f"{where}: not the image's user"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{where}: {kind}"


def test_the_migration_job_migrates_every_database() -> None:
    job = k8s_object("Job", "quarterdeck-migrate")
    container = _container(job)
    assert assert_cli_accepts(container["args"], "migration job").command == "migrate"
    env = _env(container, "migration job")
    assert_known_variables(env, SERVICE_NAMES, "migration job")
    assert env == {
        f"{env_prefix_of(settings_type(s))}DATABASE_URL": f"secret:{s}-database-url"
        for s in SERVICE_NAMES
    }
    assert _pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    _assert_hardened(job, "migration job")


@pytest.mark.parametrize("process", PROCESSES)
def test_k8s_runs_the_process_as_its_code_expects(process: str) -> None:
    where = f"k8s {process}"
    deployment = k8s_object("Deployment", process)
    service = k8s_object("Service", process)
    port = default_port(process)
    prefix = env_prefix_of(settings_type(process))
    pod, container = _pod_spec(deployment), _container(deployment)

    assert deployment["spec"]["replicas"] == 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    for other in PROCESSES:
        if other != process:
            other_labels = k8s_object("Deployment", other)["spec"]["template"]["metadata"]
            assert not service["spec"]["selector"].items() <= other_labels["labels"].items()

    args = assert_cli_accepts(container["args"], where)
    assert (args.command, args.service) == ("serve", process)
    assert container["image"] == _container(k8s_object("Job", "quarterdeck-migrate"))["image"]
    assert [p["containerPort"] for p in container["ports"]] == [port]
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == port
    assert service_port["targetPort"] in (port, container["ports"][0]["name"])

    env = _env(container, where)
    assert_known_variables(env, [process], where)
    assert env[f"{prefix}HOST"] == "0.0.0.0"
    assert int(env.get(f"{prefix}PORT", port)) == port
    assert env["OTEL_SERVICE_NAME"] == process
    telemetry_port = k8s_object("Service", "telemetry")["spec"]["ports"][0]["port"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://telemetry:{telemetry_port}"
    if process == GATEWAY:
        assert not any(variable.endswith("_DATABASE_URL") for variable in env)
        for name in SERVICE_NAMES:
            target = env[f"QD_GATEWAY_{name.upper()}_TARGET"]
            assert target == f"{name}:{k8s_object('Service', name)['spec']['ports'][0]['port']}"
    else:
        assert env[f"{prefix}DATABASE_URL"] == f"secret:{process}-database-url"
        assert env[f"{prefix}PAGE_TOKEN_SECRET"] == "secret:page-token-secret"

    for probe in ("readinessProbe", "livenessProbe"):
        assert probe in container, f"{where}: no {probe}"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if probe not in container:
            continue
        if process == GATEWAY:
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": port}, where
        else:
            assert container[probe]["grpc"] == {"port": port}, f"{where}: {probe}"

    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    pause = float(pre_stop[1]) if pre_stop and pre_stop[0] == "sleep" else 0.0
    needed = pause + grace_seconds(process, env) + SPAN_FLUSH_SECONDS
    assert pod["terminationGracePeriodSeconds"] > needed, f"{where}: terminationGracePeriodSeconds"
    _assert_hardened(deployment, where)


# --- what `quarterdeck up` wires between the processes ---------------------------------------

SUPERVISOR_HOST = "supervisor.invalid"
SUPERVISOR_BASE_PORT = 50051


@pytest.fixture(scope="module")
def supervisor_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The QD_ variables `quarterdeck up` gives its children, from a clean environment."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in list(os.environ):
            if variable.startswith(("QD_", "OTEL_")):
                patch.delenv(variable)
        platform = Platform(
            tmp_path_factory.mktemp("up"), SUPERVISOR_HOST, SUPERVISOR_BASE_PORT, 8080
        )
        env = platform.environment()
    return {variable: value for variable, value in env.items() if variable.startswith("QD_")}


def _service_at(address: str) -> str | None:
    """The service `quarterdeck up` runs at host:port, if the value is one of its addresses."""
    by_address = {
        f"{SUPERVISOR_HOST}:{SUPERVISOR_BASE_PORT + offset}": name
        for name, offset in PORT_OFFSETS.items()
    }
    return by_address.get(address)


def _is_secret(process: str, field: str) -> bool:
    info = settings_type(process).model_fields[field]
    return SecretStr in getattr(info.annotation, "__args__", (info.annotation,)) or not info.repr


def _wired(process: str, supervisor_env: Mapping[str, str]) -> dict[str, str]:
    prefix = env_prefix_of(settings_type(process))
    wired = {
        variable: value
        for variable, value in supervisor_env.items()
        if variable.startswith(prefix)
        and variable.removeprefix(prefix).lower() not in LOCAL_ONLY_FIELDS
    }
    assert_known_variables(wired, [process], f"quarterdeck up {process}")
    return wired


def _deployment_envs(process: str) -> dict[str, dict[str, Any]]:
    container = _container(k8s_object("Deployment", process))
    return {
        "compose": compose()["services"][process]["environment"],
        "k8s": _env(container, f"k8s {process}"),
    }


@pytest.mark.parametrize("process", PROCESSES)
def test_the_manifests_wire_what_quarterdeck_up_wires(
    process: str, supervisor_env: dict[str, str]
) -> None:
    """Every target, internal secret and key `quarterdeck up` sets, each deployment sets too:
    targets to the Service of the same service, secrets from the Secret (k8s) or from a
    variable compose refuses to start without."""
    prefix = env_prefix_of(settings_type(process))
    wired = _wired(process, supervisor_env)
    envs = _deployment_envs(process)
    for variable, local_value in wired.items():
        field = variable.removeprefix(prefix).lower()
        target = _service_at(local_value)
        for where, env in envs.items():
            assert variable in env, f"{where} {process}: {variable} is not set"
            value = env[variable]
            if target is not None:
                assert value == f"{target}:{default_port(target)}", f"{where}: {variable}"
            elif _is_secret(process, field):
                if where == "k8s":
                    key = "page-token-secret" if field == "page_token_secret" else None
                    key = key or f"{process}-{field.replace('_', '-')}"
                    assert value == f"secret:{key}", f"{where}: {variable}"
                else:
                    assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{where}: {variable}"
            else:
                assert value == local_value, f"{where}: {variable}"


@pytest.mark.parametrize("process", PROCESSES)
def test_every_target_setting_is_set(process: str) -> None:
    prefix = env_prefix_of(settings_type(process))
    targets = [
        f"{prefix}{field.upper()}"
        for field in settings_type(process).model_fields
        if field.endswith("_target") and field != f"{process}_target"
    ]
    assert targets, f"{process}: no *_target setting"
    for where, env in _deployment_envs(process).items():
        for variable in targets:
            service = variable.removeprefix(prefix).lower().removesuffix("_target")
            assert env.get(variable) == f"{service}:{default_port(service)}", f"{where}: {variable}"


def test_optional_secrets_are_optional_and_only_they() -> None:
    for process in PROCESSES:
        container = _container(k8s_object("Deployment", process))
        for entry in container["env"]:
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            optional = entry["name"] in OPTIONAL_SECRETS
            assert ref.get("optional", False) is optional, f"k8s {process}: {entry['name']}"
        env = compose()["services"][process]["environment"]
        for variable in OPTIONAL_SECRETS & set(env):
            assert env[variable] == f"${{{variable}:-}}", f"compose {process}: {variable}"
    # Each is set somewhere, or the list is stale.
    everywhere = set().union(*(compose()["services"][p]["environment"] for p in PROCESSES))
    assert everywhere >= OPTIONAL_SECRETS


def test_identity_knows_every_internal_client(supervisor_env: dict[str, str]) -> None:
    """The processes holding an internal secret are those `quarterdeck up` lists in identity's
    internal_clients, and `quarterdeck internal-clients` prints an entry for each of them (the
    README shows a hand recipe only for an entry it would not print)."""
    from services import cli

    entries = supervisor_env["QD_IDENTITY_INTERNAL_CLIENTS"].split(",")
    clients = {entry.split(":")[0] for entry in entries}
    assert GATEWAY in clients
    for process in PROCESSES:
        variable = f"{env_prefix_of(settings_type(process))}INTERNAL_SECRET"
        for where, env in _deployment_envs(process).items():
            assert (variable in env) == (process in clients), f"{where}: {variable}"
    assert "identity-internal-clients" in secret_data()

    with pytest.MonkeyPatch.context() as patch:
        for variable, value in supervisor_env.items():
            patch.setenv(variable, value)
        printed = {entry.split(":")[0] for entry in cli._internal_clients().split(",")}
    assert printed == clients
    readme = (DEPLOY / "README.md").read_text()
    for name in sorted(clients):
        recipe = f"printf '{internal_api_key(name, '%s')}'"
        assert (recipe in readme) == (name not in printed), f"README: {name}'s entry"


#: Settings the README must document (field name patterns per process).
DOCUMENTED_SETTINGS = {
    "telemetry": (
        r"(\w+_retention_days|retention_\w+|price_cache_seconds|status_\w+_sender|otlp_spool_\w+)"
    ),
    "tenancy": r"(limits_\w+|billing_\w+|stripe_\w+)",
}


@pytest.mark.parametrize("process", sorted(DOCUMENTED_SETTINGS))
def test_the_readme_documents_the_tunable_settings(process: str) -> None:
    readme = (DEPLOY / "README.md").read_text()
    prefix = env_prefix_of(settings_type(process))
    fields = [
        field
        for field in settings_type(process).model_fields
        if re.fullmatch(DOCUMENTED_SETTINGS[process], field)
    ]
    assert fields
    for field in fields:
        assert f"`{prefix}{field.upper()}`" in readme, f"README: {prefix}{field.upper()}"
