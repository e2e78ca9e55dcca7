"""The activity feed's pure parts: validating an appended event, taking the trace from the current
span, the actor an append names, the last-seen marker's order, and the retention policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from quarterdeck.telemetry.v1 import activity_pb2 as pb
from services.telemetry.activity.handlers import Marker, event_values
from services.telemetry.config import TelemetrySettings
from services.telemetry.schema import RETENTION_POLICIES, metadata
from shared.activity_link import actor_fields
from shared.auth import INTERNAL_SCOPE, PLATFORM_OPERATOR, Principal
from shared.errors import InvalidArgument

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331


def current_span() -> NonRecordingSpan:
    return NonRecordingSpan(
        SpanContext(
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )


def event(**fields: object) -> pb.ActivityEvent:
    fields.setdefault("tenant_id", str(uuid.uuid4()))
    fields.setdefault("action", "membership.added")
    return pb.ActivityEvent(**fields)  # type: ignore[arg-type]


def test_an_event_without_trace_ids_takes_the_current_span() -> None:
    with trace.use_span(current_span()):
        values = event_values(event())
    assert values["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert values["span_id"] == "b7ad6b7169203331"
    assert values["status"] == "success"


def test_given_trace_ids_win_and_outside_a_span_there_are_none() -> None:
    given = event(trace_id="1" * 32, span_id="2" * 16)
    with trace.use_span(current_span()):
        assert (event_values(given)["trace_id"], event_values(given)["span_id"]) == (
            "1" * 32,
            "2" * 16,
        )
    assert (event_values(event())["trace_id"], event_values(event())["span_id"]) == (None, None)


def test_optional_fields_are_stored_as_given_and_empty_ones_left_out() -> None:
    actor = str(uuid.uuid4())
    values = event_values(
        event(
            actor_id=actor,
            actor_type=pb.ACTIVITY_ACTOR_TYPE_SERVICE_ACCOUNT,
            status=pb.ACTIVITY_STATUS_FAILURE,
            object_type="model_config",
            summary="changed",
        )
    )
    assert values["actor_id"] == uuid.UUID(actor)
    assert (values["actor_type"], values["status"]) == ("service_account", "failure")
    assert (values["object_type"], values["summary"]) == ("model_config", "changed")
    assert "object_id" not in values and "metadata_json" not in values


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tenant_id": ""}, "event.tenant_id"),
        ({"action": "a" * 97}, "event.action"),
        ({"action": ".starts-with-a-dot"}, "event.action"),
        ({"actor_role": "r" * 33}, "event.actor_role"),
        ({"user_agent": "u" * 513}, "event.user_agent"),
        ({"request_id": "bad\x00id"}, "event.request_id"),
        ({"trace_id": "0AF7651916CD43DD8448EB211C80319C"}, "event.trace_id"),
    ],
)
def test_bad_fields_are_named(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        event_values(event(**fields))
    assert [v.field for v in caught.value.violations] == [field]


def test_the_actor_is_the_caller_of_the_current_rpc() -> None:
    user_id, account_id = str(uuid.uuid4()), str(uuid.uuid4())
    assert actor_fields(
        Principal(subject=user_id, kind="user", tenant_id="t", role="admin"), "t"
    ) == {
        "actor_type": pb.ACTIVITY_ACTOR_TYPE_USER,
        "actor_id": user_id,
        "actor_role": "admin",
    }
    assert actor_fields(
        Principal(subject=f"sa:{account_id}", kind="service_account", tenant_id="t", role="member"),
        "t",
    ) == {
        "actor_type": pb.ACTIVITY_ACTOR_TYPE_SERVICE_ACCOUNT,
        "actor_id": account_id,
        "actor_role": "member",
    }
    assert actor_fields(
        Principal(subject=user_id, kind="user", platform_role=PLATFORM_OPERATOR), "t"
    ) == {
        "actor_type": pb.ACTIVITY_ACTOR_TYPE_USER,
        "actor_id": user_id,
        "actor_role": PLATFORM_OPERATOR,
    }
    # An operator who owns a tenant of their own acts on another one as the operator.
    operator_owner = Principal(
        subject=user_id, kind="user", tenant_id="own", role="owner", platform_role=PLATFORM_OPERATOR
    )
    assert actor_fields(operator_owner, "t")["actor_role"] == PLATFORM_OPERATOR
    assert actor_fields(operator_owner, "own")["actor_role"] == "owner"
    assert actor_fields(
        Principal(subject="service:identity", kind="service", scopes=frozenset({INTERNAL_SCOPE})),
        "t",
    ) == {"actor_type": pb.ACTIVITY_ACTOR_TYPE_SERVICE}
    assert actor_fields(None, "t") == {"actor_type": pb.ACTIVITY_ACTOR_TYPE_SYSTEM}


def test_the_marker_covers_events_up_to_it_in_feed_order() -> None:
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    low, high = uuid.UUID(int=1), uuid.UUID(int=2)
    marker = Marker(at, low)
    assert marker.covers(at - timedelta(microseconds=1), high)
    assert marker.covers(at, low)
    assert not marker.covers(at, high)  # same instant, later in feed order
    assert not marker.covers(at + timedelta(microseconds=1), low)
    assert Marker(at, None).covers(at, high) and not Marker(at, None).covers(
        at + timedelta(seconds=1), low
    )


def test_activity_events_have_a_retention_policy_with_a_setting() -> None:
    [policy] = [p for p in RETENTION_POLICIES if p.table == "activity_events"]
    assert policy.time_column in metadata.tables["activity_events"].columns
    assert TelemetrySettings.model_fields[policy.days_setting].default == 180
