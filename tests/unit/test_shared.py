"""Pure logic of the shared library: errors, field masks, settings, idempotency fingerprints."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2, status_pb2

from quarterdeck.tenancy.v1 import tenancy_pb2 as pb
from services.tenancy.config import TenancySettings
from shared.config import ConfigurationError, load_settings
from shared.errors import ERROR_DOMAIN, FieldViolation, InvalidArgument, NotFound
from shared.field_mask import paths_to_update
from shared.idempotency import request_fingerprint


def unpack(status: grpc.Status) -> status_pb2.Status:
    for key, value in status.trailing_metadata:
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("no rich status")


def test_invalid_argument_carries_error_info_and_field_violations() -> None:
    error = InvalidArgument([FieldViolation("a", "bad"), FieldViolation("b", "worse")])
    status = error.to_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    rich = unpack(status)
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert rich.details[0].Unpack(info) and rich.details[1].Unpack(bad_request)
    assert info.domain == ERROR_DOMAIN and info.reason == "INVALID_ARGUMENT"
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("a", "bad"),
        ("b", "worse"),
    ]
    assert "a: bad" in status.details


def test_other_errors_carry_reason_and_metadata() -> None:
    status = NotFound("gone", reason="THING_NOT_FOUND", metadata={"id": "1"}).to_status()
    info = error_details_pb2.ErrorInfo()
    unpack(status).details[0].Unpack(info)
    assert status.code == grpc.StatusCode.NOT_FOUND
    assert info.reason == "THING_NOT_FOUND" and dict(info.metadata) == {"id": "1"}


def test_field_mask_paths_validated_and_defaulted_to_set_fields() -> None:
    tenant = pb.Tenant(name="n", domain="d.io")
    allowed = {"name", "domain", "slug"}
    assert paths_to_update(FieldMask(), tenant, allowed) == ["name", "domain"]
    assert paths_to_update(FieldMask(paths=["slug", "slug"]), tenant, allowed) == ["slug"]
    with pytest.raises(InvalidArgument) as caught:
        paths_to_update(FieldMask(paths=["id"]), tenant, allowed)
    assert caught.value.violations[0].field == "update_mask"
    with pytest.raises(InvalidArgument):
        paths_to_update(FieldMask(), pb.Tenant(id="x"), allowed)


def test_bad_setting_fails_fast_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QD_TENANCY_PORT", "not-a-port")
    with pytest.raises(ConfigurationError, match="QD_TENANCY_PORT"):
        load_settings(TenancySettings)


def test_a_short_page_token_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QD_TENANCY_PAGE_TOKEN_SECRET", "short")
    with pytest.raises(ConfigurationError, match="QD_TENANCY_PAGE_TOKEN_SECRET"):
        load_settings(TenancySettings)


def test_settings_default_to_a_sqlite_file_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QD_TENANCY_DATA_DIR", "/srv/qd")
    settings = load_settings(TenancySettings)
    assert settings.resolved_database_url == "sqlite+aiosqlite:////srv/qd/tenancy.db"
    assert settings.port == 50052


def test_fingerprint_ignores_request_id_but_not_content() -> None:
    a = pb.CreateTenantRequest(tenant=pb.Tenant(slug="a"), request_id="1")
    b = pb.CreateTenantRequest(tenant=pb.Tenant(slug="a"), request_id="2")
    c = pb.CreateTenantRequest(tenant=pb.Tenant(slug="c"), request_id="1")
    assert request_fingerprint(a) == request_fingerprint(b) != request_fingerprint(c)
