"""A tenant's team: ``/v1/tenants/{tenant_id}/members`` (TenancyService memberships) and
``/v1/tenants/{tenant_id}/invites`` (IdentityService team invites).

The services decide who may do what: every member reads the member list; admins invite, change
roles below owner and remove members; only owners hand out or take away ownership; anyone may
leave; a tenant always keeps at least one owner (400 FAILED_PRECONDITION, reason LAST_OWNER). An invite is single-use,
expires (7 days by default), can be revoked, is stored only as a hash, and reaches the invitee
through identity's notifier; its token is also shown once in the answer to its creation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.admin.schemas import CreatedInvite, Invite, InviteList, RevokeInviteBody
from services.gateway.members.schemas import ChangeRoleBody, Member, MemberList, TeamInviteBody
from services.gateway.proto_models import enum_number
from services.gateway.routing import ERROR_RESPONSES, Clients, PageSize, PageToken
from shared.timestamps import to_timestamp

router = APIRouter(prefix="/v1/tenants", tags=["team"], responses=ERROR_RESPONSES)

TenantId = Annotated[str, Path(max_length=64, description="The tenant.")]

UserId = Annotated[str, Path(max_length=64, description="The member's user id.")]


@router.get("/{tenant_id}/members")
async def list_members(
    tenant_id: TenantId, clients: Clients, page_size: PageSize = 0, page_token: PageToken = ""
) -> MemberList:
    """The tenant's members and their roles (any member may read them)."""
    reply = await clients.tenancy.ListMemberships(
        pb.ListMembershipsRequest(tenant_id=tenant_id, page_size=page_size, page_token=page_token)
    )
    return MemberList.from_proto(reply)


@router.patch("/{tenant_id}/members/{user_id}")
async def change_member_role(
    tenant_id: TenantId, user_id: UserId, body: ChangeRoleBody, clients: Clients
) -> Member:
    """Change a member's role (admins, below owner; owners for ownership). The last owner
    cannot be demoted (400 FAILED_PRECONDITION, reason LAST_OWNER)."""
    reply = await clients.tenancy.UpdateMembershipRole(
        pb.UpdateMembershipRoleRequest(
            tenant_id=tenant_id, user_id=user_id, role=enum_number(pb.MembershipRole, body.role)
        )
    )
    return Member.from_proto(reply.membership)


@router.delete("/{tenant_id}/members/{user_id}", status_code=204, response_class=Response)
async def remove_member(tenant_id: TenantId, user_id: UserId, clients: Clients) -> None:
    """Remove a member (admins; owners for an owner); the last owner cannot be removed."""
    await clients.tenancy.RemoveMembership(
        pb.RemoveMembershipRequest(tenant_id=tenant_id, user_id=user_id)
    )


@router.post("/{tenant_id}/members:leave", status_code=204, response_class=Response)
async def leave_tenant(tenant_id: TenantId, clients: Clients) -> None:
    """Leave the tenant your token is for (the last owner cannot: make someone else owner)."""
    await clients.tenancy.RemoveMembership(pb.RemoveMembershipRequest(tenant_id=tenant_id))


@router.post("/{tenant_id}/invites", status_code=201)
async def invite_member(
    tenant_id: TenantId, body: TeamInviteBody, clients: Clients
) -> CreatedInvite:
    """Invite someone into the tenant with a role (admins and owners). The invitee gets the
    token through the notifier; they sign up with it, or accept it at
    POST /v1/auth/invites:accept if they already have an account."""
    request = ipb.CreateInviteRequest(
        tenant_id=tenant_id,
        role=body.role,
        invited_email=body.invited_email,
        note=body.note or "",
    )
    if body.expire_time is not None:
        request.expire_time.CopyFrom(to_timestamp(body.expire_time))
    reply = await clients.identity.CreateInvite(request)
    return CreatedInvite.from_proto(reply)


@router.get("/{tenant_id}/invites")
async def list_team_invites(
    tenant_id: TenantId, clients: Clients, page_size: PageSize = 0, page_token: PageToken = ""
) -> InviteList:
    """The tenant's team invites, oldest first, with where each stands (admins and owners)."""
    reply = await clients.identity.ListInvites(
        ipb.ListInvitesRequest(tenant_id=tenant_id, page_size=page_size, page_token=page_token)
    )
    return InviteList.from_proto(reply)


@router.post("/{tenant_id}/invites/{invite_id}:revoke")
async def revoke_team_invite(
    tenant_id: TenantId,
    invite_id: Annotated[str, Path(max_length=64)],
    clients: Clients,
    body: RevokeInviteBody | None = None,
) -> Invite:
    """Stop an invite from being redeemed; revoking again changes nothing. An invite of another
    tenant is 404."""
    reply = await clients.identity.RevokeInvite(
        ipb.RevokeInviteRequest(
            id=invite_id, tenant_id=tenant_id, reason=(body.reason if body else None) or ""
        )
    )
    return Invite.from_proto(reply.invite)
