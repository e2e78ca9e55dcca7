"""Service accounts' API keys: the resources, mapped from their messages, and the bodies."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.proto_json import Text
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody
from shared.timestamps import to_timestamp


class ApiKey(ProtoModel, message=pb.ApiKey, nullable=("revoke_time", "revoke_reason")):
    account: str = Field(description="The service account's name.")
    role: str = Field(description="The tenant role its tokens carry: viewer, member or admin.")


class CreatedApiKey(ProtoModel, message=pb.CreateApiKeyResponse):
    api_key: str = Field(
        description="The key itself, shown only here: send it as 'X-API-Key: <api_key>' or "
        "'Authorization: Bearer <api_key>', or exchange it at /v1/service-accounts/token."
    )


class ApiKeyList(ProtoModel, message=pb.ListApiKeysResponse):
    pass


class CreateApiKeyBody(RequestBody):
    tenant_id: Text
    account: Text = Field(description="The service account's name, such as ci-deployer.")
    scopes: list[Text] = Field(default_factory=list, description="Such as tenancy.read.")
    role: Text | None = Field(
        default=None, description="viewer, member (the default) or admin; never above yours."
    )
    expire_time: AwareDatetime | None = Field(
        default=None, description="By default, the longest lifetime allowed."
    )

    def to_proto(self, request_id: str) -> pb.CreateApiKeyRequest:
        return pb.CreateApiKeyRequest(
            tenant_id=self.tenant_id,
            account=self.account,
            scopes=self.scopes,
            role=self.role or "",
            expire_time=to_timestamp(self.expire_time),
            request_id=request_id,
        )


class ExchangeApiKeyBody(RequestBody):
    api_key: Text


class AccessToken(ProtoModel, message=pb.ExchangeApiKeyResponse):
    access_token: str = Field(description="Send as 'Authorization: Bearer <access_token>'.")
