"""Every tenant-scoped RPC (its request names a ``tenant_id``), read from the descriptors of the
services the servers registered, called with tenant B's token (owner, viewer) for tenant A, is
refused, never answered: PERMISSION_DENIED or NOT_FOUND, INVALID_ARGUMENT for a request refused
before any tenant is touched, or UNAVAILABLE where identity must first ask tenancy (which, in
this stack, trusts only the test issuer's tokens). On SQLite only."""

from __future__ import annotations

import uuid
from collections import Counter
from contextlib import AsyncExitStack

import grpc
from google.protobuf import descriptor_pool, message_factory

from tests.fuzz.test_grpc_fuzz import INFRASTRUCTURE, ISSUER, _services
from tests.support.stack import Databases

REFUSALS = frozenset(
    {
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAVAILABLE,
    }
)


async def test_every_tenant_scoped_rpc_refuses_another_tenants_token(
    databases: Databases,
) -> None:
    tenant_a, tenant_b = str(uuid.uuid4()), str(uuid.uuid4())
    roles = {role: ISSUER.member(tenant_b, role) for role in ("owner", "viewer")}
    pool = descriptor_pool.Default()
    codes: Counter[str] = Counter()
    answered: list[str] = []
    scoped = 0
    async with AsyncExitStack() as stack:
        for service in await _services(databases, stack):
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(service.target))
            for name in service.service_names:
                if name.startswith(INFRASTRUCTURE):
                    continue
                for method in pool.FindServiceByName(name).methods:
                    if "tenant_id" not in method.input_type.fields_by_name:
                        continue
                    scoped += 1
                    request = message_factory.GetMessageClass(method.input_type)(tenant_id=tenant_a)
                    path = f"/{name}/{method.name}"
                    for role, metadata in roles.items():
                        call = (
                            channel.unary_stream(path)
                            if method.server_streaming
                            else channel.unary_unary(path)
                        )
                        try:
                            reply = call(request.SerializeToString(), metadata=metadata, timeout=10)
                            if method.server_streaming:
                                async for _ in reply:
                                    pass
                            else:
                                await reply
                            code = grpc.StatusCode.OK
                        except grpc.aio.AioRpcError as error:
                            code = error.code()
                        codes[code.name] += 1
                        if code not in REFUSALS:
                            answered.append(f"{path} [{role} of B] {code.name}")
    print(f"\ncross-tenant: {scoped} tenant-scoped methods, statuses {dict(codes)}")
    assert scoped > 40
    assert not answered, "\n".join(answered)
