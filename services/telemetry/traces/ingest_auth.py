"""Who may export spans to the OTLP receiver, and for which tenant.

Export needs a credential, as every other method does: a Quarterdeck service's internal token
(its spans name the tenants they acted for), or a tenant's token carrying the ``telemetry:ingest``
scope, whose tenant is then stamped on every span it sends, whatever the span claims. The stock
OpenTelemetry exporter sends a fixed header (``OTEL_EXPORTER_OTLP_HEADERS``), so Export also
takes an API key there, a tenant's service-account key (``qdk_``) or a service's internal key
(``qdi_``), which identity exchanges for a token, reused while fresh. Unauthenticated export
is refused unless the operator turns it on for a network that only the platform reaches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from quarterdeck.identity.v1 import identity_pb2 as ipb
from shared.api_key_tokens import API_KEY_PREFIX, ApiKeyTokens
from shared.auth import Authenticator, Principal, current_principal
from shared.errors import PermissionDenied, Unauthenticated, Unavailable
from shared.identity_link import INTERNAL_KEY_PREFIX, IdentityLink
from shared.tokens import JwtVerifier, bearer_token

INGEST_SCOPE = "telemetry:ingest"
_EXCHANGE_TIMEOUT_SECONDS = 5.0


class ExportAuthenticator:
    """``tokens`` for every method; on ``export_method``, an API key in the bearer header too."""

    def __init__(
        self,
        tokens: Authenticator,
        verifier: JwtVerifier,
        api_keys: ApiKeyTokens | None,
        export_method: str,
    ) -> None:
        self._tokens = tokens
        self._verifier = verifier
        self._api_keys = api_keys
        self._export_method = export_method

    async def authenticate(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]]
    ) -> Principal | None:
        if method == self._export_method:
            credential = bearer_token(metadata)
            if credential is not None and credential.startswith(
                (API_KEY_PREFIX, INTERNAL_KEY_PREFIX)
            ):
                return await self._key_principal(credential)
        return await self._tokens.authenticate(method, metadata)

    async def _key_principal(self, api_key: str) -> Principal:
        """Who the token ``api_key`` is exchanged for names. The cached token may no longer
        verify (signed by a key retired since: a rotation with an overlap shorter than the
        cache's reuse); it is then dropped and the key exchanged afresh, once. Otherwise every
        process's span exports would be refused until the cache let the token go, and the
        exporter drops a batch refused as UNAUTHENTICATED rather than retrying it."""
        api_keys = self._api_keys
        if api_keys is None:
            raise Unauthenticated(
                "API keys are not accepted here: no identity service is configured",
                reason="API_KEY_INVALID",
            )
        token = await _exchange(api_keys, api_key)
        try:
            return await self._verifier.verify(token)
        except Unauthenticated:
            api_keys.forget_token(api_key, token)
            return await self._verifier.verify(await _exchange(api_keys, api_key))


async def _exchange(api_keys: ApiKeyTokens, api_key: str) -> str:
    try:
        return await api_keys.access_token(api_key)
    except grpc.aio.AioRpcError as refused:
        if refused.code() in (
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.PERMISSION_DENIED,
        ):
            raise Unauthenticated("the API key is not valid", reason="API_KEY_INVALID") from None
        raise Unavailable("identity could not check the API key; retry") from None


def api_key_tokens(identity: IdentityLink, max_age_seconds: float) -> ApiKeyTokens:
    async def exchange(api_key: str) -> ipb.ExchangeApiKeyResponse:
        return await identity.stub.ExchangeApiKey(
            ipb.ExchangeApiKeyRequest(api_key=api_key), timeout=_EXCHANGE_TIMEOUT_SECONDS
        )

    return ApiKeyTokens(exchange, max_entries=1024, max_age_seconds=max_age_seconds)


@dataclass(frozen=True)
class ExportOrigin:
    """Who sent an export: the platform (spans keep the tenants they name) or one tenant, whose
    spans are stamped with it (``convert_request(request, exported_by=tenant_id)``)."""

    tenant_id: str | None


def export_origin(allow_unauthenticated: bool) -> ExportOrigin:
    """The origin of the export being handled, or the refusal of its caller."""
    principal = current_principal()
    if principal is None:
        if allow_unauthenticated:
            return ExportOrigin(None)
        raise Unauthenticated(
            "exporting spans needs a credential: an internal token, or a tenant API key with "
            f"the {INGEST_SCOPE} scope (for the stock exporter: OTEL_EXPORTER_OTLP_HEADERS="
            "authorization=Bearer%20<key>)",
            reason="EXPORT_CREDENTIAL_REQUIRED",
        )
    if principal.is_internal:
        return ExportOrigin(None)
    if principal.tenant_id and INGEST_SCOPE in principal.scopes:
        return ExportOrigin(principal.tenant_id)
    raise PermissionDenied(
        f"exporting spans needs an internal token or a tenant credential with the {INGEST_SCOPE} "
        "scope",
        reason="INGEST_SCOPE_REQUIRED",
    )
