"""The caller's account (user, profile, second factor, consents, notification preferences): the
resources, mapped from their messages, and the bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.proto_json import JsonObject, Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct


class User(ProtoModel, message=pb.User, nullable=("email_verify_time",)):
    platform_role: Literal["platform_operator"] | None = Field(
        description="platform_operator for operators, null for everyone else."
    )


class Profile(
    ProtoModel,
    message=pb.Profile,
    nullable=("display_name", "given_name", "family_name", "avatar_url"),
):
    timezone: str | None = Field(description="An IANA time zone, such as Europe/Paris.")
    locale: str | None = Field(description="A BCP 47 locale, such as en-NZ.")


class Me(ProtoModel, message=pb.GetMeResponse):
    mfa_enabled: bool = Field(description="Whether a second factor is enrolled.")


class UpdateProfileBody(RequestBody):
    """The fields to change; those left out stay as they are, null clears one."""

    display_name: Text | None = None
    given_name: Text | None = None
    family_name: Text | None = None
    avatar_url: Text | None = Field(default=None, description="An absolute https URL.")
    timezone: Text | None = None
    locale: Text | None = None
    metadata: JsonObject | None = None

    def to_proto(self) -> pb.Profile:
        profile = pb.Profile(
            display_name=self.display_name or "",
            given_name=self.given_name or "",
            family_name=self.family_name or "",
            avatar_url=self.avatar_url or "",
            timezone=self.timezone or "",
            locale=self.locale or "",
        )
        if "metadata" in self.model_fields_set:
            profile.metadata.CopyFrom(dict_to_struct(self.metadata))
        return profile


class BeginTotpBody(RequestBody):
    label: Text | None = Field(
        default=None, description="A name for the authenticator, unique per user."
    )


class TotpEnrollment(ProtoModel, message=pb.BeginTotpEnrollmentResponse):
    """Shown once: put the secret in an authenticator, then confirm with a code from it."""

    secret: str = Field(description="The base32 TOTP secret.")
    otpauth_uri: str = Field(description="The otpauth:// URI, for a QR code.")


class ConfirmTotpBody(RequestBody):
    code: Text = Field(description="A current six-digit code from the authenticator.")


class PasswordBody(RequestBody):
    password: Text = Field(description="The caller's current password.")


class RecoveryCodes(ProtoModel, message=pb.ConfirmTotpEnrollmentResponse):
    """(Regenerating the codes answers the same field.)"""

    recovery_codes: list[str] = Field(description="Shown once; each code works once.")


class Consent(ProtoModel, message=pb.Consent):
    pass


class ConsentList(ProtoModel, message=pb.ListConsentsResponse):
    pass


class ConsentBody(RequestBody):
    policy_key: Text = Field(description="The policy, such as terms or privacy.")
    version: Text = Field(description="The version accepted.")


class NotificationPreference(ProtoModel, message=pb.NotificationPreference):
    tenant_id: str | None = Field(description="The tenant it applies to; null for every tenant.")


class NotificationPreferenceList(ProtoModel, message=pb.ListNotificationPreferencesResponse):
    pass


class NotificationPreferenceBody(RequestBody):
    tenant_id: Text | None = Field(
        default=None, description="The tenant signed in to, or null for every tenant."
    )
    channel: Text = Field(description="email, sms, push, in_app or webhook.")
    category: Text = Field(description="Such as billing or security.")
    enabled: bool

    def to_proto(self) -> pb.NotificationPreference:
        return pb.NotificationPreference(
            tenant_id=self.tenant_id or "",
            channel=self.channel,
            category=self.category,
            enabled=self.enabled,
        )
