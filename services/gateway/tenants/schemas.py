"""The tenant resources (mapped from their messages) and the bodies of the tenant routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.proto_json import JsonObject, Text, Version
from services.gateway.proto_models import ProtoModel, enum_number
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct

TenantStatusName = Literal["active", "suspended", "deleted"]


def status_value(name: TenantStatusName | None) -> pb.TenantStatus:
    return enum_number(pb.TenantStatus, name)


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
