"""The JSON resources of the public API and their conversions to and from protobuf."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.proto_json import JsonObject, Text, Version, json_to_struct, struct_to_json
from shared.timestamps import from_timestamp

TenantStatusName = Literal["active", "suspended", "deleted"]

STATUS_NAMES: Mapping[int, TenantStatusName] = {
    pb.TENANT_STATUS_ACTIVE: "active",
    pb.TENANT_STATUS_SUSPENDED: "suspended",
    pb.TENANT_STATUS_DELETED: "deleted",
}
STATUS_VALUES: Mapping[str, int] = {name: value for value, name in STATUS_NAMES.items()}


def status_value(name: TenantStatusName | None) -> int:
    return pb.TENANT_STATUS_UNSPECIFIED if name is None else STATUS_VALUES[name]


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")

    def mask_paths(self) -> list[str]:
        """The fields the client sent, version aside: the update mask of a PATCH (AIP-134)."""
        sent = self.model_fields_set - {"version"}
        return [name for name in type(self).model_fields if name in sent]


class Tenant(BaseModel):
    id: str = Field(description="The tenant's id, a UUID assigned by the service.")
    slug: str = Field(description="The tenant's unique URL-safe handle.")
    name: str = Field(description="The tenant's display name.")
    domain: str | None = Field(description="The tenant's unique DNS domain, null when none.")
    status: TenantStatusName
    version: int = Field(description="The optimistic-concurrency version; send it on PATCH.")
    create_time: datetime
    update_time: datetime

    @classmethod
    def from_proto(cls, tenant: pb.Tenant) -> Tenant:
        return cls(
            id=tenant.id,
            slug=tenant.slug,
            name=tenant.name,
            domain=tenant.domain or None,
            status=STATUS_NAMES[tenant.status],
            version=tenant.version,
            create_time=from_timestamp(tenant.create_time),
            update_time=from_timestamp(tenant.update_time),
        )


class TenantList(BaseModel):
    tenants: list[Tenant]
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


class TenantStatusCheck(BaseModel):
    tenant_id: str = Field(description="The tenant id, as asked.")
    found: bool = Field(description="Whether the tenant exists.")
    status: TenantStatusName | None = Field(description="null when the tenant does not exist.")
    may_act: bool = Field(description="Whether the tenant exists and is active.")

    @classmethod
    def from_proto(cls, check: pb.TenantStatusCheck) -> TenantStatusCheck:
        return cls(
            tenant_id=check.tenant_id,
            found=check.found,
            status=STATUS_NAMES.get(check.status),
            may_act=check.may_act,
        )


class TenantStatusChecks(BaseModel):
    checks: list[TenantStatusCheck] = Field(description="One per distinct id, in asked order.")


class CheckTenantStatusBody(RequestBody):
    tenant_ids: list[Text] = Field(
        min_length=1, max_length=500, description="1 to 500 tenant ids to check."
    )


class SuspendTenantBody(RequestBody):
    reason: Text = Field(default="", max_length=512, description="Why; kept in the service log.")


class TenantSettings(BaseModel):
    tenant_id: str
    billing_contacts: list[str]
    billing_webhook_url: str | None
    plan_metadata: dict[str, Any]
    flags: dict[str, Any]
    version: int
    create_time: datetime
    update_time: datetime

    @classmethod
    def from_proto(cls, settings: pb.TenantSettings) -> TenantSettings:
        return cls(
            tenant_id=settings.tenant_id,
            billing_contacts=list(settings.billing_contacts),
            billing_webhook_url=settings.billing_webhook_url or None,
            plan_metadata=struct_to_json(settings.plan_metadata),
            flags=struct_to_json(settings.flags),
            version=settings.version,
            create_time=from_timestamp(settings.create_time),
            update_time=from_timestamp(settings.update_time),
        )


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
            plan_metadata=json_to_struct(self.plan_metadata),
            flags=json_to_struct(self.flags),
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
