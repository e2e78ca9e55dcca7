"""JSON values protobuf can carry: request types that refuse what it cannot (Struct conversions
are :mod:`shared.json_values`).

Input that cannot be encoded into a protobuf message (unpaired surrogates, NaN, integers past
int64, deeply nested objects) is refused while the request is validated, as a 400 naming the
field; left to the encoder, it would fail later as an internal error (500).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

#: The largest value of a protobuf int64 field, such as a version.
INT64_MAX = 2**63 - 1
#: The largest value of a protobuf int32 field, such as a page size.
INT32_MAX = 2**31 - 1
#: Struct numbers are doubles: larger integers would come back altered.
MAX_EXACT_INTEGER = 2**53
#: Each JSON level is two protobuf levels in a Struct; protobuf refuses to nest past 100.
MAX_JSON_DEPTH = 32


def _is_text(value: str) -> bool:
    """False for strings with unpaired surrogates (JSON allows ``"\\ud800"``; UTF-8 does not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: str) -> str:
    if not _is_text(value):
        raise PydanticCustomError("invalid_text", "must be valid Unicode text")
    return value


def _json_problem(value: Any, path: str, depth: int) -> str | None:
    where = f" at {path}" if path else ""
    if depth > MAX_JSON_DEPTH:
        return f"nests deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if not _is_text(key):
                return f"has a key that is not valid Unicode text{where}"
            if problem := _json_problem(item, f"{path}.{key}" if path else key, depth + 1):
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if problem := _json_problem(item, f"{path}[{index}]", depth + 1):
                return problem
    elif isinstance(value, str) and not _is_text(value):
        return f"holds a string that is not valid Unicode text{where}"
    elif isinstance(value, float) and not math.isfinite(value):
        return f"holds a number that is not finite{where}"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT_INTEGER:
        return f"holds an integer beyond ±2^53, which would lose precision{where}"
    return None


def refuse_null(value: Any) -> Any:
    """A before-validator for fields of an update that have no "clear" meaning: null is refused
    rather than read as a reset."""
    if value is None:
        raise PydanticCustomError("null_refused", "may be left out, but not null")
    return value


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    if problem := _json_problem(value, "", 1):
        raise PydanticCustomError("invalid_json_object", problem)
    return value


def _json_value(value: Any) -> Any:
    if problem := _json_problem(value, "", 1):
        raise PydanticCustomError("invalid_json_value", problem)
    return value


Text = Annotated[str, AfterValidator(_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
#: Any JSON value (a google.protobuf.Value), refused when protobuf could not carry it.
JsonValue = Annotated[Any, AfterValidator(_json_value)]
Version = Annotated[
    int,
    Field(ge=1, le=INT64_MAX, description="The version you read; a stale one is refused (409)."),
]
