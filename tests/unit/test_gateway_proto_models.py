"""Response models mapped from the proto descriptors: the JSON conventions, by field kind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.struct_pb2 import Struct

from quarterdeck.identity.v1 import identity_pb2 as ipb
from quarterdeck.telemetry.v1 import metrics_pb2 as mpb
from quarterdeck.telemetry.v1 import telemetry_pb2 as tpb
from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.gateway.proto_models import ProtoModel, enum_number
from shared.proto_enums import enum_names, value_prefix
from shared.timestamps import to_timestamp

PROTO_MODULES = (ipb, mpb, tpb, pb)


def as_json(model: ProtoModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


class TenantView(ProtoModel, message=pb.Tenant, nullable=("domain",)):
    pass


class SettingsView(ProtoModel, message=pb.TenantSettings, exclude=("flags",)):
    pass


class StatusCheckView(ProtoModel, message=pb.TenantStatusCheck, nullable=("status",)):
    pass


class SpanEventView(ProtoModel, message=tpb.SpanEvent):
    pass


class SpanView(ProtoModel, message=tpb.Span, zero={"kind": "unspecified", "status_code": "unset"}):
    pass


def test_every_field_is_mapped_with_the_api_conventions() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    tenant = pb.Tenant(
        id="t1",
        slug="acme",
        name="Acme",
        status=pb.TENANT_STATUS_SUSPENDED,
        version=2**40,
        create_time=to_timestamp(created),
        update_time=to_timestamp(created),
    )
    assert as_json(TenantView.from_proto(tenant)) == {
        "id": "t1",
        "slug": "acme",
        "name": "Acme",
        "domain": None,  # empty, and nullable
        "status": "suspended",
        "version": 2**40,  # an int64 stays a JSON number
        "create_time": "2026-01-02T03:04:05.123456Z",
        "update_time": "2026-01-02T03:04:05.123456Z",
    }


def test_an_enum_zero_is_null_named_or_refused() -> None:
    check = StatusCheckView.from_proto(pb.TenantStatusCheck(tenant_id="t", found=False))
    assert as_json(check)["status"] is None
    span = as_json(SpanView.from_proto(tpb.Span(trace_id="a")))
    assert (span["kind"], span["status_code"]) == ("unspecified", "unset")
    with pytest.raises(ValueError, match="status"):
        TenantView.from_proto(pb.Tenant(id="t"))


def test_struct_numbers_come_back_as_sent() -> None:
    sent = {"count": 3, "ratio": 3.5, "nested": {"items": [1, 2.25, "x"], "flag": True}}
    struct = Struct()
    struct.update(sent)
    settings = as_json(SettingsView.from_proto(pb.TenantSettings(plan_metadata=struct)))
    assert settings["plan_metadata"] == sent
    assert type(settings["plan_metadata"]["count"]) is int
    assert type(settings["plan_metadata"]["ratio"]) is float
    assert "flags" not in settings


def test_the_schema_says_what_is_returned() -> None:
    schema = TenantView.model_json_schema(mode="serialization")
    assert schema["properties"]["status"]["enum"] == ["active", "suspended", "deleted"]
    assert schema["properties"]["domain"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert schema["properties"]["version"]["type"] == "integer"
    span = SpanView.model_json_schema(mode="serialization")["properties"]
    assert span["status_code"]["enum"] == ["unset", "ok", "error"]


def test_an_unknown_field_name_is_refused_at_declaration() -> None:
    with pytest.raises(TypeError, match="no fields"):

        class Misspelt(ProtoModel, message=pb.Tenant, nullable=("domian",)):
            pass


def test_every_enum_value_carries_its_enum_prefix() -> None:
    for module in PROTO_MODULES:
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            prefix = value_prefix(enum)
            assert all(value.name.startswith(prefix) for value in enum.values), enum.name
            assert len(set(enum_names(enum).values())) == len(enum.values)


def test_request_enum_names_go_back_to_their_numbers() -> None:
    assert enum_number(pb.TenantStatus, "deleted") == pb.TENANT_STATUS_DELETED
    assert enum_number(pb.TenantStatus, None) == pb.TENANT_STATUS_UNSPECIFIED
