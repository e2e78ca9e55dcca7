"""JSON Schema checks (tool configs, tool inputs), with each violation named by its JSON path."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from shared.errors import FieldViolation

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

MAX_VIOLATIONS = 20


def json_path(prefix: str, path: Any) -> str:
    """``prefix`` followed by the path into the instance: ``arguments.items[2].name``."""
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a usable JSON Schema, or None."""
    # jsonschema is imported at the first check (a tool's create or call), not at start.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"is not a valid JSON Schema: {exc.message}"
    return None


@functools.lru_cache(maxsize=512)
def _validator(encoded_schema: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(encoded_schema))


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator per distinct schema, built once (tools validate on every call)."""
    return _validator(json.dumps(schema, sort_keys=True))


def violations_of(schema: dict[str, Any], instance: Any, prefix: str) -> list[FieldViolation]:
    errors = sorted(
        validator_for(schema).iter_errors(instance), key=lambda e: list(e.absolute_path)
    )
    return [
        FieldViolation(json_path(prefix, error.absolute_path), error.message)
        for error in errors[:MAX_VIOLATIONS]
    ]
