"""Signing keys: the JWKS every verifier reads, and the operator's rotation and retirement."""

from __future__ import annotations

from datetime import timedelta

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.identity.context import IdentityContext
from services.identity.models import SigningKey, SigningKeyState
from services.identity.signing import effective_state
from shared.auth import require_operator
from shared.db_types import utcnow
from shared.errors import InvalidArgument
from shared.proto_enums import to_proto_map
from shared.timestamps import to_timestamp

STATE_TO_PROTO = to_proto_map(pb.SigningKeyState, SigningKeyState)


def key_to_proto(key: SigningKey) -> pb.SigningKey:
    return pb.SigningKey(
        kid=key.kid,
        state=STATE_TO_PROTO[effective_state(key, utcnow())],
        create_time=to_timestamp(key.created_at),
        retire_time=to_timestamp(key.retire_at),
    )


class KeyHandlers:
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def get_jwks(self, request: pb.GetJwksRequest) -> pb.GetJwksResponse:
        keys = []
        for key in await self._ctx.keys.public_keys():
            jwk = pb.JsonWebKey(
                kid=key.kid,
                kty=key.jwk["kty"],
                crv=key.jwk["crv"],
                x=key.jwk["x"],
                y=key.jwk["y"],
                alg="ES256",
                use="sig",
            )
            if key.retire_at is not None:
                jwk.retire_time.FromNanoseconds(int(key.retire_at * 1e9))
            keys.append(jwk)
        return pb.GetJwksResponse(keys=keys)

    async def rotate_signing_key(
        self, request: pb.RotateSigningKeyRequest
    ) -> pb.RotateSigningKeyResponse:
        require_operator()
        if request.overlap_seconds < 0:
            raise InvalidArgument.field("overlap_seconds", "must not be negative")
        overlap = request.overlap_seconds or self._ctx.settings.signing_key_overlap_seconds
        new, previous = await self._ctx.keys.rotate(timedelta(seconds=overlap))
        await self._ctx.events.record(
            "signing_key_rotated", metadata={"new_kid": new.kid, "previous_kid": previous.kid}
        )
        return pb.RotateSigningKeyResponse(
            active=key_to_proto(new), previous=key_to_proto(previous)
        )

    async def retire_signing_key(
        self, request: pb.RetireSigningKeyRequest
    ) -> pb.RetireSigningKeyResponse:
        require_operator()
        if not request.kid:
            raise InvalidArgument.field("kid", "is required")
        key = await self._ctx.keys.retire(request.kid)
        await self._ctx.events.record("signing_key_retired", metadata={"kid": key.kid})
        return pb.RetireSigningKeyResponse(key=key_to_proto(key))

    async def list_signing_keys(
        self, request: pb.ListSigningKeysRequest
    ) -> pb.ListSigningKeysResponse:
        require_operator()
        return pb.ListSigningKeysResponse(
            keys=[key_to_proto(k) for k in await self._ctx.keys.all()]
        )
