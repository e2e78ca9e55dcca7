"""TenantModelConfigService over a real in-process gRPC server, on SQLite and on PostgreSQL:
provider keys (write-only, encrypted, revealed to internal callers with the scope only, rotated)
and one-call onboarding (all or nothing, idempotent)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from cryptography.fernet import Fernet
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import func, select

from quarterdeck.tenancy.v1 import model_configs_pb2 as pb
from quarterdeck.tenancy.v1 import tenancy_pb2
from quarterdeck.tenancy.v1.model_configs_pb2_grpc import TenantModelConfigServiceStub
from quarterdeck.tenancy.v1.tenancy_pb2_grpc import TenancyServiceStub
from services.tenancy.model_configs.crypto import ProviderKeyBox
from services.tenancy.model_configs.handlers import REVEAL_SCOPE
from services.tenancy.model_configs.models import TenantModelConfigRecord
from services.tenancy.model_configs.rotation import rotate_provider_keys
from services.tenancy.pricing.models import ModelRecord
from services.tenancy.schema import metadata as tenancy_metadata
from services.tenancy.tenants.models import TenantRecord
from shared.auth import INTERNAL_SCOPE, Principal
from shared.db import Database
from shared.grpc_client import open_channel
from shared.server import RunningService
from tests.support.errors import failure, rich_error
from tests.support.stack import Databases, running_service
from tests.support.tokens import TestIssuer

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()


def provider_key() -> str:
    return f"sk-test-{secrets.token_urlsafe(24)}"


def unique_slug(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Tenancy:
    running: RunningService[Any, Any]
    configs: TenantModelConfigServiceStub
    tenants: TenancyServiceStub

    @property
    def database(self) -> Database:
        return self.running.context.database


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
async def tenancy(backend: str, databases: Databases, issuer: TestIssuer) -> AsyncIterator[Tenancy]:
    url = await databases.url(backend, "tenancy", "model-configs")
    async with (
        running_service(
            "tenancy",
            url,
            authenticator=issuer.authenticator(),
            provider_key_encryption_keys=KEY_A,
        ) as running,
        open_channel(running.target) as channel,
    ):
        yield Tenancy(running, TenantModelConfigServiceStub(channel), TenancyServiceStub(channel))


@pytest.fixture(scope="module")
async def model_ids(tenancy: Tenancy) -> list[str]:
    async with tenancy.database.reading() as session:
        ids = (
            await session.scalars(
                select(ModelRecord.id)
                .where(ModelRecord.is_active.is_(True))
                .order_by(ModelRecord.id)
            )
        ).all()
    assert len(ids) >= 2, "the seeded catalogue should offer models"
    return [str(i) for i in ids]


async def new_tenant(tenancy: Tenancy, issuer: TestIssuer) -> str:
    response = await tenancy.tenants.CreateTenant(
        tenancy_pb2.CreateTenantRequest(tenant=tenancy_pb2.Tenant(slug=unique_slug(), name="Acme")),
        metadata=issuer.operator(),
    )
    return response.tenant.id


async def configure(
    stub: TenantModelConfigServiceStub,
    issuer: TestIssuer,
    tenant_id: str,
    model_id: str,
    api_key: str,
    **fields: Any,
) -> pb.TenantModelConfig:
    response = await stub.SetTenantModelConfig(
        pb.SetTenantModelConfigRequest(
            config=pb.TenantModelConfig(
                tenant_id=tenant_id, llm_model_id=model_id, api_key=api_key, **fields
            )
        ),
        metadata=issuer.member(tenant_id, "owner"),
    )
    return response.config


def revealer(issuer: TestIssuer, *scopes: str) -> list[tuple[str, str]]:
    return issuer.metadata(
        Principal(subject="service:conversation", kind="service", scopes=frozenset(scopes))
    )


async def every_stored_value(database: Database) -> list[Any]:
    """Every value of every row of every tenancy table."""
    values: list[Any] = []
    async with database.reading() as session:
        for table in tenancy_metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                values.extend(row)
    return values


def contains(value: Any, secret: str) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return secret.encode() in bytes(value)
    return secret in str(value)


# --- Set / Get and roles -------------------------------------------------------------------


async def test_owner_configures_viewer_reads_only_the_hint(
    tenancy: Tenancy, issuer: TestIssuer, model_ids: list[str]
) -> None:
    tenant_id = await new_tenant(tenancy, issuer)
    api_key = provider_key()
    created = await configure(tenancy.configs, issuer, tenant_id, model_ids[0], api_key)
    assert created.api_key == "" and created.api_key_hint == api_key[-4:]
    assert (created.rate_limit_rpm, created.rate_limit_tpm) == (60, 10000)
    assert created.version == 1 and created.llm_model_id == model_ids[0]
    fetched = await tenancy.configs.GetTenantModelConfig(
        pb.GetTenantModelConfigRequest(tenant_id=tenant_id),
        metadata=issuer.member(tenant_id, "viewer"),
    )
    assert fetched.config == created
    assert api_key not in str(fetched)


async def test_admin_changes_limits_and_model_but_only_owners_set_the_key(
    tenancy: Tenancy, issuer: TestIssuer, model_ids: list[str]
) -> None:
    tenant_id = await new_tenant(tenancy, issuer)
    config = await configure(tenancy.configs, issuer, tenant_id, model_ids[0], provider_key())
    admin = issuer.member(tenant_id, "admin")
    changed = (
        await tenancy.configs.SetTenantModelConfig(
            pb.SetTenantModelConfigRequest(
                config=pb.TenantModelConfig(
                    tenant_id=tenant_id,
                    rate_limit_rpm=120,
                    rate_limit_tpm=50000,
                    llm_model_id=model_ids[1],
                    version=config.version,
                ),
                update_mask=FieldMask(paths=["rate_limit_rpm", "rate_limit_tpm", "llm_model_id"]),
            ),
            metadata=admin,
        )
    ).config
    assert (changed.rate_limit_rpm, changed.rate_limit_tpm) == (120, 50000)
    assert changed.llm_model_id == model_ids[1] and changed.version == config.version + 1
    assert changed.api_key_hint == config.api_key_hint

    set_key = pb.SetTenantModelConfigRequest(
        config=pb.TenantModelConfig(
            tenant_id=tenant_id, api_key=provider_key(), version=changed.version
        ),
        update_mask=FieldMask(paths=["api_key"]),
    )
    error = rich_error(await failure(tenancy.configs.SetTenantModelConfig(set_key, metadata=admin)))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "ROLE_TOO_LOW"
    rekeyed = (
        await tenancy.configs.SetTenantModelConfig(
            set_key, metadata=issuer.member(tenant_id, "owner")
        )
    ).config
    assert rekeyed.api_key_hint == set_key.config.api_key[-4:]

    limits = pb.SetTenantModelConfigRequest(
        config=pb.TenantModelConfig(tenant_id=tenant_id, rate_limit_rpm=5, version=rekeyed.version),
        update_mask=FieldMask(paths=["rate_limit_rpm"]),
    )
    for role in ("member", "viewer"):
        error = rich_error(
            await failure(
                tenancy.configs.SetTenantModelConfig(
                    limits, metadata=issuer.member(tenant_id, role)
                )
            )
        )
        assert error.code == grpc.StatusCode.PERMISSION_DENIED


async def test_another_tenant_is_refused(
    tenancy: Tenancy, issuer: TestIssuer, model_ids: list[str]
) -> None:
    tenant_id = await new_tenant(tenancy, issuer)
    other_id = await new_tenant(tenancy, issuer)
    await configure(tenancy.configs, issuer, tenant_id, model_ids[0], provider_key())
    outsider = issuer.member(other_id, "owner")
    error = rich_error(
        await failure(
            tenancy.configs.GetTenantModelConfig(
                pb.GetTenantModelConfigRequest(tenant_id=tenant_id), metadata=outsider
            )
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "TENANT_MISMATCH"
    error = rich_error(
        await failure(
            tenancy.configs.SetTenantModelConfig(
                pb.SetTenantModelConfigRequest(
                    config=pb.TenantModelConfig(tenant_id=tenant_id, rate_limit_rpm=1, version=1),
                    update_mask=FieldMask(paths=["rate_limit_rpm"]),
                ),
                metadata=outsider,
            )
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "TENANT_MISMATCH"


async def test_bad_input_stale_versions_and_missing_configs(
    tenancy: Tenancy, issuer: TestIssuer, model_ids: list[str]
) -> None:
    tenant_id = await new_tenant(tenancy, issuer)
    owner = issuer.member(tenant_id, "owner")
    error = rich_error(
        await failure(
            tenancy.configs.GetTenantModelConfig(
                pb.GetTenantModelConfigRequest(tenant_id=tenant_id), metadata=owner
            )
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND and error.reason == "MODEL_CONFIG_NOT_FOUND"
    bad_key = "short"
    for config, field in [
        (pb.TenantModelConfig(llm_model_id=model_ids[0], api_key=bad_key), "config.api_key"),
        (pb.TenantModelConfig(llm_model_id="nope", api_key=provider_key()), "config.llm_model_id"),
        (
            pb.TenantModelConfig(
                llm_model_id=model_ids[0], api_key=provider_key(), rate_limit_rpm=-1
            ),
            "config.rate_limit_rpm",
        ),
        (
            pb.TenantModelConfig(llm_model_id=str(uuid.uuid4()), api_key=provider_key()),
            "config.llm_model_id",
        ),
    ]:
        config.tenant_id = tenant_id
        error = rich_error(
            await failure(
                tenancy.configs.SetTenantModelConfig(
                    pb.SetTenantModelConfigRequest(config=config), metadata=owner
                )
            )
        )
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in error.field_violations
        assert bad_key not in error.message and config.api_key not in error.message
    created = await configure(tenancy.configs, issuer, tenant_id, model_ids[0], provider_key())
    stale = pb.SetTenantModelConfigRequest(
        config=pb.TenantModelConfig(tenant_id=tenant_id, rate_limit_rpm=7, version=99),
        update_mask=FieldMask(paths=["rate_limit_rpm"]),
    )
    error = rich_error(await failure(tenancy.configs.SetTenantModelConfig(stale, metadata=owner)))
    assert error.code == grpc.StatusCode.ABORTED and error.reason == "VERSION_MISMATCH"
    assert error.metadata["current_version"] == str(created.version)


async def test_keys_never_stored_logged_or_returned_in_clear(
    tenancy: Tenancy,
    issuer: TestIssuer,
    model_ids: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant_id = await new_tenant(tenancy, issuer)
    api_key = provider_key()
    created = await configure(tenancy.configs, issuer, tenant_id, model_ids[0], api_key)
    onboarded_key = provider_key()
    onboarded = await tenancy.configs.OnboardTenant(
        onboarding(model_ids[0], onboarded_key, request_id=str(uuid.uuid4())),
        metadata=issuer.operator(),
    )
    revealed = await tenancy.configs.RevealProviderKey(
        pb.RevealProviderKeyRequest(tenant_id=tenant_id),
        metadata=revealer(issuer, INTERNAL_SCOPE, REVEAL_SCOPE),
    )
    assert revealed.api_key == api_key
    assert api_key not in str(created) and onboarded_key not in str(onboarded)

    values = await every_stored_value(tenancy.database)
    assert values
    for secret in (api_key, onboarded_key):
        assert not [v for v in values if contains(v, secret)]
    assert api_key not in caplog.text and onboarded_key not in caplog.text
    async with tenancy.database.reading() as session:
        row = await session.scalar(
            select(TenantModelConfigRecord).where(
                TenantModelConfigRecord.tenant_id == uuid.UUID(tenant_id)
            )
        )
    assert row is not None and row.api_key_hint == api_key[-4:]
    assert Fernet(KEY_A.encode()).decrypt(row.encrypted_api_key).decode() == api_key


# --- RevealProviderKey ---------------------------------------------------------------------


async def test_reveal_is_for_internal_callers_with_the_scope_only(
    tenancy: Tenancy, issuer: TestIssuer, model_ids: list[str]
) -> None:
    tenant_id = await new_tenant(tenancy, issuer)
    api_key = provider_key()
    await configure(tenancy.configs, issuer, tenant_id, model_ids[0], api_key)
    request = pb.RevealProviderKeyRequest(tenant_id=tenant_id)
    refused = [
        issuer.operator(),
        issuer.member(tenant_id, "owner"),
        issuer.internal(),  # internal, but without the reveal scope
        revealer(issuer, REVEAL_SCOPE),  # the scope, but not an internal caller
        issuer.metadata(
            Principal(
                subject=str(uuid.uuid4()),
                kind="user",
                tenant_id=tenant_id,
                role="owner",
                scopes=frozenset({INTERNAL_SCOPE, REVEAL_SCOPE}),
            )
        ),
    ]
    for metadata in refused:
        error = rich_error(
            await failure(tenancy.configs.RevealProviderKey(request, metadata=metadata))
        )
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
        assert error.reason == "PROVIDER_KEY_REVEAL_DENIED"
    revealed = await tenancy.configs.RevealProviderKey(
        request, metadata=revealer(issuer, INTERNAL_SCOPE, REVEAL_SCOPE)
    )
    assert revealed.api_key == api_key and revealed.llm_model_id == model_ids[0]


async def test_provider_key_calls_refuse_without_an_encryption_key(
    backend: str, databases: Databases, issuer: TestIssuer, model_ids: list[str]
) -> None:
    url = await databases.url(backend, "tenancy", "model-configs")
    async with (
        running_service(
            "tenancy",
            url,
            authenticator=issuer.authenticator(),
            provider_key_encryption_keys=None,
        ) as running,
        open_channel(running.target) as channel,
    ):
        stub = Tenancy(running, TenantModelConfigServiceStub(channel), TenancyServiceStub(channel))
        tenant_id = await new_tenant(stub, issuer)
        calls = [
            configure(stub.configs, issuer, tenant_id, model_ids[0], provider_key()),
            stub.configs.OnboardTenant(
                onboarding(model_ids[0], provider_key()), metadata=issuer.operator()
            ),
            stub.configs.RevealProviderKey(
                pb.RevealProviderKeyRequest(tenant_id=tenant_id),
                metadata=revealer(issuer, INTERNAL_SCOPE, REVEAL_SCOPE),
            ),
        ]
        for call in calls:
            error = rich_error(await failure(call))
            assert error.code == grpc.StatusCode.FAILED_PRECONDITION
            assert error.reason == "PROVIDER_KEY_ENCRYPTION_NOT_CONFIGURED"
            assert "QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS" in error.message


# --- rotation ------------------------------------------------------------------------------


async def test_rotation_re_encrypts_under_the_new_key_and_reports_unreadable_rows(
    backend: str, databases: Databases, issuer: TestIssuer, model_ids: list[str]
) -> None:
    url = await databases.url(backend, "tenancy", "rotation")

    def serving(keys: str) -> Any:
        return running_service(
            "tenancy", url, authenticator=issuer.authenticator(), provider_key_encryption_keys=keys
        )

    keys_by_tenant: dict[str, str] = {}
    async with serving(KEY_A) as running, open_channel(running.target) as channel:
        stack = Tenancy(running, TenantModelConfigServiceStub(channel), TenancyServiceStub(channel))
        for _ in range(5):
            tenant_id = await new_tenant(stack, issuer)
            keys_by_tenant[tenant_id] = provider_key()
            await configure(
                stack.configs, issuer, tenant_id, model_ids[0], keys_by_tenant[tenant_id]
            )
    async with serving(KEY_C) as running, open_channel(running.target) as channel:
        stack = Tenancy(running, TenantModelConfigServiceStub(channel), TenancyServiceStub(channel))
        lost_tenant = await new_tenant(stack, issuer)
        await configure(stack.configs, issuer, lost_tenant, model_ids[0], provider_key())

    async def sealed_of(database: Database, tenant_id: str) -> bytes:
        async with database.reading() as session:
            value = await session.scalar(
                select(TenantModelConfigRecord.encrypted_api_key).where(
                    TenantModelConfigRecord.tenant_id == uuid.UUID(tenant_id)
                )
            )
        assert value is not None
        return bytes(value)

    async with serving(f"{KEY_B},{KEY_A}") as running:
        box = ProviderKeyBox.from_settings(running.context.settings)
        assert box is not None
        lost_before = await sealed_of(running.context.database, lost_tenant)
        report = await rotate_provider_keys(running.context.database, box, batch_size=2)
        assert report.resealed == 5 and report.already_current == 0
        assert report.unreadable == [lost_tenant]
        assert await sealed_of(running.context.database, lost_tenant) == lost_before
        again = await rotate_provider_keys(running.context.database, box, batch_size=2)
        assert (again.resealed, again.already_current, again.unreadable) == (0, 5, [lost_tenant])

    async with serving(KEY_B) as running, open_channel(running.target) as channel:
        configs = TenantModelConfigServiceStub(channel)
        internal = revealer(issuer, INTERNAL_SCOPE, REVEAL_SCOPE)
        for tenant_id, api_key in keys_by_tenant.items():
            revealed = await configs.RevealProviderKey(
                pb.RevealProviderKeyRequest(tenant_id=tenant_id), metadata=internal
            )
            assert revealed.api_key == api_key
            sealed = await sealed_of(running.context.database, tenant_id)
            assert Fernet(KEY_B.encode()).decrypt(sealed).decode() == api_key
        error = rich_error(
            await failure(
                configs.RevealProviderKey(
                    pb.RevealProviderKeyRequest(tenant_id=lost_tenant), metadata=internal
                )
            )
        )
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert error.reason == "PROVIDER_KEY_UNREADABLE"


async def test_the_rotate_provider_keys_command_re_encrypts_and_exits_1_on_unreadable_rows(
    backend: str,
    databases: Databases,
    issuer: TestIssuer,
    model_ids: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from services.cli import main as cli_main

    url = await databases.url(backend, "tenancy", "rotation-cli")
    async with (
        running_service(
            "tenancy", url, authenticator=issuer.authenticator(), provider_key_encryption_keys=KEY_A
        ) as running,
        open_channel(running.target) as channel,
    ):
        stack = Tenancy(running, TenantModelConfigServiceStub(channel), TenancyServiceStub(channel))
        tenant_id = await new_tenant(stack, issuer)
        await configure(stack.configs, issuer, tenant_id, model_ids[0], provider_key())

    monkeypatch.setenv("QD_TENANCY_DATABASE_URL", url)
    monkeypatch.setenv("QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS", f"{KEY_B},{KEY_A}")
    assert await asyncio.to_thread(cli_main, ["rotate-provider-keys", "--batch-size", "1"]) == 0
    assert "provider keys re-encrypted: 1," in capsys.readouterr().out
    # Without the old key the row is unreadable: reported, kept, and the exit code says so.
    monkeypatch.setenv("QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS", KEY_C)
    assert await asyncio.to_thread(cli_main, ["rotate-provider-keys"]) == 1
    assert f"unreadable provider key of tenant {tenant_id}" in capsys.readouterr().out


# --- onboarding ----------------------------------------------------------------------------
# Onboarding with agent and tool grants (stored by tooling) is tested with both services in
# test_tenancy_onboarding.py; here tenancy runs alone.


def onboarding(model_id: str, api_key: str, **fields: Any) -> pb.OnboardTenantRequest:
    request = pb.OnboardTenantRequest(
        tenant=tenancy_pb2.Tenant(slug=unique_slug("onb"), name="Onboarded Inc"),
        owner_user_id=str(uuid.uuid4()),
        model_config=pb.TenantModelConfig(
            llm_model_id=model_id, api_key=api_key, rate_limit_rpm=30
        ),
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


async def tenants_with_slug(database: Database, slug: str) -> int:
    async with database.reading() as session:
        return int(await session.scalar(select(func.count()).where(TenantRecord.slug == slug)) or 0)


async def test_onboarding_without_grants_needs_no_tooling_and_grants_need_it(
    tenancy: Tenancy, issuer: TestIssuer, model_ids: list[str]
) -> None:
    plain = onboarding(model_ids[0], provider_key())
    response = await tenancy.configs.OnboardTenant(plain, metadata=issuer.operator())
    assert (list(response.agent_grants), list(response.tool_grants)) == ([], [])
    assert await tenants_with_slug(tenancy.database, plain.tenant.slug) == 1
    granting = onboarding(model_ids[0], provider_key())
    granting.agent_grants.add(agent_id=str(uuid.uuid4()))
    error = rich_error(
        await failure(tenancy.configs.OnboardTenant(granting, metadata=issuer.operator()))
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "TOOLING_NOT_CONFIGURED",
    )
    assert "QD_TENANCY_TOOLING_TARGET" in error.message
    assert await tenants_with_slug(tenancy.database, granting.tenant.slug) == 0
