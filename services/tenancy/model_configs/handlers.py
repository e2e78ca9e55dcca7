"""Tenants' model configurations and one-call onboarding, free of any transport.

Onboarding's agent and tool grants are the tooling service's (``tooling_grants.py``): stored
there before the tenant is committed here, taken back if that commit fails.

Provider keys are write-only: they are sealed (crypto.py) before they reach a row,
answered only as a four-character hint, never logged and never put into an error message. Only
internal callers holding :data:`REVEAL_SCOPE` may have one decrypted.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from quarterdeck.tenancy.v1 import model_configs_pb2 as pb
from quarterdeck.tenancy.v1 import tenancy_pb2
from quarterdeck.tooling.v1 import permissions_pb2 as tooling_pb
from services.tenancy.context import TenancyContext
from services.tenancy.model_configs.convert import config_to_proto
from services.tenancy.model_configs.crypto import (
    ProviderKeyBox,
    hint_of,
    require_box,
)
from services.tenancy.model_configs.models import (
    DEFAULT_RATE_LIMIT_RPM,
    DEFAULT_RATE_LIMIT_TPM,
    TenantModelConfigRecord,
)
from services.tenancy.models import Base
from services.tenancy.pricing.models import ModelRecord
from services.tenancy.tenants.convert import tenant_to_proto
from services.tenancy.tenants.handlers.tenants import add_tenant
from services.tenancy.tenants.models import TenantRecord
from services.tenancy.tenants.validation import (
    domain_problem,
    name_problem,
    raise_if_any,
    slug_problem,
)
from shared.auth import (
    PROVIDER_KEY_REVEAL_SCOPE,
    require_operator,
    require_principal,
    require_tenant,
)
from shared.db import unique_violation
from shared.errors import (
    Aborted,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from shared.field_mask import paths_to_update
from shared.ids import parse_id
from shared.secret_box import UnreadableSecret

#: The scope an internal caller's token needs to have a provider key decrypted.
REVEAL_SCOPE = PROVIDER_KEY_REVEAL_SCOPE
UPDATABLE_FIELDS = frozenset({"llm_model_id", "api_key", "rate_limit_rpm", "rate_limit_tpm"})
MIN_API_KEY = 8
MAX_API_KEY = 1024
MAX_GRANTS = 500


def api_key_problem(api_key: str) -> str | None:
    """Says what is wrong without ever repeating the key."""
    if not api_key:
        return "is required"
    if not MIN_API_KEY <= len(api_key) <= MAX_API_KEY:
        return f"must be {MIN_API_KEY} to {MAX_API_KEY} characters"
    if not api_key.isascii() or not api_key.isprintable() or any(c.isspace() for c in api_key):
        return "must be printable ASCII without spaces"
    return None


def limit_problem(value: int, *, zero_means_default: bool) -> str | None:
    if value < 0 or (value == 0 and not zero_means_default):
        return "must be a positive number" + (" (0 for the default)" if zero_means_default else "")
    return None


def _optional_id(value: str, field: str, violations: list[FieldViolation]) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        violations.append(FieldViolation(field, "must be a UUID"))
        return None


def _required_id(value: str, field: str, violations: list[FieldViolation]) -> uuid.UUID | None:
    if not value:
        violations.append(FieldViolation(field, "is required"))
        return None
    return _optional_id(value, field, violations)


async def _require_model(session: AsyncSession, model_id: uuid.UUID, field: str) -> None:
    active = await session.scalar(select(ModelRecord.is_active).where(ModelRecord.id == model_id))
    if active is None:
        raise InvalidArgument(
            FieldViolation(field, f"names no model of the catalogue ({model_id})"),
            reason="UNKNOWN_MODEL",
        )
    if not active:
        raise InvalidArgument(
            FieldViolation(field, f"names a model that is no longer offered ({model_id})"),
            reason="MODEL_INACTIVE",
        )


class ModelConfigHandlers:
    def __init__(self, context: TenancyContext) -> None:
        self._db = context.database
        self._idempotency = context.idempotency
        self.box: ProviderKeyBox | None = ProviderKeyBox.from_settings(context.settings)
        self._activity = context.state.activity
        self._tooling = context.state.tooling

    async def _config(
        self, session: AsyncSession, tenant_id: uuid.UUID, *, lock: bool = False
    ) -> TenantModelConfigRecord | None:
        statement = select(TenantModelConfigRecord).where(
            TenantModelConfigRecord.tenant_id == tenant_id
        )
        if lock:
            statement = statement.with_for_update()
        return await session.scalar(statement)

    async def set_tenant_model_config(  # noqa: C901 - one branch per FieldMask path
        self, request: pb.SetTenantModelConfigRequest
    ) -> pb.SetTenantModelConfigResponse:
        config = request.config
        tenant_id = parse_id(config.tenant_id, "config.tenant_id")
        paths = paths_to_update(request.update_mask, config, UPDATABLE_FIELDS)
        # Owners manage the provider key; admins the model and the limits.
        require_tenant(str(tenant_id), "owner" if "api_key" in paths else "admin")
        violations: list[FieldViolation] = []
        model_id = None
        if "llm_model_id" in paths:
            model_id = _required_id(config.llm_model_id, "config.llm_model_id", violations)
        if "api_key" in paths and (problem := api_key_problem(config.api_key)):
            violations.append(FieldViolation("config.api_key", problem))
        for name in ("rate_limit_rpm", "rate_limit_tpm"):
            if name in paths and (
                problem := limit_problem(getattr(config, name), zero_means_default=False)
            ):
                violations.append(FieldViolation(f"config.{name}", problem))
        raise_if_any(violations)
        sealed = require_box(self.box).seal(config.api_key) if "api_key" in paths else None
        try:
            async with self._db.transaction() as session:
                row = await self._config(session, tenant_id, lock=True)
                created = row is None
                if model_id is not None:
                    await _require_model(session, model_id, "config.llm_model_id")
                if row is None:
                    if config.version != 0:
                        raise NotFound(
                            f"tenant {tenant_id} has no model configuration",
                            reason="MODEL_CONFIG_NOT_FOUND",
                        )
                    if sealed is None or model_id is None:
                        raise InvalidArgument.field(
                            "update_mask",
                            "the tenant has no model configuration yet: creating one needs "
                            "llm_model_id and api_key",
                        )
                    if await session.get(TenantRecord, tenant_id) is None:
                        raise NotFound(f"tenant {tenant_id} not found", reason="TENANT_NOT_FOUND")
                    row = TenantModelConfigRecord(
                        tenant_id=tenant_id,
                        llm_model_id=model_id,
                        encrypted_api_key=sealed.token,
                        key_version=sealed.key_version,
                        api_key_hint=hint_of(config.api_key),
                    )
                    session.add(row)
                elif config.version != row.version:
                    raise Aborted(
                        f"the model configuration changed since version {config.version} "
                        f"(now {row.version}); read it again",
                        reason="VERSION_MISMATCH",
                        metadata={"current_version": str(row.version)},
                    )
                if model_id is not None:
                    row.llm_model_id = model_id
                if sealed is not None:
                    row.encrypted_api_key = sealed.token
                    row.key_version = sealed.key_version
                    row.api_key_hint = hint_of(config.api_key)
                if "rate_limit_rpm" in paths:
                    row.rate_limit_rpm = config.rate_limit_rpm
                if "rate_limit_tpm" in paths:
                    row.rate_limit_tpm = config.rate_limit_tpm
                try:
                    await session.flush()
                except IntegrityError as exc:
                    if unique_violation(exc, Base.metadata) != ("tenant_id",):
                        raise
                    # Another request created the configuration first.
                    raise Aborted(
                        "the model configuration was created concurrently; read it again",
                        reason="VERSION_MISMATCH",
                    ) from None
                response = pb.SetTenantModelConfigResponse(config=config_to_proto(row))
        except StaleDataError:
            raise Aborted(
                "the model configuration changed concurrently; read it again",
                reason="VERSION_MISMATCH",
            ) from None
        self._append_config_activity(response.config, paths, created=created)
        return response

    def _append_config_activity(
        self, config: pb.TenantModelConfig, paths: list[str], *, created: bool
    ) -> None:
        """Tell the tenant's feed what changed: the fields' names, never the provider key."""
        changed = sorted(paths)
        if created:
            self._activity.append(
                config.tenant_id,
                "model_config.created",
                object_type="model_config",
                object_id=config.tenant_id,
                object_name=config.llm_model_id,
                summary="The model configuration was created with a provider key",
                metadata={"llm_model_id": config.llm_model_id, "version": config.version},
            )
            return
        if "api_key" in paths:
            self._activity.append(
                config.tenant_id,
                "model_config.provider_key_changed",
                object_type="model_config",
                object_id=config.tenant_id,
                object_name=config.llm_model_id,
                summary="The provider API key was replaced",
                metadata={"version": config.version},
            )
        if other := [path for path in changed if path != "api_key"]:
            self._activity.append(
                config.tenant_id,
                "model_config.updated",
                object_type="model_config",
                object_id=config.tenant_id,
                object_name=config.llm_model_id,
                summary=f"The model configuration changed: {', '.join(other)}",
                metadata={
                    "changed_fields": other,
                    "llm_model_id": config.llm_model_id,
                    "rate_limit_rpm": config.rate_limit_rpm,
                    "rate_limit_tpm": config.rate_limit_tpm,
                    "version": config.version,
                },
            )

    async def get_tenant_model_config(
        self, request: pb.GetTenantModelConfigRequest
    ) -> pb.GetTenantModelConfigResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        require_tenant(str(tenant_id), "viewer")
        async with self._db.reading() as session:
            row = await self._config(session, tenant_id)
            if row is None:
                raise NotFound(
                    f"tenant {tenant_id} has no model configuration",
                    reason="MODEL_CONFIG_NOT_FOUND",
                )
            return pb.GetTenantModelConfigResponse(config=config_to_proto(row))

    async def reveal_provider_key(
        self, request: pb.RevealProviderKeyRequest
    ) -> pb.RevealProviderKeyResponse:
        principal = require_principal()
        # Nobody else: not operators, not the tenant's owners.
        if not (principal.is_internal and REVEAL_SCOPE in principal.scopes):
            raise PermissionDenied(
                f"revealing a provider key needs an internal caller with the scope {REVEAL_SCOPE}",
                reason="PROVIDER_KEY_REVEAL_DENIED",
            )
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        box = require_box(self.box)
        async with self._db.reading() as session:
            row = await self._config(session, tenant_id)
        if row is None:
            raise NotFound(
                f"tenant {tenant_id} has no model configuration", reason="MODEL_CONFIG_NOT_FOUND"
            )
        try:
            api_key = box.open(row.encrypted_api_key)
        except UnreadableSecret:
            raise FailedPrecondition(
                "the tenant's provider key does not open with any configured encryption key",
                reason="PROVIDER_KEY_UNREADABLE",
            ) from None
        return pb.RevealProviderKeyResponse(
            tenant_id=str(tenant_id), llm_model_id=str(row.llm_model_id), api_key=api_key
        )

    async def onboard_tenant(self, request: pb.OnboardTenantRequest) -> pb.OnboardTenantResponse:
        """DESIGN flow 1 as one call: nothing is kept unless every part is valid. The tenant and
        its model configuration are written in one transaction; its grants are stored by the
        tooling service inside it, before the commit, and revoked there if the commit fails."""
        require_operator()
        plan = _OnboardingPlan.validate(request)
        box = require_box(self.box)
        if plan.agent_grants or plan.tool_grants:
            self._tooling.check_configured()
        onboarding_id = request.request_id or str(uuid.uuid4())
        created = False
        granted_for: uuid.UUID | None = None  # the tenant tooling was asked to grant

        async def create(session: AsyncSession) -> pb.OnboardTenantResponse:
            nonlocal created, granted_for
            row = await add_tenant(session, request.tenant, plan.owner_id)
            await _require_model(session, plan.model_id, "model_config.llm_model_id")
            sealed = box.seal(request.model_config.api_key)
            config = TenantModelConfigRecord(
                tenant_id=row.id,
                llm_model_id=plan.model_id,
                encrypted_api_key=sealed.token,
                key_version=sealed.key_version,
                api_key_hint=hint_of(request.model_config.api_key),
                rate_limit_rpm=request.model_config.rate_limit_rpm or DEFAULT_RATE_LIMIT_RPM,
                rate_limit_tpm=request.model_config.rate_limit_tpm or DEFAULT_RATE_LIMIT_TPM,
            )
            session.add(config)
            await session.flush()  # every local check has passed before tooling is asked
            granted = tooling_pb.GrantOnboardingResponse()
            if plan.agent_grants or plan.tool_grants:
                granted_for = row.id
                granted = await self._tooling.grant(
                    row.id, onboarding_id, plan.agent_grants, plan.tool_grants
                )
            created = True
            return pb.OnboardTenantResponse(
                tenant=tenant_to_proto(row),
                model_config=config_to_proto(config),
                agent_grants=[
                    pb.AgentGrant(
                        agent_id=p.agent_id,
                        enabled=p.enabled,
                        output_format_id=p.output_override_id,
                    )
                    for p in granted.agent_permissions
                ],
                tool_grants=[
                    pb.ToolGrant(tool_id=p.tool_id, enabled=p.enabled)
                    for p in granted.tool_permissions
                ],
            )

        try:
            response = await self._idempotency.run(
                endpoint="TenantModelConfigService.OnboardTenant",
                request=request,
                response_type=pb.OnboardTenantResponse,
                create=create,
                resource_id_of=lambda response: response.tenant.id,
            )
        except BaseException:
            if granted_for is not None:
                # The tenant was not committed: its grants must not outlive it. (Tooling
                # refused or never stored them: nothing to revoke, and revoking is harmless.)
                await self._tooling.revoke(granted_for, onboarding_id)
            raise
        if created:  # committed now; a replayed request_id appends nothing
            self._activity.append(
                response.tenant.id,
                "tenant.onboarded",
                object_type="tenant",
                object_id=response.tenant.id,
                object_name=response.tenant.name,
                summary=(
                    f"The tenant was onboarded with a model configuration, "
                    f"{len(response.agent_grants)} agent and {len(response.tool_grants)} tool "
                    "grants"
                ),
                metadata={
                    "llm_model_id": response.model_config.llm_model_id,
                    "owner_user_id": request.owner_user_id,
                    "agent_grants": len(response.agent_grants),
                    "tool_grants": len(response.tool_grants),
                },
            )
        return response


class _OnboardingPlan:
    """Every part of an onboarding request checked before anything is written."""

    def __init__(
        self,
        owner_id: uuid.UUID | None,
        model_id: uuid.UUID,
        agent_grants: list[tooling_pb.OnboardingAgentGrant],
        tool_grants: list[tooling_pb.OnboardingToolGrant],
    ) -> None:
        self.owner_id = owner_id
        self.model_id = model_id
        self.agent_grants = agent_grants
        self.tool_grants = tool_grants

    @classmethod
    def validate(cls, request: pb.OnboardTenantRequest) -> _OnboardingPlan:
        violations: list[FieldViolation] = []
        tenant = request.tenant
        for field, problem in (
            ("slug", slug_problem(tenant.slug)),
            ("name", name_problem(tenant.name)),
            ("domain", domain_problem(tenant.domain)),
        ):
            if problem:
                violations.append(FieldViolation(f"tenant.{field}", problem))
        if tenant.status not in (
            tenancy_pb2.TENANT_STATUS_UNSPECIFIED,
            tenancy_pb2.TENANT_STATUS_ACTIVE,
            tenancy_pb2.TENANT_STATUS_SUSPENDED,
        ):
            violations.append(FieldViolation("tenant.status", "must be ACTIVE or SUSPENDED"))
        owner_id = (
            _optional_id(request.owner_user_id, "owner_user_id", violations)
            if request.owner_user_id
            else None
        )
        config = request.model_config
        model_id = _required_id(config.llm_model_id, "model_config.llm_model_id", violations)
        if problem := api_key_problem(config.api_key):
            violations.append(FieldViolation("model_config.api_key", problem))
        for name in ("rate_limit_rpm", "rate_limit_tpm"):
            if problem := limit_problem(getattr(config, name), zero_means_default=True):
                violations.append(FieldViolation(f"model_config.{name}", problem))
        agent_grants: list[tooling_pb.OnboardingAgentGrant] = []
        tool_grants: list[tooling_pb.OnboardingToolGrant] = []
        if len(request.agent_grants) + len(request.tool_grants) > MAX_GRANTS:
            violations.append(FieldViolation("agent_grants", f"at most {MAX_GRANTS} grants"))
        seen: set[tuple[str, uuid.UUID]] = set()
        for i, agent in enumerate(request.agent_grants):
            field = f"agent_grants[{i}]"
            agent_id = _required_id(agent.agent_id, f"{field}.agent_id", violations)
            override = (
                _optional_id(agent.output_format_id, f"{field}.output_format_id", violations)
                if agent.output_format_id
                else None
            )
            if agent_id is not None:
                if ("agent", agent_id) in seen:
                    violations.append(FieldViolation(f"{field}.agent_id", "is granted twice"))
                seen.add(("agent", agent_id))
                agent_grants.append(
                    tooling_pb.OnboardingAgentGrant(
                        agent_id=str(agent_id),
                        enabled=agent.enabled if agent.HasField("enabled") else True,
                        output_format_id=str(override or ""),
                    )
                )
        for i, tool in enumerate(request.tool_grants):
            field = f"tool_grants[{i}]"
            tool_id = _required_id(tool.tool_id, f"{field}.tool_id", violations)
            if tool_id is not None:
                if ("tool", tool_id) in seen:
                    violations.append(FieldViolation(f"{field}.tool_id", "is granted twice"))
                seen.add(("tool", tool_id))
                tool_grants.append(
                    tooling_pb.OnboardingToolGrant(
                        tool_id=str(tool_id),
                        enabled=tool.enabled if tool.HasField("enabled") else True,
                    )
                )
        raise_if_any(violations)
        assert model_id is not None
        return cls(owner_id, model_id, agent_grants, tool_grants)
