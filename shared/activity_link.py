"""How any service appends to a tenant's activity feed (the telemetry service's ActivityService).

:meth:`ActivityLink.append` returns at once: the event is sent in the background with the
service's internal token and the caller's trace context, retried a few times on transient
failures, and dropped (logged) when it cannot be delivered. An append never delays or fails the
request that caused it. Without a telemetry target the link is disabled and appends are skipped
(logged at debug).

The internal token comes from an :class:`~shared.internal_client.InternalToken`: the service's
:class:`IdentityLink`, which exchanges the service's internal key for it, or identity's own.

Append after the change is committed, so the feed never shows what was rolled back. Each append
carries a fresh request_id, so a retry after a lost response records the event once.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf.struct_pb2 import Struct

from quarterdeck.telemetry.v1 import activity_pb2 as pb
from quarterdeck.telemetry.v1.activity_pb2_grpc import ActivityServiceStub
from shared.auth import PLATFORM_OPERATOR, Principal, current_principal
from shared.background_calls import BackgroundCalls
from shared.grpc_client import open_channel
from shared.internal_client import InternalToken
from shared.tracing import current_trace_ids

log = logging.getLogger("quarterdeck.activity_link")

_ACTOR_TYPES = {
    "user": pb.ACTIVITY_ACTOR_TYPE_USER,
    "service_account": pb.ACTIVITY_ACTOR_TYPE_SERVICE_ACCOUNT,
    "service": pb.ACTIVITY_ACTOR_TYPE_SERVICE,
}
#: A service account's token subject is ``sa:<uuid>``.
_SERVICE_ACCOUNT_PREFIX = "sa:"
_MAX_SUMMARY = 256


def actor_fields(principal: Principal | None, tenant_id: str) -> dict[str, Any]:
    """The actor columns of an event of ``tenant_id`` caused by ``principal`` (the caller of the
    current RPC). The role is the one held in that tenant: an operator acting on another tenant
    is recorded as the platform operator, not by their role in their own tenant."""
    if principal is None:
        return {"actor_type": pb.ACTIVITY_ACTOR_TYPE_SYSTEM}
    fields: dict[str, Any] = {
        "actor_type": _ACTOR_TYPES.get(principal.kind, pb.ACTIVITY_ACTOR_TYPE_UNSPECIFIED)
    }
    subject = principal.subject.removeprefix(_SERVICE_ACCOUNT_PREFIX)
    # A service's subject ("service:tenancy") is no id of a tenant's actor: left out.
    with contextlib.suppress(ValueError):
        fields["actor_id"] = str(uuid.UUID(subject))
    role = principal.role if principal.tenant_id == tenant_id else None
    if role is None and principal.platform_role == PLATFORM_OPERATOR:
        role = PLATFORM_OPERATOR
    if role:
        fields["actor_role"] = role[:32]
    return fields


class ActivityLink:
    """A background appender to the activity feed, one per service process."""

    def __init__(
        self,
        target: str | None,
        service: str,
        token: InternalToken | None,
        *,
        max_attempts: int = 4,
        first_backoff_seconds: float = 0.2,
        call_timeout_seconds: float = 5.0,
        max_pending: int = 1000,
    ) -> None:
        self._service = service
        self._token = token
        self._calls = (
            BackgroundCalls(
                service,
                "activity appends",
                token,
                max_attempts=max_attempts,
                first_backoff_seconds=first_backoff_seconds,
                call_timeout_seconds=call_timeout_seconds,
                max_pending=max_pending,
                logger=log,
            )
            if token is not None
            else None
        )
        self._channel: grpc.aio.Channel | None = None
        self._stub: ActivityServiceStub | None = None
        if target and self._token is None:
            log.warning(
                "%s: activity appends are off: the telemetry service needs an internal token, "
                "and no identity service is configured",
                service,
            )
        elif target:
            self._channel = open_channel(target)
            self._stub = ActivityServiceStub(self._channel)

    @property
    def enabled(self) -> bool:
        return self._stub is not None

    def append(
        self,
        tenant_id: str,
        action: str,
        *,
        object_type: str = "",
        object_id: str = "",
        object_name: str = "",
        summary: str = "",
        metadata: Mapping[str, Any] | None = None,
        failed: bool = False,
    ) -> None:
        """Queue one event of the current caller's action in ``tenant_id``'s feed; returns at once.

        The actor is the principal of the current RPC; the trace and span are the current ones.
        Never put secrets in ``summary`` or ``metadata``.
        """
        if self._stub is None:
            log.debug("%s: no telemetry target; activity %s not appended", self._service, action)
            return
        trace_id, span_id = current_trace_ids()
        event = pb.ActivityEvent(
            tenant_id=tenant_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_name=object_name,
            summary=summary[:_MAX_SUMMARY],
            source=self._service,
            status=pb.ACTIVITY_STATUS_FAILURE if failed else pb.ACTIVITY_STATUS_SUCCESS,
            trace_id=trace_id,
            span_id=span_id,
            **actor_fields(current_principal(), tenant_id),
        )
        if metadata:
            struct = Struct()
            struct.update(dict(metadata))
            event.metadata.CopyFrom(struct)
        request = pb.AppendActivityRequest(event=event, request_id=str(uuid.uuid4()))
        assert self._calls is not None  # a stub is made only with a token
        self._calls.send(self._stub.AppendActivity, request, f"activity {action}")

    async def drain(self, within_seconds: float | None = None) -> None:
        """Wait for the appends in flight (tests; shutdown), at most ``within_seconds``."""
        if self._calls is not None:
            await self._calls.drain(within_seconds)

    async def close(self) -> None:
        """Give appends in flight one call's time to land, drop the rest, close the channel."""
        if self._calls is not None:
            await self._calls.close()
        if self._channel is not None:
            await self._channel.close()
