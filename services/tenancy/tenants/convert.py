"""Tenants, their settings and memberships as their protobuf messages, and the enum maps between
the two."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from google.protobuf.struct_pb2 import Struct

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.tenancy.tenants.models import (
    MembershipRole,
    TenantSettingsRecord,
    TenantStatus,
)
from shared.timestamps import to_timestamp

STATUS_TO_PROTO = {
    TenantStatus.ACTIVE: pb.TENANT_STATUS_ACTIVE,
    TenantStatus.SUSPENDED: pb.TENANT_STATUS_SUSPENDED,
    TenantStatus.DELETED: pb.TENANT_STATUS_DELETED,
}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}


class TenantFields(Protocol):
    """A tenant's columns: an ORM record, or a row of a :class:`shared.db.PreparedRead`."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def slug(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def domain(self) -> str | None: ...
    @property
    def status(self) -> TenantStatus: ...
    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def tenant_to_proto(row: TenantFields) -> pb.Tenant:
    return pb.Tenant(
        id=str(row.id),
        slug=row.slug,
        name=row.name,
        domain=row.domain or "",
        status=STATUS_TO_PROTO[row.status],
        version=row.version,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


def _struct(value: dict) -> Struct:
    struct = Struct()
    struct.update(value)
    return struct


def settings_to_proto(row: TenantSettingsRecord) -> pb.TenantSettings:
    return pb.TenantSettings(
        tenant_id=str(row.tenant_id),
        billing_contacts=list(row.billing_contacts_json),
        billing_webhook_url=row.billing_webhook_url or "",
        plan_metadata=_struct(row.plan_metadata_json),
        flags=_struct(row.flags_json),
        version=row.version,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


ROLE_TO_PROTO = {
    MembershipRole.OWNER: pb.MEMBERSHIP_ROLE_OWNER,
    MembershipRole.ADMIN: pb.MEMBERSHIP_ROLE_ADMIN,
    MembershipRole.MEMBER: pb.MEMBERSHIP_ROLE_MEMBER,
    MembershipRole.VIEWER: pb.MEMBERSHIP_ROLE_VIEWER,
}
#: Keyed by the number as it comes off the wire (a plain int).
ROLE_FROM_PROTO: dict[int, MembershipRole] = {v: k for k, v in ROLE_TO_PROTO.items()}


class MembershipFields(Protocol):
    """A membership's columns: an ORM record, or a row of a :class:`shared.db.PreparedRead`."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def role(self) -> MembershipRole: ...
    @property
    def created_at(self) -> datetime: ...


def membership_to_proto(row: MembershipFields) -> pb.Membership:
    return pb.Membership(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        user_id=str(row.user_id),
        role=ROLE_TO_PROTO[row.role],
        create_time=to_timestamp(row.created_at),
    )
