"""The tenant resources of the public API (mapped from their messages), their request bodies, and
what every route shares: the request-body base and the error body."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.proto_json import JsonObject, Text, Version
from services.gateway.proto_models import ProtoModel, enum_number
from shared.json_values import dict_to_struct

TenantStatusName = Literal["active", "suspended", "deleted"]


def status_value(name: TenantStatusName | None) -> pb.TenantStatus:
    return enum_number(pb.TenantStatus, name)


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")

    def mask_paths(self) -> list[str]:
        """The fields the client sent, version aside: the update mask of a PATCH (AIP-134)."""
        sent = self.model_fields_set - {"version"}
        return [name for name in type(self).model_fields if name in sent]


class Tenant(ProtoModel, message=pb.Tenant):
    domain: str | None = Field(description="The tenant's unique DNS domain, null when none.")
    version: int = Field(description="The optimistic-concurrency version; send it on PATCH.")


class TenantList(ProtoModel, message=pb.ListTenantsResponse):
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class CreateTenantBody(RequestBody):
    slug: Text = Field(description="Lowercase letters, digits and inner hyphens, at most 64.")
    name: Text = Field(description="At most 128 characters.")
    domain: Text | None = None
    status: TenantStatusName | None = Field(default=None, description="Defaults to active.")

    def to_proto(self) -> pb.Tenant:
        return pb.Tenant(
            slug=self.slug,
            name=self.name,
            domain=self.domain or "",
            status=status_value(self.status),
        )


class UpdateTenantBody(RequestBody):
    """The fields to change; those left out stay as they are."""

    version: Version
    slug: Text | None = None
    name: Text | None = None
    domain: Text | None = Field(default=None, description="null removes the domain.")
    status: TenantStatusName | None = None

    def to_proto(self, tenant_id: str) -> pb.Tenant:
        return pb.Tenant(
            id=tenant_id,
            version=self.version,
            slug=self.slug or "",
            name=self.name or "",
            domain=self.domain or "",
            status=status_value(self.status),
        )


class TenantStatusCheck(ProtoModel, message=pb.TenantStatusCheck):
    tenant_id: str = Field(description="The tenant id, as asked.")
    found: bool = Field(description="Whether the tenant exists.")
    status: TenantStatusName | None = Field(description="null when the tenant does not exist.")
    may_act: bool = Field(description="Whether the tenant exists and is active.")


class TenantStatusChecks(ProtoModel, message=pb.CheckTenantStatusResponse):
    checks: list[TenantStatusCheck] = Field(description="One per distinct id, in asked order.")


class CheckTenantStatusBody(RequestBody):
    tenant_ids: list[Text] = Field(
        min_length=1, max_length=500, description="1 to 500 tenant ids to check."
    )


class SuspendTenantBody(RequestBody):
    reason: Text = Field(default="", max_length=512, description="Why; kept in the service log.")


class TenantSettings(ProtoModel, message=pb.TenantSettings, nullable=("billing_webhook_url",)):
    pass


class UpdateTenantSettingsBody(RequestBody):
    """The settings to change; those left out stay as they are, null clears one."""

    version: Version
    billing_contacts: list[Text] | None = None
    billing_webhook_url: Text | None = None
    plan_metadata: JsonObject | None = None
    flags: JsonObject | None = None

    def to_proto(self, tenant_id: str) -> pb.TenantSettings:
        return pb.TenantSettings(
            tenant_id=tenant_id,
            version=self.version,
            billing_contacts=self.billing_contacts or [],
            billing_webhook_url=self.billing_webhook_url or "",
            plan_metadata=dict_to_struct(self.plan_metadata),
            flags=dict_to_struct(self.flags),
        )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ErrorDetail(BaseModel):
    """A google.rpc detail message (ErrorInfo, BadRequest, ...) in its JSON form."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(alias="@type", examples=["type.googleapis.com/google.rpc.BadRequest"])


class ErrorStatus(BaseModel):
    code: int = Field(description="The HTTP status.", examples=[400])
    status: str = Field(description="The canonical gRPC code name.", examples=["INVALID_ARGUMENT"])
    message: str
    details: list[ErrorDetail]


class ErrorResponse(BaseModel):
    """Google's JSON error shape, used by every error response."""

    error: ErrorStatus
