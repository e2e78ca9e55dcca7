"""The one mapping of identity's user (and profile) models to their protobuf messages, shared by
every handler."""

from __future__ import annotations

from google.protobuf.struct_pb2 import Struct

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.models import PlatformRole, User, UserProfile, UserStatus
from shared.proto_enums import to_proto_map
from shared.timestamps import to_timestamp

STATUS_TO_PROTO = to_proto_map(pb.UserStatus, UserStatus)

PLATFORM_ROLE_TO_PROTO = to_proto_map(pb.PlatformRole, PlatformRole)


def user_to_proto(user: User) -> pb.User:
    return pb.User(
        id=str(user.id),
        email=user.email,
        status=STATUS_TO_PROTO[user.status],
        platform_role=PLATFORM_ROLE_TO_PROTO[user.platform_role]
        if user.platform_role
        else pb.PLATFORM_ROLE_UNSPECIFIED,
        email_verify_time=to_timestamp(user.email_verified_at),
        create_time=to_timestamp(user.created_at),
    )


def profile_to_proto(profile: UserProfile | None) -> pb.Profile:
    """A user without a profile row yet has an empty profile."""
    if profile is None:
        return pb.Profile()
    message = pb.Profile(
        display_name=profile.display_name or "",
        given_name=profile.given_name or "",
        family_name=profile.family_name or "",
        avatar_url=profile.avatar_url or "",
        timezone=profile.timezone or "",
        locale=profile.locale or "",
    )
    if profile.metadata_json:
        metadata = Struct()
        metadata.update(profile.metadata_json)
        message.metadata.CopyFrom(metadata)
    return message
