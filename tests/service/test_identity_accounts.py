"""The caller's own account (GetMe, profile, consents, notification preferences) and the
bootstrap of the first platform operator."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import func, select

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1.identity_pb2_grpc import IdentityServiceStub
from quarterdeck.tenancy.v1 import tenancy_pb2 as tpb
from services.cli import main as cli_main
from services.identity.bootstrap import BootstrapRefused, bootstrap_operator, read_password
from services.identity.models import (
    MfaMethodType,
    PlatformRole,
    User,
    UserConsent,
    UserMfaMethod,
    UserNotificationPreference,
    UserProfile,
    UserStatus,
)
from shared.auth import AUTHORIZATION_HEADER, Principal
from shared.db_types import utcnow
from shared.grpc_client import open_channel
from tests.support.errors import rich_error
from tests.support.identity_users import STRONG_PASSWORD, TestUser, make_user
from tests.support.stack import IDENTITY_TEST_SETTINGS, Databases, IdentityStack, identity_stack

Metadata = list[tuple[str, str]]


@pytest.fixture(scope="module")
async def stack(backend: str, databases: Databases) -> AsyncIterator[IdentityStack]:
    async with identity_stack(databases, backend, label="accounts") as running:
        yield running


@pytest.fixture(scope="module")
async def identity(stack: IdentityStack) -> AsyncIterator[IdentityServiceStub]:
    async with open_channel(stack.identity.target) as channel:
        yield IdentityServiceStub(channel)


async def token_for(stack: IdentityStack, principal: Principal) -> Metadata:
    token, _ = await stack.state.issuer.access_token(principal)
    return [(AUTHORIZATION_HEADER, f"Bearer {token}")]


async def as_user(stack: IdentityStack, user: TestUser) -> Metadata:
    return await token_for(
        stack,
        Principal(subject=user.user_id, kind="user", tenant_id=user.tenant_id, role=user.role),
    )


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


# -- GetMe ----------------------------------------------------------------------------------------


async def test_get_me_returns_the_caller_and_whether_mfa_is_on(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    user = await make_user(stack, role="member")
    meta = await as_user(stack, user)
    me = await identity.GetMe(pb.GetMeRequest(), metadata=meta)
    assert me.user.id == user.user_id and me.user.email == user.email
    assert me.user.status == pb.USER_STATUS_ACTIVE
    assert me.user.platform_role == pb.PLATFORM_ROLE_UNSPECIFIED
    assert me.profile.display_name == user.email.split("@")[0]
    assert me.mfa_enabled is False

    state = stack.state
    async with state.db.transaction() as session:
        session.add(UserMfaMethod(user_id=uuid.UUID(user.user_id), method_type=MfaMethodType.TOTP))
    assert (await identity.GetMe(pb.GetMeRequest(), metadata=meta)).mfa_enabled is False
    verified = UserMfaMethod(
        user_id=uuid.UUID(user.user_id),
        method_type=MfaMethodType.TOTP,
        label="phone",
        verified_at=utcnow(),
    )
    async with state.db.transaction() as session:
        session.add(verified)
    assert (await identity.GetMe(pb.GetMeRequest(), metadata=meta)).mfa_enabled is True
    async with state.db.transaction() as session:
        row = await session.get(UserMfaMethod, verified.id)
        assert row is not None
        row.revoked_at = utcnow()
    assert (await identity.GetMe(pb.GetMeRequest(), metadata=meta)).mfa_enabled is False


async def test_get_me_needs_a_signed_in_user(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    error = await refused(identity.GetMe(pb.GetMeRequest()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    service_account = Principal(
        subject=f"sa:{uuid.uuid4()}",
        kind="service_account",
        tenant_id=str(uuid.uuid4()),
        role="admin",
    )
    error = await refused(
        identity.GetMe(pb.GetMeRequest(), metadata=await token_for(stack, service_account))
    )
    assert rich_error(error).reason == "USER_ONLY"
    ghost = Principal(subject=str(uuid.uuid4()), kind="user", tenant_id=str(uuid.uuid4()))
    error = await refused(identity.GetMe(pb.GetMeRequest(), metadata=await token_for(stack, ghost)))
    assert error.code() == grpc.StatusCode.NOT_FOUND


# -- UpdateProfile --------------------------------------------------------------------------------


async def test_update_profile_changes_only_the_masked_fields(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta = await as_user(stack, user)
    profile = pb.Profile(display_name="Ada L.", given_name="ignored", timezone="Pacific/Auckland")
    updated = await identity.UpdateProfile(
        pb.UpdateProfileRequest(
            profile=profile, update_mask=FieldMask(paths=["display_name", "timezone"])
        ),
        metadata=meta,
    )
    assert updated.profile.display_name == "Ada L."
    assert updated.profile.timezone == "Pacific/Auckland" and updated.profile.given_name == ""

    full = pb.Profile(
        given_name="Ada",
        family_name="Lovelace",
        avatar_url="https://cdn.example.com/a.png",
        locale="en-NZ",
    )
    full.metadata.update({"team": "engines", "level": 3, "tags": ["a", "b"]})
    updated = await identity.UpdateProfile(
        pb.UpdateProfileRequest(profile=full),
        metadata=meta,  # no mask: every set field
    )
    assert updated.profile.display_name == "Ada L." and updated.profile.given_name == "Ada"
    assert updated.profile.locale == "en-NZ" and updated.profile.metadata["team"] == "engines"

    cleared = await identity.UpdateProfile(
        pb.UpdateProfileRequest(
            profile=pb.Profile(), update_mask=FieldMask(paths=["timezone", "metadata"])
        ),
        metadata=meta,
    )
    assert cleared.profile.timezone == "" and not cleared.profile.HasField("metadata")
    me = await identity.GetMe(pb.GetMeRequest(), metadata=meta)
    assert me.profile == cleared.profile
    assert me.profile.family_name == "Lovelace"


async def test_update_profile_names_each_bad_field_and_changes_nothing(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta = await as_user(stack, user)
    before = (await identity.GetMe(pb.GetMeRequest(), metadata=meta)).profile
    nan = pb.Profile()
    nan.metadata.update({"score": float("inf")})
    huge = pb.Profile()
    huge.metadata.update({"blob": "x" * 20000})
    cases = [
        (pb.Profile(display_name="x" * 129), "display_name"),
        (pb.Profile(display_name="line\nbreak"), "display_name"),
        (pb.Profile(given_name="x" * 65), "given_name"),
        (pb.Profile(family_name="x" * 65), "family_name"),
        (pb.Profile(avatar_url="http://example.com/a.png"), "avatar_url"),
        (pb.Profile(avatar_url="not a url"), "avatar_url"),
        (pb.Profile(avatar_url="https://example.com/" + "a" * 500), "avatar_url"),
        (pb.Profile(timezone="Mars/Olympus_Mons"), "timezone"),
        (pb.Profile(timezone="../../etc/passwd"), "timezone"),
        (pb.Profile(locale="english"), "locale"),
        (pb.Profile(locale="en_NZ"), "locale"),
        (nan, "metadata"),
        (huge, "metadata"),
    ]
    for profile, field in cases:
        error = await refused(
            identity.UpdateProfile(
                pb.UpdateProfileRequest(
                    profile=profile, update_mask=FieldMask(paths=["display_name", field])
                ),
                metadata=meta,
            )
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert f"profile.{field}" in rich_error(error).field_violations, field
    error = await refused(
        identity.UpdateProfile(
            pb.UpdateProfileRequest(profile=pb.Profile(), update_mask=FieldMask(paths=["email"])),
            metadata=meta,
        )
    )
    assert "update_mask" in rich_error(error).field_violations
    assert (await identity.GetMe(pb.GetMeRequest(), metadata=meta)).profile == before


async def test_update_profile_creates_a_missing_profile(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    state = stack.state
    user = User(
        id=uuid.uuid4(),
        email=f"bare-{uuid.uuid4().hex[:8]}@example.com",
        password_hash="unused",
        status=UserStatus.ACTIVE,
    )
    async with state.db.transaction() as session:
        session.add(user)
    meta = await token_for(stack, Principal(subject=str(user.id), kind="user"))
    assert (await identity.GetMe(pb.GetMeRequest(), metadata=meta)).profile == pb.Profile()
    await identity.UpdateProfile(
        pb.UpdateProfileRequest(
            profile=pb.Profile(locale="fr", timezone="Europe/Paris"),
            update_mask=FieldMask(paths=["locale", "timezone"]),
        ),
        metadata=meta,
    )
    async with state.db.reading() as session:
        rows = list(
            await session.scalars(select(UserProfile).where(UserProfile.user_id == user.id))
        )
    assert [(r.locale, r.timezone) for r in rows] == [("fr", "Europe/Paris")]


# -- Consents -------------------------------------------------------------------------------------


async def test_consents_are_recorded_once_per_version(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta = await as_user(stack, user)
    device = pb.DeviceInfo(ip_address="203.0.113.7", user_agent="Firefox/140")
    first = await identity.RecordConsent(
        pb.RecordConsentRequest(policy_key="terms", version="2025-01", device=device),
        metadata=meta,
    )
    again = await identity.RecordConsent(
        pb.RecordConsentRequest(policy_key="terms", version="2025-01"), metadata=meta
    )
    assert again.consent == first.consent
    newer = await identity.RecordConsent(
        pb.RecordConsentRequest(policy_key="terms", version="2025-06"), metadata=meta
    )
    privacy = await identity.RecordConsent(
        pb.RecordConsentRequest(policy_key="privacy", version="v1"), metadata=meta
    )
    listed = await identity.ListConsents(pb.ListConsentsRequest(), metadata=meta)
    assert list(listed.consents) == [first.consent, newer.consent, privacy.consent]

    state = stack.state
    async with state.db.reading() as session:
        row = await session.scalar(
            select(UserConsent).where(
                UserConsent.user_id == uuid.UUID(user.user_id), UserConsent.version == "2025-01"
            )
        )
    assert row is not None
    assert row.ip_hash == state.secrets.hasher.hash("ip:203.0.113.7")
    assert row.user_agent_hash == state.secrets.hasher.hash("ua:Firefox/140")
    other = await make_user(stack)
    assert not (
        await identity.ListConsents(pb.ListConsentsRequest(), metadata=await as_user(stack, other))
    ).consents

    for request, field in (
        (pb.RecordConsentRequest(policy_key="Terms", version="1"), "policy_key"),
        (pb.RecordConsentRequest(policy_key="", version="1"), "policy_key"),
        (pb.RecordConsentRequest(policy_key="terms", version=""), "version"),
        (pb.RecordConsentRequest(policy_key="terms", version="v" * 33), "version"),
        (pb.RecordConsentRequest(policy_key="terms", version="v 1"), "version"),
    ):
        error = await refused(identity.RecordConsent(request, metadata=meta))
        assert field in rich_error(error).field_violations


# -- Notification preferences ---------------------------------------------------------------------


async def test_notification_preferences_upsert_per_tenant_and_for_all(
    stack: IdentityStack, identity: IdentityServiceStub
) -> None:
    user = await make_user(stack)
    meta = await as_user(stack, user)

    async def set_pref(tenant_id: str, enabled: bool) -> pb.NotificationPreference:
        response = await identity.SetNotificationPreference(
            pb.SetNotificationPreferenceRequest(
                preference=pb.NotificationPreference(
                    tenant_id=tenant_id, channel="email", category="security", enabled=enabled
                )
            ),
            metadata=meta,
        )
        return response.preference

    assert (await set_pref("", True)).enabled is True
    assert (await set_pref("", False)).enabled is False
    tenant_wide = await set_pref(user.tenant_id, True)
    assert tenant_wide.tenant_id == user.tenant_id
    await set_pref(user.tenant_id, True)
    await identity.SetNotificationPreference(
        pb.SetNotificationPreferenceRequest(
            preference=pb.NotificationPreference(channel="in_app", category="billing.invoices")
        ),
        metadata=meta,
    )
    listed = await identity.ListNotificationPreferences(
        pb.ListNotificationPreferencesRequest(), metadata=meta
    )
    assert [(p.tenant_id, p.channel, p.category, p.enabled) for p in listed.preferences] == [
        ("", "email", "security", False),
        ("", "in_app", "billing.invoices", False),
        (user.tenant_id, "email", "security", True),
    ]
    async with stack.state.db.reading() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(UserNotificationPreference)
            .where(UserNotificationPreference.user_id == uuid.UUID(user.user_id))
        )
    assert stored == 3

    error = await refused(
        identity.SetNotificationPreference(
            pb.SetNotificationPreferenceRequest(
                preference=pb.NotificationPreference(
                    tenant_id=str(uuid.uuid4()), channel="email", category="security"
                )
            ),
            metadata=meta,
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    for preference, field in (
        (pb.NotificationPreference(channel="fax", category="security"), "preference.channel"),
        (pb.NotificationPreference(channel="sms", category="Security"), "preference.category"),
        (pb.NotificationPreference(channel="sms", category=""), "preference.category"),
        (
            pb.NotificationPreference(tenant_id="nope", channel="sms", category="security"),
            "preference.tenant_id",
        ),
    ):
        error = await refused(
            identity.SetNotificationPreference(
                pb.SetNotificationPreferenceRequest(preference=preference), metadata=meta
            )
        )
        assert field in rich_error(error).field_violations


# -- Bootstrap ------------------------------------------------------------------------------------


async def test_bootstrap_creates_the_first_operator_once(
    backend: str,
    databases: Databases,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with identity_stack(databases, backend, label="accounts-bootstrap") as fresh:
        state = fresh.state
        settings = fresh.identity.context.settings
        slug = f"platform-{uuid.uuid4().hex[:8]}"

        async def users_with(email: str) -> list[User]:
            async with state.db.reading() as session:
                return list(await session.scalars(select(User).where(User.email == email)))

        with pytest.raises(BootstrapRefused, match="password"):
            await bootstrap_operator(settings, email="op@example.com", password="weak")
        assert await users_with("op@example.com") == []

        # Tenancy refuses a taken slug: the operator is removed again.
        assert state.tenancy is not None
        await state.tenancy.stub.CreateTenant(
            tpb.CreateTenantRequest(tenant=tpb.Tenant(slug=f"{slug}-taken", name="Taken")),
            metadata=await state.tenancy.token.internal_metadata(),
        )
        with pytest.raises(BootstrapRefused, match="ALREADY_EXISTS"):
            await bootstrap_operator(
                settings,
                email="op@example.com",
                password=STRONG_PASSWORD,
                tenant_slug=f"{slug}-taken",
            )
        assert await users_with("op@example.com") == []

        result = await bootstrap_operator(
            settings,
            email="op@example.com",
            password=STRONG_PASSWORD,
            tenant_slug=slug,
            tenant_name="Platform",
        )
        [operator] = await users_with("op@example.com")
        assert str(operator.id) == result.user_id
        assert operator.platform_role == PlatformRole.PLATFORM_OPERATOR
        assert operator.status == UserStatus.ACTIVE
        assert state.secrets.passwords.verify(
            STRONG_PASSWORD, operator.password_hash, operator.password_pepper_version
        ).ok
        assert await state.tenancy.role_in(result.tenant_id, result.user_id) == "owner"
        tenant = await state.tenancy.stub.GetTenant(
            tpb.GetTenantRequest(id=result.tenant_id),
            metadata=await state.tenancy.token.internal_metadata(),
        )
        assert tenant.tenant.slug == slug

        async with open_channel(fresh.identity.target) as channel:
            me = await IdentityServiceStub(channel).GetMe(
                pb.GetMeRequest(),
                metadata=await token_for(
                    fresh,
                    Principal(
                        subject=result.user_id,
                        kind="user",
                        tenant_id=result.tenant_id,
                        role="owner",
                        platform_role="platform_operator",
                    ),
                ),
            )
        assert me.user.platform_role == pb.PLATFORM_ROLE_PLATFORM_OPERATOR
        assert me.profile.display_name == "op"

        with pytest.raises(BootstrapRefused, match="already exists"):
            await bootstrap_operator(
                settings, email="second@example.com", password=STRONG_PASSWORD, tenant_slug="x"
            )
        assert await users_with("second@example.com") == []

        # The command: its settings from the environment, its password never from argv.
        environment = {
            **{f"QD_IDENTITY_{k.upper()}": str(v) for k, v in IDENTITY_TEST_SETTINGS.items()},
            "QD_IDENTITY_DATABASE_URL": str(settings.database_url),
            "QD_IDENTITY_TENANCY_TARGET": str(settings.tenancy_target),
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        command = ["bootstrap", "--email", "third@example.com", "--tenant-slug", f"{slug}-3"]
        monkeypatch.setenv("QD_BOOTSTRAP_PASSWORD", "weak")
        assert await asyncio.to_thread(cli_main, command) == 2
        assert "password" in capsys.readouterr().err
        monkeypatch.setenv("QD_BOOTSTRAP_PASSWORD", STRONG_PASSWORD)
        assert await asyncio.to_thread(cli_main, command) == 2
        assert "already exists" in capsys.readouterr().err
        assert await users_with("third@example.com") == []


def test_the_password_comes_from_the_environment_or_a_prompt() -> None:
    assert read_password({"QD_BOOTSTRAP_PASSWORD": "from-env"}, lambda _: "typed") == "from-env"
    assert read_password({}, lambda _: "typed") == "typed"
    answers = iter(["typed", "mistyped"])
    with pytest.raises(BootstrapRefused, match="differ"):
        read_password({}, lambda _: next(answers))
