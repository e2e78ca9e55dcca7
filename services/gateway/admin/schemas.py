"""Operators' resources (signing keys, invites, access requests, security events), mapped from
their messages, and the bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.proto_json import INT32_MAX, INT64_MAX, Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody
from shared.timestamps import to_timestamp


class SigningKey(ProtoModel, message=pb.SigningKey):
    retire_time: datetime | None = Field(description="When it stops (or stopped) verifying.")


class SigningKeyList(ProtoModel, message=pb.ListSigningKeysResponse):
    keys: list[SigningKey] = Field(description="Every key, newest first.")


class RotateSigningKeyBody(RequestBody):
    overlap_seconds: int = Field(
        default=0,
        ge=0,
        le=INT64_MAX,
        description="How long the previous key keeps verifying; 0 means the configured default.",
    )


class RotatedSigningKeys(ProtoModel, message=pb.RotateSigningKeyResponse):
    active: SigningKey = Field(description="The new signer.")
    previous: SigningKey = Field(description="The previous signer, now retiring.")


class Invite(
    ProtoModel,
    message=pb.Invite,
    nullable=("invited_email", "expire_time", "revoke_time", "note", "tenant_id", "role"),
):
    token_hint: str = Field(description="The first characters of the token, to recognise it.")


class AcceptInviteBody(RequestBody):
    invite_token: Text = Field(description="The team invite's token, as the invitee got it.")


class SwitchTenantBody(RequestBody):
    tenant_id: Text = Field(description="Another tenant you belong to.")


class CreatedInvite(ProtoModel, message=pb.CreateInviteResponse):
    token: str = Field(description="The invite token, shown only here.")


class InviteList(ProtoModel, message=pb.ListInvitesResponse):
    pass


class CreateInviteBody(RequestBody):
    invited_email: Text | None = Field(
        default=None, description="The only email that may redeem it; null for anyone."
    )
    max_redemptions: int = Field(
        default=0, ge=0, le=INT32_MAX, description="How many sign-ups it allows; 0 means 1."
    )
    expire_time: AwareDatetime | None = Field(default=None, description="null means never.")
    note: Text | None = None

    def to_proto(self) -> pb.CreateInviteRequest:
        return pb.CreateInviteRequest(
            invited_email=self.invited_email or "",
            max_redemptions=self.max_redemptions,
            expire_time=to_timestamp(self.expire_time),
            note=self.note or "",
        )


class RevokeInviteBody(RequestBody):
    reason: Text | None = None


class SignupRequest(
    ProtoModel,
    message=pb.SignupRequest,
    nullable=("organization", "full_name", "message", "decision_reason", "decide_time"),
):
    pass


class SignupRequestList(ProtoModel, message=pb.ListSignupRequestsResponse):
    pass


class DecisionBody(RequestBody):
    approve: bool = Field(description="true issues an invite for the requester; false rejects.")
    reason: Text | None = None


class Decision(ProtoModel, message=pb.DecideSignupRequestResponse):
    invite_token: str | None = Field(
        description="On approval, the invite token for the requester, shown only here."
    )


class SecurityEvent(ProtoModel, message=pb.SecurityEvent, nullable=("user_id", "tenant_id")):
    event_type: str = Field(description="Such as sign_in_failed or refresh_token_reused.")
    source: str | None = Field(description="The service that recorded it.")


class SecurityEventList(ProtoModel, message=pb.ListSecurityEventsResponse):
    events: list[SecurityEvent] = Field(description="Newest first.")


SignupRequestStatusName = Literal["pending", "approved", "rejected"]
