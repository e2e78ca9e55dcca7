"""The caller's own account: who they are, their profile, the policies they accepted and the
notifications they want. Every method acts on the user of the access token, never on another."""

from __future__ import annotations

import functools
import re
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import ListValue, Struct
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.mfa.codes import active_totp_methods
from services.identity.models import User, UserConsent, UserNotificationPreference, UserProfile
from services.identity.sessions.opening import device_hashes
from services.identity.users_proto import profile_to_proto, user_to_proto
from shared.auth import require_principal
from shared.db import Database
from shared.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from shared.field_mask import paths_to_update
from shared.json_values import json_problem
from shared.timestamps import to_timestamp

ResultT = TypeVar("ResultT")

UPDATABLE_PROFILE_FIELDS = frozenset(
    {"display_name", "given_name", "family_name", "avatar_url", "timezone", "locale", "metadata"}
)
MAX_DISPLAY_NAME = 128
MAX_PERSON_NAME = 64
MAX_AVATAR_URL = 512
MAX_TIMEZONE = 64
#: Serialized JSON size of a metadata Struct.
MAX_METADATA_BYTES = 16 * 1024
# A language, an optional script and an optional region: en, en-NZ, zh-Hant-TW, es-419.
LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
KEY_RULE = "must be 1 to 64 of a-z, 0-9, '_', '.' or '-', starting with a letter"
MAX_VERSION = 32
CHANNELS = ("email", "sms", "push", "in_app", "webhook")


# -- Struct metadata, shared with the security-event handlers ----------------------------------


def metadata_problem(struct: Struct | ListValue, max_bytes: int = MAX_METADATA_BYTES) -> str | None:
    """JSON has no NaN or Infinity, so such a value could not be stored; nor could an endless one."""
    return json_problem(struct, max_bytes)


def struct_to_dict(struct: Struct) -> dict[str, Any]:
    return dict(MessageToDict(struct))


# -- Field rules ---------------------------------------------------------------------------------


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def _text_problem(value: str, maximum: int) -> str | None:
    if len(value) > maximum:
        return f"must be at most {maximum} characters"
    if not value.isprintable():
        return "must not contain control characters"
    return None


def _avatar_problem(url: str) -> str | None:
    if len(url) > MAX_AVATAR_URL:
        return f"must be at most {MAX_AVATAR_URL} characters"
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname or any(c.isspace() for c in url):
        return "must be an absolute https URL"
    return None


def _profile_problem(path: str, profile: pb.Profile) -> str | None:
    value = getattr(profile, path)
    if path == "metadata":
        return metadata_problem(value) if profile.HasField("metadata") else None
    if not value:
        return None  # an empty value clears the field
    if path == "display_name":
        return _text_problem(value, MAX_DISPLAY_NAME)
    if path in ("given_name", "family_name"):
        return _text_problem(value, MAX_PERSON_NAME)
    if path == "avatar_url":
        return _avatar_problem(value)
    if path == "timezone":
        if len(value) > MAX_TIMEZONE or value not in _time_zones():
            return "must be an IANA time zone such as Europe/Paris"
        return None
    if not LOCALE_PATTERN.match(value):
        return "must be a BCP 47 locale such as en or en-NZ"
    return None


def _profile_value(path: str, profile: pb.Profile) -> Any:
    if path == "metadata":
        return (struct_to_dict(profile.metadata) or None) if profile.HasField("metadata") else None
    return getattr(profile, path) or None


_PROFILE_COLUMNS = {"metadata": "metadata_json"}


def _consent_to_proto(row: UserConsent) -> pb.Consent:
    return pb.Consent(
        policy_key=row.policy_key, version=row.version, accept_time=to_timestamp(row.accepted_at)
    )


def _preference_to_proto(row: UserNotificationPreference) -> pb.NotificationPreference:
    return pb.NotificationPreference(
        tenant_id=str(row.tenant_id) if row.tenant_id else "",
        channel=row.channel,
        category=row.category,
        enabled=row.enabled,
    )


async def _with_retry_on_conflict(
    db: Database, work: Callable[[AsyncSession], Awaitable[ResultT]]
) -> ResultT:
    """Run an insert-or-update; a concurrent insert of the same row makes the second try update."""
    for attempt in range(2):
        try:
            async with db.transaction() as session:
                return await work(session)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


class ProfileHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    @staticmethod
    def _caller() -> uuid.UUID:
        principal = require_principal()
        if principal.user_id is None:
            raise PermissionDenied("this is for signed-in users only", reason="USER_ONLY")
        try:
            return uuid.UUID(principal.user_id)
        except ValueError:
            raise NotFound("the signed-in user does not exist", reason="USER_NOT_FOUND") from None

    @staticmethod
    async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound("the signed-in user does not exist", reason="USER_NOT_FOUND")
        return user

    @staticmethod
    async def _profile(session: AsyncSession, user_id: uuid.UUID) -> UserProfile | None:
        return await session.scalar(select(UserProfile).where(UserProfile.user_id == user_id))

    # -- GetMe / UpdateProfile ----------------------------------------------------------------

    async def get_me(self, request: pb.GetMeRequest) -> pb.GetMeResponse:
        user_id = self._caller()
        async with self._ctx.db.reading() as session:
            user = await self._user(session, user_id)
            profile = await self._profile(session, user_id)
            mfa_enabled = bool(await active_totp_methods(session, user_id))
        return pb.GetMeResponse(
            user=user_to_proto(user), profile=profile_to_proto(profile), mfa_enabled=mfa_enabled
        )

    async def update_profile(self, request: pb.UpdateProfileRequest) -> pb.UpdateProfileResponse:
        user_id = self._caller()
        paths = paths_to_update(request.update_mask, request.profile, UPDATABLE_PROFILE_FIELDS)
        violations = [
            FieldViolation(f"profile.{path}", problem)
            for path in paths
            if (problem := _profile_problem(path, request.profile))
        ]
        if violations:
            raise InvalidArgument(violations)
        values = {
            _PROFILE_COLUMNS.get(path, path): _profile_value(path, request.profile)
            for path in paths
        }

        async def update(session: AsyncSession) -> pb.Profile:
            await self._user(session, user_id)
            row = await self._profile(session, user_id)
            if row is None:  # users made before profiles existed get one on first update
                row = UserProfile(user_id=user_id)
                session.add(row)
            for column, value in values.items():
                setattr(row, column, value)
            await session.flush()
            return profile_to_proto(row)

        profile = await _with_retry_on_conflict(self._ctx.db, update)
        return pb.UpdateProfileResponse(profile=profile)

    # -- Consents -----------------------------------------------------------------------------

    async def record_consent(self, request: pb.RecordConsentRequest) -> pb.RecordConsentResponse:
        user_id = self._caller()
        violations = []
        if not KEY_PATTERN.match(request.policy_key):
            violations.append(FieldViolation("policy_key", KEY_RULE))
        version = request.version
        if not version or len(version) > MAX_VERSION:
            violations.append(FieldViolation("version", f"must be 1 to {MAX_VERSION} characters"))
        elif not version.isprintable() or any(c.isspace() for c in version):
            violations.append(FieldViolation("version", "must not contain spaces or controls"))
        if violations:
            raise InvalidArgument(violations)
        hashes = device_hashes(self._ctx, request.device)

        async def record(session: AsyncSession) -> pb.Consent:
            await self._user(session, user_id)
            earlier = await session.scalar(
                select(UserConsent).where(
                    UserConsent.user_id == user_id,
                    UserConsent.policy_key == request.policy_key,
                    UserConsent.version == version,
                )
            )
            if earlier is not None:  # accepting again changes nothing
                return _consent_to_proto(earlier)
            row = UserConsent(
                user_id=user_id,
                policy_key=request.policy_key,
                version=version,
                ip_hash=hashes.ip_hash if request.device.ip_address else None,
                user_agent_hash=hashes.user_agent_hash,
            )
            session.add(row)
            await session.flush()
            return _consent_to_proto(row)

        consent = await _with_retry_on_conflict(self._ctx.db, record)
        return pb.RecordConsentResponse(consent=consent)

    async def list_consents(self, request: pb.ListConsentsRequest) -> pb.ListConsentsResponse:
        user_id = self._caller()
        async with self._ctx.db.reading() as session:
            await self._user(session, user_id)
            rows = await session.scalars(
                select(UserConsent)
                .where(UserConsent.user_id == user_id)
                .order_by(UserConsent.accepted_at, UserConsent.id)
            )
            return pb.ListConsentsResponse(consents=[_consent_to_proto(row) for row in rows])

    # -- Notification preferences -------------------------------------------------------------

    async def set_notification_preference(
        self, request: pb.SetNotificationPreferenceRequest
    ) -> pb.SetNotificationPreferenceResponse:
        user_id = self._caller()
        preference = request.preference
        violations = []
        if preference.channel not in CHANNELS:
            violations.append(
                FieldViolation("preference.channel", f"must be one of {', '.join(CHANNELS)}")
            )
        if not KEY_PATTERN.match(preference.category):
            violations.append(FieldViolation("preference.category", KEY_RULE))
        tenant_id: uuid.UUID | None = None
        if preference.tenant_id:
            try:
                tenant_id = uuid.UUID(preference.tenant_id)
            except ValueError:
                violations.append(FieldViolation("preference.tenant_id", "must be a UUID"))
        if violations:
            raise InvalidArgument(violations)
        # A tenant's preference only for the tenant the caller signed in to.
        if tenant_id is not None and str(tenant_id) != _uuid_text(require_principal().tenant_id):
            raise PermissionDenied(
                "the access token is not valid for this tenant", reason="TENANT_MISMATCH"
            )
        same_tenant = (
            UserNotificationPreference.tenant_id.is_(None)
            if tenant_id is None
            else UserNotificationPreference.tenant_id == tenant_id
        )

        async def upsert(session: AsyncSession) -> pb.NotificationPreference:
            await self._user(session, user_id)
            row = await session.scalar(
                select(UserNotificationPreference).where(
                    UserNotificationPreference.user_id == user_id,
                    same_tenant,
                    UserNotificationPreference.channel == preference.channel,
                    UserNotificationPreference.category == preference.category,
                )
            )
            if row is None:
                row = UserNotificationPreference(
                    user_id=user_id,
                    tenant_id=tenant_id,
                    channel=preference.channel,
                    category=preference.category,
                )
                session.add(row)
            row.enabled = preference.enabled
            await session.flush()
            return _preference_to_proto(row)

        stored = await _with_retry_on_conflict(self._ctx.db, upsert)
        return pb.SetNotificationPreferenceResponse(preference=stored)

    async def list_notification_preferences(
        self, request: pb.ListNotificationPreferencesRequest
    ) -> pb.ListNotificationPreferencesResponse:
        user_id = self._caller()
        async with self._ctx.db.reading() as session:
            await self._user(session, user_id)
            rows = list(
                await session.scalars(
                    select(UserNotificationPreference).where(
                        UserNotificationPreference.user_id == user_id
                    )
                )
            )
        # Every-tenant rows first; sorted here since databases disagree on where NULLs go.
        rows.sort(key=lambda r: (r.tenant_id is not None, str(r.tenant_id), r.channel, r.category))
        return pb.ListNotificationPreferencesResponse(
            preferences=[_preference_to_proto(row) for row in rows]
        )


def _uuid_text(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None
