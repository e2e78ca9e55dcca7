"""A tenant's members, mapped from their messages, and the bodies of the team routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.proto_json import Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody

RoleName = Literal["owner", "admin", "member", "viewer"]

InvitableRoleName = Literal["admin", "member", "viewer"]


class Member(ProtoModel, message=pb.Membership):
    id: str = Field(description="The membership id.")


class MemberList(ProtoModel, message=pb.ListMembershipsResponse, exclude=("memberships",)):
    next_page_token: str
    members: list[Member] = Field(description="Oldest first.")

    @classmethod
    def proto_values(cls, message: Any) -> dict[str, Any]:
        # The JSON names the list "members", the message "memberships".
        members = [Member.proto_values(membership) for membership in message.memberships]
        return {**super().proto_values(message), "members": members}


class ChangeRoleBody(RequestBody):
    role: RoleName


class TeamInviteBody(RequestBody):
    invited_email: Text = Field(description="Who is invited: only this address may redeem it.")
    role: InvitableRoleName = Field(description="The role the invitee gets on joining.")
    expire_time: AwareDatetime | None = Field(
        default=None, description="When it expires: 7 days from now by default, 30 at most."
    )
    note: Text | None = Field(default=None, description="A note for the tenant's admins.")
