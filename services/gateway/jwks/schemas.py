"""The public keys that verify tokens, as RFC 7517 JSON Web Keys."""

from __future__ import annotations

from quarterdeck.identity.v1 import identity_pb2 as pb
from services.gateway.proto_models import ProtoModel


class JsonWebKey(ProtoModel, message=pb.JsonWebKey, exclude=("retire_time",)):
    """A public key in RFC 7517 form."""


class JsonWebKeySet(ProtoModel, message=pb.GetJwksResponse):
    pass
