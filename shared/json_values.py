"""JSON carried in protobuf's Struct and Value: conversion to Python and the checks every stored
JSON value needs (JSON has no NaN or Infinity; nothing endless)."""

from __future__ import annotations

import json
import math
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import ListValue, Struct, Value


def has_non_finite(message: Struct | ListValue | Value) -> bool:
    """Whether a number anywhere in ``message`` is NaN or infinite (JSON has neither)."""
    if isinstance(message, Struct):
        return any(has_non_finite(v) for v in message.fields.values())
    if isinstance(message, ListValue):
        return any(has_non_finite(v) for v in message.values)
    kind = message.WhichOneof("kind")
    if kind == "number_value":
        return not math.isfinite(message.number_value)
    if kind == "struct_value":
        return has_non_finite(message.struct_value)
    if kind == "list_value":
        return has_non_finite(message.list_value)
    return False


def json_problem(message: Struct | ListValue | Value, max_bytes: int) -> str | None:
    """Why ``message`` cannot be stored as JSON, or None."""
    if has_non_finite(message):
        return "must not contain NaN or infinite numbers"
    if len(json.dumps(MessageToDict(message))) > max_bytes:
        return f"must be at most {max_bytes} bytes as JSON"
    return None


#: Integral numbers up to this size come back as ints (protobuf holds every number as a double).
_EXACT_INTEGER_LIMIT = 2**53


def _integral_as_int(data: Any) -> Any:
    if isinstance(data, float) and data.is_integer() and abs(data) <= _EXACT_INTEGER_LIMIT:
        return int(data)
    if isinstance(data, dict):
        return {k: _integral_as_int(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_integral_as_int(v) for v in data]
    return data


def struct_to_dict(struct: Struct) -> dict[str, Any]:
    """The Struct as a dict, integral numbers as ints (so 5 stays 5 in a URL or a SQL parameter)."""
    return dict(_integral_as_int(MessageToDict(struct)))


def value_to_python(value: Value) -> Any:
    return _integral_as_int(MessageToDict(value))


def dict_to_struct(data: dict[str, Any] | None) -> Struct:
    struct = Struct()
    if data:
        struct.update(data)
    return struct


def python_to_value(data: Any) -> Value:
    return ParseDict(data, Value())
