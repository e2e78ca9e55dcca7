import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USER_STATUS_UNSPECIFIED: _ClassVar[UserStatus]
    USER_STATUS_PENDING: _ClassVar[UserStatus]
    USER_STATUS_ACTIVE: _ClassVar[UserStatus]
    USER_STATUS_DISABLED: _ClassVar[UserStatus]
    USER_STATUS_LOCKED: _ClassVar[UserStatus]

class PlatformRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLATFORM_ROLE_UNSPECIFIED: _ClassVar[PlatformRole]
    PLATFORM_ROLE_PLATFORM_OPERATOR: _ClassVar[PlatformRole]

class SigningKeyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNING_KEY_STATE_UNSPECIFIED: _ClassVar[SigningKeyState]
    SIGNING_KEY_STATE_ACTIVE: _ClassVar[SigningKeyState]
    SIGNING_KEY_STATE_RETIRING: _ClassVar[SigningKeyState]
    SIGNING_KEY_STATE_RETIRED: _ClassVar[SigningKeyState]

class SignupRequestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNUP_REQUEST_STATUS_UNSPECIFIED: _ClassVar[SignupRequestStatus]
    SIGNUP_REQUEST_STATUS_PENDING: _ClassVar[SignupRequestStatus]
    SIGNUP_REQUEST_STATUS_APPROVED: _ClassVar[SignupRequestStatus]
    SIGNUP_REQUEST_STATUS_REJECTED: _ClassVar[SignupRequestStatus]

class InviteStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVITE_STATUS_UNSPECIFIED: _ClassVar[InviteStatus]
    INVITE_STATUS_ACTIVE: _ClassVar[InviteStatus]
    INVITE_STATUS_EXHAUSTED: _ClassVar[InviteStatus]
    INVITE_STATUS_REVOKED: _ClassVar[InviteStatus]
    INVITE_STATUS_EXPIRED: _ClassVar[InviteStatus]
USER_STATUS_UNSPECIFIED: UserStatus
USER_STATUS_PENDING: UserStatus
USER_STATUS_ACTIVE: UserStatus
USER_STATUS_DISABLED: UserStatus
USER_STATUS_LOCKED: UserStatus
PLATFORM_ROLE_UNSPECIFIED: PlatformRole
PLATFORM_ROLE_PLATFORM_OPERATOR: PlatformRole
SIGNING_KEY_STATE_UNSPECIFIED: SigningKeyState
SIGNING_KEY_STATE_ACTIVE: SigningKeyState
SIGNING_KEY_STATE_RETIRING: SigningKeyState
SIGNING_KEY_STATE_RETIRED: SigningKeyState
SIGNUP_REQUEST_STATUS_UNSPECIFIED: SignupRequestStatus
SIGNUP_REQUEST_STATUS_PENDING: SignupRequestStatus
SIGNUP_REQUEST_STATUS_APPROVED: SignupRequestStatus
SIGNUP_REQUEST_STATUS_REJECTED: SignupRequestStatus
INVITE_STATUS_UNSPECIFIED: InviteStatus
INVITE_STATUS_ACTIVE: InviteStatus
INVITE_STATUS_EXHAUSTED: InviteStatus
INVITE_STATUS_REVOKED: InviteStatus
INVITE_STATUS_EXPIRED: InviteStatus

class User(_message.Message):
    __slots__ = ("id", "email", "status", "platform_role", "email_verify_time", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_ROLE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFY_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    email: str
    status: UserStatus
    platform_role: PlatformRole
    email_verify_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., email: _Optional[str] = ..., status: _Optional[_Union[UserStatus, str]] = ..., platform_role: _Optional[_Union[PlatformRole, str]] = ..., email_verify_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("display_name", "given_name", "family_name", "avatar_url", "timezone", "locale", "metadata")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    given_name: str
    family_name: str
    avatar_url: str
    timezone: str
    locale: str
    metadata: _struct_pb2.Struct
    def __init__(self, display_name: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., avatar_url: _Optional[str] = ..., timezone: _Optional[str] = ..., locale: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DeviceInfo(_message.Message):
    __slots__ = ("user_agent", "ip_address", "fingerprint", "client_platform", "client_browser", "client_device")
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CLIENT_BROWSER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_DEVICE_FIELD_NUMBER: _ClassVar[int]
    user_agent: str
    ip_address: str
    fingerprint: str
    client_platform: str
    client_browser: str
    client_device: str
    def __init__(self, user_agent: _Optional[str] = ..., ip_address: _Optional[str] = ..., fingerprint: _Optional[str] = ..., client_platform: _Optional[str] = ..., client_browser: _Optional[str] = ..., client_device: _Optional[str] = ...) -> None: ...

class TokenPair(_message.Message):
    __slots__ = ("access_token", "access_token_expire_time", "refresh_token", "refresh_token_expire_time", "session_id", "tenant_id", "role")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    access_token_expire_time: _timestamp_pb2.Timestamp
    refresh_token: str
    refresh_token_expire_time: _timestamp_pb2.Timestamp
    session_id: str
    tenant_id: str
    role: str
    def __init__(self, access_token: _Optional[str] = ..., access_token_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refresh_token: _Optional[str] = ..., refresh_token_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "tenant_id", "user_agent", "ip_masked", "client_platform", "client_browser", "client_device", "create_time", "last_seen_time", "expire_time", "revoke_time", "revoke_reason", "current")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    IP_MASKED_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CLIENT_BROWSER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_DEVICE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    user_agent: str
    ip_masked: str
    client_platform: str
    client_browser: str
    client_device: str
    create_time: _timestamp_pb2.Timestamp
    last_seen_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    revoke_reason: str
    current: bool
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., user_agent: _Optional[str] = ..., ip_masked: _Optional[str] = ..., client_platform: _Optional[str] = ..., client_browser: _Optional[str] = ..., client_device: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_reason: _Optional[str] = ..., current: _Optional[bool] = ...) -> None: ...

class JsonWebKey(_message.Message):
    __slots__ = ("kid", "kty", "crv", "x", "y", "alg", "use", "retire_time")
    KID_FIELD_NUMBER: _ClassVar[int]
    KTY_FIELD_NUMBER: _ClassVar[int]
    CRV_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    USE_FIELD_NUMBER: _ClassVar[int]
    RETIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    kid: str
    kty: str
    crv: str
    x: str
    y: str
    alg: str
    use: str
    retire_time: _timestamp_pb2.Timestamp
    def __init__(self, kid: _Optional[str] = ..., kty: _Optional[str] = ..., crv: _Optional[str] = ..., x: _Optional[str] = ..., y: _Optional[str] = ..., alg: _Optional[str] = ..., use: _Optional[str] = ..., retire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SigningKey(_message.Message):
    __slots__ = ("kid", "state", "create_time", "retire_time")
    KID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RETIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    kid: str
    state: SigningKeyState
    create_time: _timestamp_pb2.Timestamp
    retire_time: _timestamp_pb2.Timestamp
    def __init__(self, kid: _Optional[str] = ..., state: _Optional[_Union[SigningKeyState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetJwksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJwksResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[JsonWebKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[JsonWebKey, _Mapping]]] = ...) -> None: ...

class ListRevocationsRequest(_message.Message):
    __slots__ = ("since",)
    SINCE_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Revocation(_message.Message):
    __slots__ = ("key", "revoke_time", "expire_time")
    KEY_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    key: str
    revoke_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListRevocationsResponse(_message.Message):
    __slots__ = ("revocations", "read_time")
    REVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    READ_TIME_FIELD_NUMBER: _ClassVar[int]
    revocations: _containers.RepeatedCompositeFieldContainer[Revocation]
    read_time: _timestamp_pb2.Timestamp
    def __init__(self, revocations: _Optional[_Iterable[_Union[Revocation, _Mapping]]] = ..., read_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RotateSigningKeyRequest(_message.Message):
    __slots__ = ("overlap_seconds",)
    OVERLAP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    overlap_seconds: int
    def __init__(self, overlap_seconds: _Optional[int] = ...) -> None: ...

class RotateSigningKeyResponse(_message.Message):
    __slots__ = ("active", "previous")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    active: SigningKey
    previous: SigningKey
    def __init__(self, active: _Optional[_Union[SigningKey, _Mapping]] = ..., previous: _Optional[_Union[SigningKey, _Mapping]] = ...) -> None: ...

class RetireSigningKeyRequest(_message.Message):
    __slots__ = ("kid",)
    KID_FIELD_NUMBER: _ClassVar[int]
    kid: str
    def __init__(self, kid: _Optional[str] = ...) -> None: ...

class RetireSigningKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: SigningKey
    def __init__(self, key: _Optional[_Union[SigningKey, _Mapping]] = ...) -> None: ...

class ListSigningKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSigningKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[SigningKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[SigningKey, _Mapping]]] = ...) -> None: ...

class SignUpRequest(_message.Message):
    __slots__ = ("email", "password", "tenant_name", "tenant_slug", "invite_token", "display_name", "device")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TENANT_NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_SLUG_FIELD_NUMBER: _ClassVar[int]
    INVITE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    tenant_name: str
    tenant_slug: str
    invite_token: str
    display_name: str
    device: DeviceInfo
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., tenant_name: _Optional[str] = ..., tenant_slug: _Optional[str] = ..., invite_token: _Optional[str] = ..., display_name: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class SignUpResponse(_message.Message):
    __slots__ = ("user", "tokens")
    USER_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    user: User
    tokens: TokenPair
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., tokens: _Optional[_Union[TokenPair, _Mapping]] = ...) -> None: ...

class SignupRequest(_message.Message):
    __slots__ = ("id", "email", "organization", "full_name", "message", "status", "decision_reason", "decide_time", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DECISION_REASON_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    email: str
    organization: str
    full_name: str
    message: str
    status: SignupRequestStatus
    decision_reason: str
    decide_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., email: _Optional[str] = ..., organization: _Optional[str] = ..., full_name: _Optional[str] = ..., message: _Optional[str] = ..., status: _Optional[_Union[SignupRequestStatus, str]] = ..., decision_reason: _Optional[str] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RequestAccessRequest(_message.Message):
    __slots__ = ("email", "organization", "full_name", "message", "honeypot", "device")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HONEYPOT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    email: str
    organization: str
    full_name: str
    message: str
    honeypot: str
    device: DeviceInfo
    def __init__(self, email: _Optional[str] = ..., organization: _Optional[str] = ..., full_name: _Optional[str] = ..., message: _Optional[str] = ..., honeypot: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class RequestAccessResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListSignupRequestsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: SignupRequestStatus
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[SignupRequestStatus, str]] = ...) -> None: ...

class ListSignupRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[SignupRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[SignupRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DecideSignupRequestRequest(_message.Message):
    __slots__ = ("id", "approve", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    approve: bool
    reason: str
    def __init__(self, id: _Optional[str] = ..., approve: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class DecideSignupRequestResponse(_message.Message):
    __slots__ = ("request", "invite_token")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    INVITE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    request: SignupRequest
    invite_token: str
    def __init__(self, request: _Optional[_Union[SignupRequest, _Mapping]] = ..., invite_token: _Optional[str] = ...) -> None: ...

class Invite(_message.Message):
    __slots__ = ("id", "token_hint", "invited_email", "status", "max_redemptions", "redeemed_count", "expire_time", "revoke_time", "note", "create_time", "tenant_id", "role")
    ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_HINT_FIELD_NUMBER: _ClassVar[int]
    INVITED_EMAIL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MAX_REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    token_hint: str
    invited_email: str
    status: InviteStatus
    max_redemptions: int
    redeemed_count: int
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    note: str
    create_time: _timestamp_pb2.Timestamp
    tenant_id: str
    role: str
    def __init__(self, id: _Optional[str] = ..., token_hint: _Optional[str] = ..., invited_email: _Optional[str] = ..., status: _Optional[_Union[InviteStatus, str]] = ..., max_redemptions: _Optional[int] = ..., redeemed_count: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class CreateInviteRequest(_message.Message):
    __slots__ = ("invited_email", "max_redemptions", "expire_time", "note", "tenant_id", "role")
    INVITED_EMAIL_FIELD_NUMBER: _ClassVar[int]
    MAX_REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    invited_email: str
    max_redemptions: int
    expire_time: _timestamp_pb2.Timestamp
    note: str
    tenant_id: str
    role: str
    def __init__(self, invited_email: _Optional[str] = ..., max_redemptions: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note: _Optional[str] = ..., tenant_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class CreateInviteResponse(_message.Message):
    __slots__ = ("invite", "token")
    INVITE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    invite: Invite
    token: str
    def __init__(self, invite: _Optional[_Union[Invite, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class ListInvitesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "tenant_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    tenant_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class ListInvitesResponse(_message.Message):
    __slots__ = ("invites", "next_page_token")
    INVITES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invites: _containers.RepeatedCompositeFieldContainer[Invite]
    next_page_token: str
    def __init__(self, invites: _Optional[_Iterable[_Union[Invite, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeInviteRequest(_message.Message):
    __slots__ = ("id", "reason", "tenant_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    tenant_id: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class RevokeInviteResponse(_message.Message):
    __slots__ = ("invite",)
    INVITE_FIELD_NUMBER: _ClassVar[int]
    invite: Invite
    def __init__(self, invite: _Optional[_Union[Invite, _Mapping]] = ...) -> None: ...

class AcceptInviteRequest(_message.Message):
    __slots__ = ("invite_token", "device")
    INVITE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    invite_token: str
    device: DeviceInfo
    def __init__(self, invite_token: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class AcceptInviteResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenPair
    def __init__(self, tokens: _Optional[_Union[TokenPair, _Mapping]] = ...) -> None: ...

class SwitchTenantRequest(_message.Message):
    __slots__ = ("tenant_id", "device")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    device: DeviceInfo
    def __init__(self, tenant_id: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class SwitchTenantResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenPair
    def __init__(self, tokens: _Optional[_Union[TokenPair, _Mapping]] = ...) -> None: ...

class SignInRequest(_message.Message):
    __slots__ = ("email", "password", "tenant_id", "device")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    tenant_id: str
    device: DeviceInfo
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., tenant_id: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class MfaChallenge(_message.Message):
    __slots__ = ("mfa_token", "methods", "expire_time")
    MFA_TOKEN_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    mfa_token: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, mfa_token: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SignInResponse(_message.Message):
    __slots__ = ("tokens", "mfa_challenge", "user")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MFA_CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenPair
    mfa_challenge: MfaChallenge
    user: User
    def __init__(self, tokens: _Optional[_Union[TokenPair, _Mapping]] = ..., mfa_challenge: _Optional[_Union[MfaChallenge, _Mapping]] = ..., user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class CompleteMfaSignInRequest(_message.Message):
    __slots__ = ("mfa_token", "totp_code", "recovery_code", "device")
    MFA_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_CODE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    mfa_token: str
    totp_code: str
    recovery_code: str
    device: DeviceInfo
    def __init__(self, mfa_token: _Optional[str] = ..., totp_code: _Optional[str] = ..., recovery_code: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class CompleteMfaSignInResponse(_message.Message):
    __slots__ = ("tokens", "user")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenPair
    user: User
    def __init__(self, tokens: _Optional[_Union[TokenPair, _Mapping]] = ..., user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class RefreshSessionRequest(_message.Message):
    __slots__ = ("refresh_token", "device")
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    device: DeviceInfo
    def __init__(self, refresh_token: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class RefreshSessionResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenPair
    def __init__(self, tokens: _Optional[_Union[TokenPair, _Mapping]] = ...) -> None: ...

class SignOutRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignOutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMySessionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "include_inactive")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    include_inactive: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_inactive: _Optional[bool] = ...) -> None: ...

class ListMySessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class RevokeAllSessionsRequest(_message.Message):
    __slots__ = ("keep_current",)
    KEEP_CURRENT_FIELD_NUMBER: _ClassVar[int]
    keep_current: bool
    def __init__(self, keep_current: _Optional[bool] = ...) -> None: ...

class RevokeAllSessionsResponse(_message.Message):
    __slots__ = ("revoked_count",)
    REVOKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    revoked_count: int
    def __init__(self, revoked_count: _Optional[int] = ...) -> None: ...

class BeginTotpEnrollmentRequest(_message.Message):
    __slots__ = ("label",)
    LABEL_FIELD_NUMBER: _ClassVar[int]
    label: str
    def __init__(self, label: _Optional[str] = ...) -> None: ...

class BeginTotpEnrollmentResponse(_message.Message):
    __slots__ = ("method_id", "secret", "otpauth_uri")
    METHOD_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    OTPAUTH_URI_FIELD_NUMBER: _ClassVar[int]
    method_id: str
    secret: str
    otpauth_uri: str
    def __init__(self, method_id: _Optional[str] = ..., secret: _Optional[str] = ..., otpauth_uri: _Optional[str] = ...) -> None: ...

class ConfirmTotpEnrollmentRequest(_message.Message):
    __slots__ = ("method_id", "code")
    METHOD_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    method_id: str
    code: str
    def __init__(self, method_id: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class ConfirmTotpEnrollmentResponse(_message.Message):
    __slots__ = ("recovery_codes",)
    RECOVERY_CODES_FIELD_NUMBER: _ClassVar[int]
    recovery_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, recovery_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class DisableTotpRequest(_message.Message):
    __slots__ = ("method_id", "password")
    METHOD_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    method_id: str
    password: str
    def __init__(self, method_id: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class DisableTotpResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegenerateRecoveryCodesRequest(_message.Message):
    __slots__ = ("password",)
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    password: str
    def __init__(self, password: _Optional[str] = ...) -> None: ...

class RegenerateRecoveryCodesResponse(_message.Message):
    __slots__ = ("recovery_codes",)
    RECOVERY_CODES_FIELD_NUMBER: _ClassVar[int]
    recovery_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, recovery_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class ChangePasswordRequest(_message.Message):
    __slots__ = ("current_password", "new_password")
    CURRENT_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    current_password: str
    new_password: str
    def __init__(self, current_password: _Optional[str] = ..., new_password: _Optional[str] = ...) -> None: ...

class ChangePasswordResponse(_message.Message):
    __slots__ = ("revoked_sessions",)
    REVOKED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    revoked_sessions: int
    def __init__(self, revoked_sessions: _Optional[int] = ...) -> None: ...

class RequestPasswordResetRequest(_message.Message):
    __slots__ = ("email", "device")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    email: str
    device: DeviceInfo
    def __init__(self, email: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class RequestPasswordResetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetPasswordRequest(_message.Message):
    __slots__ = ("reset_token", "new_password")
    RESET_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    reset_token: str
    new_password: str
    def __init__(self, reset_token: _Optional[str] = ..., new_password: _Optional[str] = ...) -> None: ...

class ResetPasswordResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnlockUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class UnlockUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class GetMeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMeResponse(_message.Message):
    __slots__ = ("user", "profile", "mfa_enabled")
    USER_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    MFA_ENABLED_FIELD_NUMBER: _ClassVar[int]
    user: User
    profile: Profile
    mfa_enabled: bool
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., profile: _Optional[_Union[Profile, _Mapping]] = ..., mfa_enabled: _Optional[bool] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("profile", "update_mask")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("policy_key", "version", "accept_time")
    POLICY_KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_TIME_FIELD_NUMBER: _ClassVar[int]
    policy_key: str
    version: str
    accept_time: _timestamp_pb2.Timestamp
    def __init__(self, policy_key: _Optional[str] = ..., version: _Optional[str] = ..., accept_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordConsentRequest(_message.Message):
    __slots__ = ("policy_key", "version", "device")
    POLICY_KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    policy_key: str
    version: str
    device: DeviceInfo
    def __init__(self, policy_key: _Optional[str] = ..., version: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class RecordConsentResponse(_message.Message):
    __slots__ = ("consent",)
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents",)
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ...) -> None: ...

class NotificationPreference(_message.Message):
    __slots__ = ("tenant_id", "channel", "category", "enabled")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    channel: str
    category: str
    enabled: bool
    def __init__(self, tenant_id: _Optional[str] = ..., channel: _Optional[str] = ..., category: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class SetNotificationPreferenceRequest(_message.Message):
    __slots__ = ("preference",)
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    preference: NotificationPreference
    def __init__(self, preference: _Optional[_Union[NotificationPreference, _Mapping]] = ...) -> None: ...

class SetNotificationPreferenceResponse(_message.Message):
    __slots__ = ("preference",)
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    preference: NotificationPreference
    def __init__(self, preference: _Optional[_Union[NotificationPreference, _Mapping]] = ...) -> None: ...

class ListNotificationPreferencesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNotificationPreferencesResponse(_message.Message):
    __slots__ = ("preferences",)
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    preferences: _containers.RepeatedCompositeFieldContainer[NotificationPreference]
    def __init__(self, preferences: _Optional[_Iterable[_Union[NotificationPreference, _Mapping]]] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "account", "tenant_id", "scopes", "signing_kid", "create_time", "expire_time", "revoke_time", "revoke_reason", "role")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    account: str
    tenant_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    signing_kid: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    revoke_reason: str
    role: str
    def __init__(self, id: _Optional[str] = ..., account: _Optional[str] = ..., tenant_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., signing_kid: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_reason: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("tenant_id", "account", "scopes", "expire_time", "request_id", "role")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    account: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    expire_time: _timestamp_pb2.Timestamp
    request_id: str
    role: str
    def __init__(self, tenant_id: _Optional[str] = ..., account: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key", "api_key")
    KEY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    api_key: str
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., api_key: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("keys", "next_page_token")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    next_page_token: str
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class ExchangeApiKeyRequest(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    def __init__(self, api_key: _Optional[str] = ...) -> None: ...

class ExchangeApiKeyResponse(_message.Message):
    __slots__ = ("access_token", "expire_time")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, access_token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SecurityEvent(_message.Message):
    __slots__ = ("id", "user_id", "tenant_id", "event_type", "source", "metadata", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    tenant_id: str
    event_type: str
    source: str
    metadata: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., event_type: _Optional[str] = ..., source: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSecurityEventsRequest(_message.Message):
    __slots__ = ("tenant_id", "user_id", "event_type", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    user_id: str
    event_type: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., event_type: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSecurityEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[SecurityEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[SecurityEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReportSecurityEventRequest(_message.Message):
    __slots__ = ("event_type", "tenant_id", "user_id", "metadata")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    event_type: str
    tenant_id: str
    user_id: str
    metadata: _struct_pb2.Struct
    def __init__(self, event_type: _Optional[str] = ..., tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ReportSecurityEventResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
