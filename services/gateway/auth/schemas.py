"""Sign-up, sign-in, tokens and passwords: the resources, mapped from their messages, and the
bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.proto_json import Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody
from services.gateway.users.schemas import User


class TokenPair(ProtoModel, message=pb.TokenPair):
    access_token: str = Field(description="Send as 'Authorization: Bearer <access_token>'.")
    refresh_token: str = Field(
        description="Exchange at /v1/auth/refresh for new tokens; each works once."
    )
    tenant_id: str = Field(description="The tenant the access token is scoped to.")
    role: str = Field(description="The caller's role in that tenant.")


class MfaChallenge(ProtoModel, message=pb.MfaChallenge):
    mfa_token: str = Field(description="Send to /v1/auth/signin/mfa with a code.")
    methods: list[str] = Field(description="What may answer: totp, recovery_code.")


class SignedIn(ProtoModel, message=pb.CompleteMfaSignInResponse):
    """A completed sign-in: the session's tokens and who signed in. (Sign-up and sign-in answer
    the same two fields, which :meth:`from_proto` reads by name.)"""

    user: User


class SignInChallenged(BaseModel):
    """A sign-in that needs a second factor: answer the challenge at /v1/auth/signin/mfa."""

    mfa_challenge: MfaChallenge


class Refreshed(ProtoModel, message=pb.RefreshSessionResponse):
    pass


class Switched(ProtoModel, message=pb.SwitchTenantResponse):
    """A new session's tokens, scoped to the tenant joined or switched to (AcceptInvite answers
    the same one field, which :meth:`from_proto` reads by name)."""


class SignUpBody(RequestBody):
    email: Text
    password: Text
    tenant_name: Text = Field(
        default="",
        description="The display name of the new tenant (required, unless a team invite "
        "joins an existing tenant).",
    )
    tenant_slug: Text = Field(
        default="", description="The URL-safe handle of the new tenant (as tenant_name)."
    )
    invite_token: Text | None = Field(
        default=None,
        description="Required when sign-up is by invite; a team invite joins its tenant.",
    )
    display_name: Text | None = None

    def to_proto(self, device: pb.DeviceInfo) -> pb.SignUpRequest:
        return pb.SignUpRequest(
            email=self.email,
            password=self.password,
            tenant_name=self.tenant_name,
            tenant_slug=self.tenant_slug,
            invite_token=self.invite_token or "",
            display_name=self.display_name or "",
            device=device,
        )


class SignInBody(RequestBody):
    email: Text
    password: Text
    tenant_id: Text | None = Field(
        default=None, description="The tenant to sign in to; by default the first membership."
    )

    def to_proto(self, device: pb.DeviceInfo) -> pb.SignInRequest:
        return pb.SignInRequest(
            email=self.email,
            password=self.password,
            tenant_id=self.tenant_id or "",
            device=device,
        )


class CompleteMfaBody(RequestBody):
    """Exactly one of totp_code and recovery_code."""

    mfa_token: Text
    totp_code: Text | None = None
    recovery_code: Text | None = None

    def to_proto(self, device: pb.DeviceInfo) -> pb.CompleteMfaSignInRequest:
        return pb.CompleteMfaSignInRequest(
            mfa_token=self.mfa_token,
            totp_code=self.totp_code or "",
            recovery_code=self.recovery_code or "",
            device=device,
        )


class RefreshBody(RequestBody):
    refresh_token: Text


class AccessRequestBody(RequestBody):
    email: Text
    organization: Text | None = None
    full_name: Text | None = None
    message: Text | None = None
    honeypot: Text | None = Field(
        default=None, description="A form field hidden from people; leave it out or empty."
    )

    def to_proto(self, device: pb.DeviceInfo) -> pb.RequestAccessRequest:
        return pb.RequestAccessRequest(
            email=self.email,
            organization=self.organization or "",
            full_name=self.full_name or "",
            message=self.message or "",
            honeypot=self.honeypot or "",
            device=device,
        )


class AccessRequested(ProtoModel, message=pb.RequestAccessResponse):
    id: str = Field(description="The access request's id.")


class ChangePasswordBody(RequestBody):
    current_password: Text
    new_password: Text


class PasswordChanged(ProtoModel, message=pb.ChangePasswordResponse):
    revoked_sessions: int = Field(description="How many of the caller's other sessions ended.")


class PasswordResetRequestBody(RequestBody):
    email: Text


class PasswordResetBody(RequestBody):
    reset_token: Text = Field(description="The token the reset message delivered.")
    new_password: Text
