"""The gateway's error model as pure logic: status mapping and the JSON error body."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2

from services.gateway.errors import (
    HTTP_STATUS_BY_CODE,
    code_for_http_status,
    error_body,
    http_error_body,
    http_status_for,
    internal_error_body,
    rpc_error_body,
    validation_error_body,
)
from shared.errors import (
    ERROR_DOMAIN,
    AlreadyExists,
    DomainError,
    FieldViolation,
    InvalidArgument,
    internal_status,
)

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def rpc_error(
    code: grpc.StatusCode,
    details: str,
    trailing: tuple[tuple[str, str | bytes], ...] = (),
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=details
    )


def from_service(error: DomainError) -> grpc.aio.AioRpcError:
    """The exception a client sees when a service raises ``error`` through the interceptors."""
    status = error.to_status()
    return rpc_error(status.code, status.details, status.trailing_metadata)


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.FAILED_PRECONDITION, 400),
        (grpc.StatusCode.OUT_OF_RANGE, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.ABORTED, 409),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.CANCELLED, 499),
        (grpc.StatusCode.UNIMPLEMENTED, 501),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.DATA_LOSS, 500),
    ],
)
def test_status_mapping(code: grpc.StatusCode, http_status: int) -> None:
    assert http_status_for(code) == http_status


def test_every_error_code_maps_to_an_error_status() -> None:
    for code in grpc.StatusCode:
        if code is not grpc.StatusCode.OK:
            assert 400 <= http_status_for(code) <= 599
    assert set(HTTP_STATUS_BY_CODE.values()) < set(range(400, 600))


def test_service_error_keeps_its_message_and_details() -> None:
    error = InvalidArgument(
        [FieldViolation("tenant.slug", "is required"), FieldViolation("tenant.name", "too long")]
    )
    http_status, body = rpc_error_body(from_service(error))
    assert http_status == 400
    assert body == {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "invalid argument: tenant.slug: is required; tenant.name: too long",
            "details": [
                {"@type": ERROR_INFO, "reason": "INVALID_ARGUMENT", "domain": ERROR_DOMAIN},
                {
                    "@type": BAD_REQUEST,
                    "fieldViolations": [
                        {"field": "tenant.slug", "description": "is required"},
                        {"field": "tenant.name", "description": "too long"},
                    ],
                },
            ],
        }
    }


def test_error_info_metadata_survives() -> None:
    error = AlreadyExists("taken", reason="TENANT_SLUG_TAKEN", metadata={"field": "tenant.slug"})
    http_status, body = rpc_error_body(from_service(error))
    assert http_status == 409 and body["error"]["status"] == "ALREADY_EXISTS"
    assert body["error"]["details"] == [
        {
            "@type": ERROR_INFO,
            "reason": "TENANT_SLUG_TAKEN",
            "domain": ERROR_DOMAIN,
            "metadata": {"field": "tenant.slug"},
        }
    ]


def test_services_internal_error_stays_generic() -> None:
    status = internal_status()
    http_status, body = rpc_error_body(
        rpc_error(status.code, status.details, status.trailing_metadata)
    )
    assert http_status == 500
    assert body["error"]["status"] == "INTERNAL" and body["error"]["message"] == "internal error"


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    ],
)
def test_transport_failure_text_is_not_passed_on(code: grpc.StatusCode, http_status: int) -> None:
    raw = "failed to connect to all addresses; last error: ipv4:10.1.2.3:50052: refused"
    status, body = rpc_error_body(rpc_error(code, raw))
    assert status == http_status
    error = body["error"]
    assert error["code"] == http_status and error["status"] == code.name
    assert "10.1.2.3" not in error["message"] and error["message"]
    assert error["details"] == [{"@type": ERROR_INFO, "reason": code.name, "domain": ERROR_DOMAIN}]


def test_details_trailer_contradicting_the_code_is_ignored() -> None:
    trailer = InvalidArgument.field("x", "y").to_status().trailing_metadata
    status, body = rpc_error_body(rpc_error(grpc.StatusCode.UNAVAILABLE, "down", trailer))
    assert status == 503 and body["error"]["status"] == "UNAVAILABLE"
    assert all(d["@type"] != BAD_REQUEST for d in body["error"]["details"])


def test_unknown_detail_type_is_named_not_dropped() -> None:
    unknown = any_pb2.Any(type_url="type.googleapis.com/acme.Secret", value=b"\x08\x01")
    proto = status_pb2.Status(code=code_pb2.NOT_FOUND, message="gone", details=[unknown])
    trailer = (("grpc-status-details-bin", proto.SerializeToString()),)
    status, body = rpc_error_body(rpc_error(grpc.StatusCode.NOT_FOUND, "gone", trailer))
    assert status == 404
    assert body["error"]["details"] == [{"@type": "type.googleapis.com/acme.Secret"}]


def test_error_body_shape() -> None:
    assert error_body(418, grpc.StatusCode.INVALID_ARGUMENT, "no") == {
        "error": {"code": 418, "status": "INVALID_ARGUMENT", "message": "no", "details": []}
    }


def fields_of(body: dict[str, Any]) -> list[str]:
    [bad_request] = [d for d in body["error"]["details"] if d["@type"] == BAD_REQUEST]
    return [v["field"] for v in bad_request["fieldViolations"]]


def test_validation_errors_become_one_violation_each() -> None:
    errors = [
        {"type": "missing", "loc": ("body", "slug"), "msg": "Field required"},
        {"type": "greater_than_equal", "loc": ("query", "page_size"), "msg": "must be >= 0"},
        {"type": "string_type", "loc": ("body", "billing_contacts", 1), "msg": "not a string"},
        {"type": "x", "loc": ("body", "plan", "a", 0, "b"), "msg": "bad"},
        {"type": "json_invalid", "loc": ("body", 17), "msg": "JSON decode error"},
        {"type": "model_attributes_type", "loc": ("body",), "msg": "not an object"},
        {"type": "string_too_long", "loc": ("header", "Idempotency-Key"), "msg": "too long"},
    ]
    status, body = validation_error_body(errors)
    assert status == 400 and body["error"]["code"] == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert fields_of(body) == [
        "slug",
        "page_size",
        "billing_contacts[1]",
        "plan.a[0].b",
        "body",
        "body",
        "Idempotency-Key",
    ]
    assert body["error"]["message"].startswith("invalid argument: slug: Field required; ")
    info = body["error"]["details"][0]
    assert info == {"@type": ERROR_INFO, "reason": "INVALID_ARGUMENT", "domain": ERROR_DOMAIN}


def test_validation_error_body_matches_a_services_invalid_argument() -> None:
    """A gateway-side and a service-side bad field read the same to a client."""
    _, from_gateway = validation_error_body(
        [{"type": "x", "loc": ("body", "tenant", "slug"), "msg": "is required"}]
    )
    _, from_tenancy = rpc_error_body(
        from_service(InvalidArgument.field("tenant.slug", "is required"))
    )
    assert from_gateway == from_tenancy


@pytest.mark.parametrize(
    ("http_status", "status"),
    [
        (400, "INVALID_ARGUMENT"),
        (404, "NOT_FOUND"),
        (405, "UNIMPLEMENTED"),
        (415, "INVALID_ARGUMENT"),
        (503, "UNAVAILABLE"),
        (502, "INTERNAL"),
    ],
)
def test_http_layer_errors_name_a_canonical_code(http_status: int, status: str) -> None:
    assert code_for_http_status(http_status).name == status
    body = http_error_body(http_status, "Not Found")
    assert body["error"]["code"] == http_status and body["error"]["status"] == status
    assert body["error"]["details"][0]["reason"] == status


def test_internal_error_body_is_generic() -> None:
    status, body = internal_error_body()
    assert status == 500
    assert body["error"] == {
        "code": 500,
        "status": "INTERNAL",
        "message": "internal error",
        "details": [{"@type": ERROR_INFO, "reason": "INTERNAL", "domain": ERROR_DOMAIN}],
    }
