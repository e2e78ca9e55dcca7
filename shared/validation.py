"""Input checks for handlers: collect every violation, then refuse once, naming each field
(AIP-193)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from google.protobuf.struct_pb2 import ListValue, Struct, Value

from shared.errors import FieldViolation, InvalidArgument
from shared.json_values import json_problem

#: Longest request_id (idempotency key) a caller may send; the gateway checks it too.
MAX_REQUEST_ID_LENGTH = 255
#: Serialized JSON size of one policy, config or schema.
MAX_JSON_BYTES = 64 * 1024
MAX_LIST_ITEMS = 100


class Violations:
    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, problem: str | None) -> None:
        if problem:
            self.items.append(FieldViolation(field, problem))

    def text(self, field: str, value: str, maximum: int, *, required: bool = False) -> None:
        if required and not value.strip():
            self.add(field, "is required")
        elif len(value) > maximum:
            self.add(field, f"must be at most {maximum} characters")
        elif value and not value.isprintable() and "\n" not in value:
            self.add(field, "must not contain control characters")

    def strings(self, field: str, values: Sequence[str], maximum: int) -> None:
        if len(values) > MAX_LIST_ITEMS:
            self.add(field, f"may hold at most {MAX_LIST_ITEMS} items")
            return
        for i, value in enumerate(values):
            self.text(f"{field}[{i}]", value, maximum, required=True)

    def uuid(self, field: str, value: str) -> UUID | None:
        if not value:
            return None
        try:
            return UUID(value)
        except ValueError:
            self.add(field, "must be a UUID")
            return None

    def required_uuid(self, field: str, value: str) -> UUID | None:
        if not value:
            self.add(field, "is required")
            return None
        return self.uuid(field, value)

    def json(self, field: str, message: Struct | ListValue | Value) -> None:
        self.add(field, json_problem(message, MAX_JSON_BYTES))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)
