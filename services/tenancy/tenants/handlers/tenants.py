"""Tenant and tenant-settings use cases, free of any transport: protobuf in, protobuf out."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.tenancy.context import TenancyContext
from services.tenancy.models import Base
from services.tenancy.tenants.convert import (
    STATUS_FROM_PROTO,
    STATUS_TO_PROTO,
    settings_to_proto,
    tenant_to_proto,
)
from services.tenancy.tenants.models import (
    MembershipRecord,
    MembershipRole,
    TenantRecord,
    TenantSettingsRecord,
    TenantStatus,
)
from services.tenancy.tenants.validation import (
    billing_contacts_problems,
    domain_problem,
    name_problem,
    raise_if_any,
    slug_problem,
    webhook_url_problem,
)
from shared.auth import (
    Principal,
    require_internal,
    require_operator,
    require_principal,
    require_tenant,
)
from shared.db import PreparedRead, unique_violation
from shared.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from shared.field_mask import paths_to_update
from shared.ids import parse_id
from shared.json_values import has_non_finite
from shared.pagination import fetch_page

#: Where a tenant may go from each state: deleted is final.
STATUS_TRANSITIONS = {
    TenantStatus.ACTIVE: {TenantStatus.SUSPENDED, TenantStatus.DELETED},
    TenantStatus.SUSPENDED: {TenantStatus.ACTIVE, TenantStatus.DELETED},
    TenantStatus.DELETED: set(),
}
#: The most tenants one CheckTenantStatus call may ask about.
MAX_STATUS_CHECKS = 500
MAX_SUSPEND_REASON = 512
#: The activity-feed action of each status a tenant moves to.
STATUS_ACTIONS = {
    TenantStatus.SUSPENDED: "tenant.suspended",
    TenantStatus.ACTIVE: "tenant.reactivated",
    TenantStatus.DELETED: "tenant.deleted",
}

log = logging.getLogger("quarterdeck.tenancy.tenants")
UPDATABLE_TENANT_FIELDS = frozenset({"slug", "name", "domain", "status"})
UPDATABLE_SETTINGS_FIELDS = frozenset(
    {"billing_contacts", "billing_webhook_url", "plan_metadata", "flags"}
)


#: Compiled once per dialect: GetTenant runs it on the driver's connection, without the ORM's
#: identity map or SQLAlchemy's connection and result objects.
TENANT_BY_ID = PreparedRead(
    select(*TenantRecord.__table__.columns).where(TenantRecord.__table__.c.id == bindparam("id"))
)


def _status_problem(status: int, field: str) -> FieldViolation | None:
    if status not in STATUS_FROM_PROTO:
        return FieldViolation(field, "must be ACTIVE, SUSPENDED or DELETED")
    return None


def _tenant_violations(tenant: pb.Tenant, fields: set[str]) -> list[FieldViolation]:
    checks = {
        "slug": lambda: slug_problem(tenant.slug),
        "name": lambda: name_problem(tenant.name),
        "domain": lambda: domain_problem(tenant.domain),
    }
    violations = [
        FieldViolation(f"tenant.{field}", problem)
        for field, check in checks.items()
        if field in fields and (problem := check())
    ]
    if "status" in fields and (bad := _status_problem(tenant.status, "tenant.status")):
        violations.append(bad)
    return violations


async def flush_tenant(session: AsyncSession, tenant: pb.Tenant) -> None:
    """Flush a new or changed tenant, turning a taken slug or domain into ALREADY_EXISTS."""
    try:
        await session.flush()
    except IntegrityError as exc:
        columns = unique_violation(exc, Base.metadata)
        if columns == ("slug",):
            raise AlreadyExists(
                f"a tenant with slug '{tenant.slug}' already exists",
                reason="TENANT_SLUG_TAKEN",
                metadata={"field": "tenant.slug"},
            ) from None
        if columns == ("domain",):
            raise AlreadyExists(
                f"a tenant with domain '{tenant.domain}' already exists",
                reason="TENANT_DOMAIN_TAKEN",
                metadata={"field": "tenant.domain"},
            ) from None
        raise


async def add_tenant(
    session: AsyncSession,
    tenant: pb.Tenant,
    owner_id: uuid.UUID | None,
    flush: Callable[[AsyncSession, pb.Tenant], Awaitable[None]] = flush_tenant,
) -> TenantRecord:
    """Add a new (validated) tenant with its default settings and, given an owner, the owner's
    membership; a taken slug or domain is ALREADY_EXISTS (raised by ``flush``)."""
    row = TenantRecord(
        slug=tenant.slug,
        name=tenant.name.strip(),
        domain=tenant.domain or None,
        status=STATUS_FROM_PROTO.get(tenant.status, TenantStatus.ACTIVE),
    )
    session.add(row)
    await flush(session, tenant)
    session.add(TenantSettingsRecord(tenant_id=row.id))
    if owner_id is not None:
        session.add(MembershipRecord(tenant_id=row.id, user_id=owner_id, role=MembershipRole.OWNER))
    return row


def check_transition(current: TenantStatus, target: TenantStatus) -> None:
    """Refuse a status change the lifecycle does not allow (staying put is allowed)."""
    if target is current or target in STATUS_TRANSITIONS[current]:
        return
    if current is TenantStatus.DELETED:
        raise FailedPrecondition("the tenant is deleted, which is final", reason="TENANT_DELETED")
    raise FailedPrecondition(
        f"a {current.value} tenant cannot become {target.value}",
        reason="INVALID_TENANT_TRANSITION",
    )


def _own_tenants(
    principal: Principal, statement: Select[Any]
) -> tuple[Select[Any], dict[str, str]]:
    if principal.user_id is not None:
        try:
            user_id = uuid.UUID(principal.user_id)
        except ValueError:
            raise PermissionDenied("the token names no user id", reason="TENANT_REQUIRED") from None
        member_of = select(MembershipRecord.tenant_id).where(MembershipRecord.user_id == user_id)
        return statement.where(TenantRecord.id.in_(member_of)), {"member": str(user_id)}
    if principal.tenant_id is None:
        raise PermissionDenied("this needs a token for a tenant", reason="TENANT_REQUIRED")
    tenant_id = parse_id(principal.tenant_id, "tenant_id")
    return statement.where(TenantRecord.id == tenant_id), {"tenant": str(tenant_id)}


class TenantHandlers:
    def __init__(self, context: TenancyContext) -> None:
        self._db = context.database
        self._pages = context.page_tokens
        self._idempotency = context.idempotency
        self._activity = context.state.activity

    async def _flush_unique(self, session: AsyncSession, tenant: pb.Tenant) -> None:
        await flush_tenant(session, tenant)

    async def create_tenant(self, request: pb.CreateTenantRequest) -> pb.CreateTenantResponse:
        require_operator()
        tenant = request.tenant
        owner_id = (
            parse_id(request.owner_user_id, "owner_user_id") if request.owner_user_id else None
        )
        violations = _tenant_violations(tenant, {"slug", "name", "domain"})
        if tenant.status != pb.TENANT_STATUS_UNSPECIFIED and (
            bad := _status_problem(tenant.status, "tenant.status")
        ):
            violations.append(bad)
        raise_if_any(violations)
        created = False

        async def create(session: AsyncSession) -> pb.CreateTenantResponse:
            nonlocal created
            row = await add_tenant(session, tenant, owner_id, flush=self._flush_unique)
            await session.flush()
            created = True
            return pb.CreateTenantResponse(tenant=tenant_to_proto(row))

        response = await self._idempotency.run(
            endpoint="TenancyService.CreateTenant",
            request=request,
            response_type=pb.CreateTenantResponse,
            create=create,
            resource_id_of=lambda response: response.tenant.id,
        )
        if created:  # committed now; a replayed request_id appends nothing
            self._append_created(response.tenant, owner_id)
        return response

    # ----- the tenant's activity feed (appended after commit) -----

    def _append_created(self, tenant: pb.Tenant, owner_id: uuid.UUID | None) -> None:
        status = STATUS_FROM_PROTO[tenant.status].value
        metadata: dict[str, object] = {"slug": tenant.slug, "status": status}
        if tenant.domain:
            metadata["domain"] = tenant.domain
        if owner_id is not None:
            metadata["owner_user_id"] = str(owner_id)
        self._activity.append(
            tenant.id,
            "tenant.created",
            object_type="tenant",
            object_id=tenant.id,
            object_name=tenant.name,
            summary=f"The tenant {tenant.name} was created"
            + (f" with owner {owner_id}" if owner_id is not None else ""),
            metadata=metadata,
        )

    def _append_updated(self, tenant: pb.Tenant, previous: dict[str, str]) -> None:
        """``previous``: the value before the update of each field that changed."""
        changed = sorted(previous)
        self._activity.append(
            tenant.id,
            "tenant.updated",
            object_type="tenant",
            object_id=tenant.id,
            object_name=tenant.name,
            summary=f"The tenant's {', '.join(changed)} changed",
            metadata={"changed_fields": changed, "previous": previous, "version": tenant.version},
        )

    def _append_moved(self, tenant: pb.Tenant, previous: TenantStatus, reason: str = "") -> None:
        target = STATUS_FROM_PROTO[tenant.status]
        metadata: dict[str, object] = {
            "previous_status": previous.value,
            "status": target.value,
            "version": tenant.version,
        }
        if reason:
            metadata["reason"] = reason
        action = STATUS_ACTIONS[target]
        self._activity.append(
            tenant.id,
            action,
            object_type="tenant",
            object_id=tenant.id,
            object_name=tenant.name,
            summary=f"The tenant was {action.removeprefix('tenant.')}"
            + (f": {reason}" if reason else ""),
            metadata=metadata,
        )

    async def _tenant(self, session: AsyncSession, tenant_id: uuid.UUID) -> TenantRecord:
        row = await session.get(TenantRecord, tenant_id)
        if row is None:
            raise NotFound(f"tenant {tenant_id} not found", reason="TENANT_NOT_FOUND")
        return row

    async def get_tenant(self, request: pb.GetTenantRequest) -> pb.GetTenantResponse:
        tenant_id = parse_id(request.id, "id")
        require_tenant(str(tenant_id), "viewer")
        # One statement, so no transaction around it: no BEGIN or ROLLBACK round trips.
        rows = await self._db.fetch_prepared(TENANT_BY_ID, {"id": tenant_id})
        if not rows:
            raise NotFound(f"tenant {tenant_id} not found", reason="TENANT_NOT_FOUND")
        return pb.GetTenantResponse(tenant=tenant_to_proto(rows[0]))

    async def list_tenants(self, request: pb.ListTenantsRequest) -> pb.ListTenantsResponse:
        statement = select(TenantRecord)
        filters: dict[str, str] = {}
        principal = require_principal()
        if not (principal.is_operator or principal.is_internal):
            # Everyone else sees the tenants they belong to: a user's memberships, a service
            # account's own tenant.
            statement, filters = _own_tenants(principal, statement)
        if request.status != pb.TENANT_STATUS_UNSPECIFIED:
            if bad := _status_problem(request.status, "status"):
                raise InvalidArgument(bad)
            statement = statement.where(TenantRecord.status == STATUS_FROM_PROTO[request.status])
            filters["status"] = STATUS_FROM_PROTO[request.status].value
        async with self._db.reading() as session:
            page = await fetch_page(
                session,
                statement,
                sort_key=(TenantRecord.created_at, TenantRecord.id),
                codec=self._pages,
                query="TenancyService.ListTenants",
                filters=filters,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListTenantsResponse(
            tenants=[tenant_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    @staticmethod
    def _check_version(requested: int, current: int, field: str, what: str) -> None:
        if requested <= 0:
            raise InvalidArgument.field(field, "is required: send the version you read")
        if requested != current:
            raise Aborted(
                f"{what} changed since version {requested} (now {current}); read it again",
                reason="VERSION_MISMATCH",
                metadata={"current_version": str(current)},
            )

    async def update_tenant(self, request: pb.UpdateTenantRequest) -> pb.UpdateTenantResponse:
        tenant = request.tenant
        tenant_id = parse_id(tenant.id, "tenant.id")
        paths = paths_to_update(request.update_mask, tenant, UPDATABLE_TENANT_FIELDS)
        require_tenant(str(tenant_id), "admin")
        if "status" in paths:
            require_operator()  # suspending or deleting a tenant is the platform's call
        raise_if_any(_tenant_violations(tenant, set(paths)))
        try:
            async with self._db.transaction() as session:
                row = await self._tenant(session, tenant_id)
                self._check_version(tenant.version, row.version, "tenant.version", "the tenant")
                before = {"slug": row.slug, "name": row.name, "domain": row.domain or ""}
                previous_status = row.status
                for path in paths:
                    if path == "status":
                        check_transition(row.status, STATUS_FROM_PROTO[tenant.status])
                        row.status = STATUS_FROM_PROTO[tenant.status]
                    elif path == "domain":
                        row.domain = tenant.domain or None
                    elif path == "name":
                        row.name = tenant.name.strip()
                    else:
                        row.slug = tenant.slug
                await self._flush_unique(session, tenant)
                response = pb.UpdateTenantResponse(tenant=tenant_to_proto(row))
        except StaleDataError:
            raise Aborted(
                "the tenant changed concurrently; read it again", reason="VERSION_MISMATCH"
            ) from None
        updated = response.tenant
        after = {"slug": updated.slug, "name": updated.name, "domain": updated.domain}
        if previous := {name: was for name, was in before.items() if after[name] != was}:
            self._append_updated(updated, previous)
        if STATUS_FROM_PROTO[updated.status] is not previous_status:
            self._append_moved(updated, previous_status)
        return response

    async def _settings(self, session: AsyncSession, tenant_id: uuid.UUID) -> TenantSettingsRecord:
        row = await session.scalar(
            select(TenantSettingsRecord).where(TenantSettingsRecord.tenant_id == tenant_id)
        )
        if row is None:
            raise NotFound(f"tenant {tenant_id} not found", reason="TENANT_NOT_FOUND")
        return row

    async def get_tenant_settings(
        self, request: pb.GetTenantSettingsRequest
    ) -> pb.GetTenantSettingsResponse:
        tenant_id = parse_id(request.tenant_id, "tenant_id")
        require_tenant(str(tenant_id), "viewer")
        async with self._db.reading() as session:
            row = await self._settings(session, tenant_id)
            return pb.GetTenantSettingsResponse(settings=settings_to_proto(row))

    async def update_tenant_settings(
        self, request: pb.UpdateTenantSettingsRequest
    ) -> pb.UpdateTenantSettingsResponse:
        settings = request.settings
        tenant_id = parse_id(settings.tenant_id, "settings.tenant_id")
        paths = paths_to_update(request.update_mask, settings, UPDATABLE_SETTINGS_FIELDS)
        require_tenant(str(tenant_id), "admin")
        violations: list[FieldViolation] = []
        if "billing_contacts" in paths:
            violations += billing_contacts_problems(
                list(settings.billing_contacts), "settings.billing_contacts"
            )
        if "billing_webhook_url" in paths and (
            problem := webhook_url_problem(settings.billing_webhook_url)
        ):
            violations.append(FieldViolation("settings.billing_webhook_url", problem))
        violations += [
            FieldViolation(f"settings.{name}", "numbers must be finite (no NaN or Infinity)")
            for name, struct in (
                ("plan_metadata", settings.plan_metadata),
                ("flags", settings.flags),
            )
            if name in paths and has_non_finite(struct)
        ]
        raise_if_any(violations)
        try:
            async with self._db.transaction() as session:
                row = await self._settings(session, tenant_id)
                self._check_version(
                    settings.version, row.version, "settings.version", "the tenant settings"
                )
                if "billing_contacts" in paths:
                    row.billing_contacts_json = list(settings.billing_contacts)
                if "billing_webhook_url" in paths:
                    row.billing_webhook_url = settings.billing_webhook_url or None
                if "plan_metadata" in paths:
                    row.plan_metadata_json = MessageToDict(settings.plan_metadata)
                if "flags" in paths:
                    row.flags_json = MessageToDict(settings.flags)
                await session.flush()
                return pb.UpdateTenantSettingsResponse(settings=settings_to_proto(row))
        except StaleDataError:
            raise Aborted(
                "the tenant settings changed concurrently; read them again",
                reason="VERSION_MISMATCH",
            ) from None

    async def purge_tenant(self, request: pb.PurgeTenantRequest) -> pb.PurgeTenantResponse:
        """Undo a tenant whose sign-up failed half-way: it and all it owns go (cascade)."""
        require_internal()
        tenant_id = parse_id(request.id, "id")
        async with self._db.transaction() as session:
            await session.delete(await self._tenant(session, tenant_id))
        return pb.PurgeTenantResponse()

    # ----- lifecycle other services check -----

    async def check_tenant_status(
        self, request: pb.CheckTenantStatusRequest
    ) -> pb.CheckTenantStatusResponse:
        require_principal()
        if not request.tenant_ids:
            raise InvalidArgument.field("tenant_ids", "must name at least one tenant")
        if len(request.tenant_ids) > MAX_STATUS_CHECKS:
            raise InvalidArgument.field(
                "tenant_ids", f"must name at most {MAX_STATUS_CHECKS} tenants"
            )
        asked: dict[str, uuid.UUID] = {}
        for i, raw in enumerate(request.tenant_ids):
            if raw not in asked:
                asked[raw] = parse_id(raw, f"tenant_ids[{i}]")
        for raw in asked:
            # Services and operators check any tenant; a member only its own.
            require_tenant(str(asked[raw]), "viewer")
        async with self._db.reading() as session:
            rows = await session.execute(
                select(TenantRecord.id, TenantRecord.status).where(
                    TenantRecord.id.in_(set(asked.values()))
                )
            )
            found = {tenant_id: status for tenant_id, status in rows.all()}
        checks = []
        for raw, tenant_id in asked.items():
            status = found.get(tenant_id)
            checks.append(
                pb.TenantStatusCheck(
                    tenant_id=raw,
                    found=status is not None,
                    status=STATUS_TO_PROTO[status] if status else pb.TENANT_STATUS_UNSPECIFIED,
                    may_act=status is TenantStatus.ACTIVE,
                )
            )
        return pb.CheckTenantStatusResponse(checks=checks)

    async def _move(self, raw_id: str, target: TenantStatus, reason: str = "") -> pb.Tenant:
        """Move the tenant to ``target``; its feed hears of it unless it was there already."""
        require_operator()
        tenant_id = parse_id(raw_id, "id")
        try:
            async with self._db.transaction() as session:
                row = await self._tenant(session, tenant_id)
                check_transition(row.status, target)
                previous = row.status
                if previous is not target:
                    row.status = target
                    await session.flush()
                tenant = tenant_to_proto(row)
        except StaleDataError:
            raise Aborted(
                "the tenant changed concurrently; retry", reason="VERSION_MISMATCH"
            ) from None
        if previous is not target:
            self._append_moved(tenant, previous, reason)
        return tenant

    async def suspend_tenant(self, request: pb.SuspendTenantRequest) -> pb.SuspendTenantResponse:
        if len(request.reason) > MAX_SUSPEND_REASON:
            raise InvalidArgument.field(
                "reason", f"must be at most {MAX_SUSPEND_REASON} characters"
            )
        tenant = await self._move(request.id, TenantStatus.SUSPENDED, request.reason)
        log.info("tenant %s suspended: %s", tenant.id, request.reason or "(no reason given)")
        return pb.SuspendTenantResponse(tenant=tenant)

    async def reactivate_tenant(
        self, request: pb.ReactivateTenantRequest
    ) -> pb.ReactivateTenantResponse:
        tenant = await self._move(request.id, TenantStatus.ACTIVE)
        log.info("tenant %s reactivated", tenant.id)
        return pb.ReactivateTenantResponse(tenant=tenant)

    async def delete_tenant(self, request: pb.DeleteTenantRequest) -> pb.DeleteTenantResponse:
        tenant = await self._move(request.id, TenantStatus.DELETED)
        log.info("tenant %s deleted", tenant.id)
        return pb.DeleteTenantResponse(tenant=tenant)
