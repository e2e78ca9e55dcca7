"""A tenant's model configuration and onboarding: the resources (mapped from their messages) and
the bodies. A tenant's provider key is write-only: bodies take it, no response ever carries it,
only its hint."""

from __future__ import annotations

from typing import Annotated, Any

from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import ConfigDict, Field, field_validator

from quarterdeck.tenancy.v1 import model_configs_pb2 as mpb
from services.gateway.catalogue.schemas import RateLimit
from services.gateway.proto_json import INT64_MAX, Text, refuse_null
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody
from services.gateway.tenants.schemas import CreateTenantBody, Tenant

#: Documented as write-only, kept out of reprs (and so out of logs of the body).
ProviderKey = Annotated[
    Text,
    Field(
        description="The provider's API key. Write-only: stored encrypted, never returned; "
        "responses show only its hint. Only the tenant's owners may set it.",
        json_schema_extra={"writeOnly": True},
    ),
]


class ModelConfig(ProtoModel, message=mpb.TenantModelConfig, exclude=("api_key",)):
    """A tenant's LLM configuration. The provider key itself is never shown."""

    llm_model_id: str = Field(description="The catalogue model the tenant uses.")
    api_key_hint: str = Field(description="The last characters of the provider key.")
    rate_limit_rpm: int = Field(description="Requests per minute.")
    rate_limit_tpm: int = Field(description="Tokens per minute.")
    version: int = Field(description="The optimistic-concurrency version; send it to change it.")


class SetModelConfigBody(RequestBody):
    """The fields to set; those left out stay as they are. Creating the configuration (version 0)
    needs llm_model_id and api_key."""

    version: int = Field(
        default=0,
        ge=0,
        le=INT64_MAX,
        description="The version you read; 0 (the default) creates the configuration.",
    )
    llm_model_id: Text | None = Field(default=None, description="An active catalogue model.")
    api_key: ProviderKey | None = Field(default=None, repr=False)
    rate_limit_rpm: RateLimit | None = None
    rate_limit_tpm: RateLimit | None = None

    @field_validator("llm_model_id", "api_key", "rate_limit_rpm", "rate_limit_tpm", mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return refuse_null(value)

    def to_proto(self, tenant_id: str) -> mpb.TenantModelConfig:
        return mpb.TenantModelConfig(
            tenant_id=tenant_id,
            version=self.version,
            llm_model_id=self.llm_model_id or "",
            api_key=self.api_key or "",
            rate_limit_rpm=self.rate_limit_rpm or 0,
            rate_limit_tpm=self.rate_limit_tpm or 0,
        )

    def update_mask(self) -> FieldMask:
        return FieldMask(paths=self.mask_paths())


class OnboardingModelConfig(RequestBody):
    llm_model_id: Text = Field(description="An active catalogue model.")
    api_key: ProviderKey = Field(repr=False)
    rate_limit_rpm: RateLimit = Field(default=0, description="0 means the default (60).")
    rate_limit_tpm: RateLimit = Field(default=0, description="0 means the default (10000).")

    def to_proto(self) -> mpb.TenantModelConfig:
        return mpb.TenantModelConfig(
            llm_model_id=self.llm_model_id,
            api_key=self.api_key,
            rate_limit_rpm=self.rate_limit_rpm,
            rate_limit_tpm=self.rate_limit_tpm,
        )


class AgentGrantBody(RequestBody):
    agent_id: Text
    enabled: bool = True
    output_format_id: Text | None = Field(
        default=None, description="An output format overriding the agent's own."
    )


class ToolGrantBody(RequestBody):
    tool_id: Text
    enabled: bool = True


class AgentGrant(
    ProtoModel, message=mpb.AgentGrant, nullable=("output_format_id",), unset={"enabled": True}
):
    enabled: bool


class ToolGrant(ProtoModel, message=mpb.ToolGrant, unset={"enabled": True}):
    enabled: bool


class OnboardTenantBody(RequestBody):
    """A tenant with its settings, optional owner, model configuration and grants, created in one
    transaction: any invalid part leaves nothing behind."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    tenant: CreateTenantBody
    owner_user_id: Text | None = Field(default=None, description="Becomes the tenant's owner.")
    model_config_: OnboardingModelConfig = Field(alias="model_config")
    agent_grants: list[AgentGrantBody] = Field(default_factory=list)
    tool_grants: list[ToolGrantBody] = Field(default_factory=list)

    def to_proto(self, request_id: str) -> mpb.OnboardTenantRequest:
        return mpb.OnboardTenantRequest(
            tenant=self.tenant.to_proto(),
            owner_user_id=self.owner_user_id or "",
            model_config=self.model_config_.to_proto(),
            agent_grants=[
                mpb.AgentGrant(
                    agent_id=grant.agent_id,
                    enabled=grant.enabled,
                    output_format_id=grant.output_format_id or "",
                )
                for grant in self.agent_grants
            ],
            tool_grants=[
                mpb.ToolGrant(tool_id=grant.tool_id, enabled=grant.enabled)
                for grant in self.tool_grants
            ],
            request_id=request_id,
        )


class OnboardedTenant(ProtoModel, message=mpb.OnboardTenantResponse):
    tenant: Tenant
