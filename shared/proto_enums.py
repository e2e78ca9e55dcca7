"""Protobuf enum values by their short names, derived from the descriptors, never written by hand.

A proto enum's values carry the enum's name as a prefix (``TENANT_STATUS_ACTIVE`` in
``TenantStatus``); the short name drops it and is lowercase (``active``), as the JSON API and the
tables write them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TypeVar, cast

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from shared.proto_descriptors import AnyEnumDescriptor

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
ValueT = TypeVar("ValueT")
#: A generated enum as its type stubs declare it: an int subclass whose metaclass is its
#: EnumTypeWrapper (at run time, the module attribute is that wrapper).
EnumT = TypeVar("EnumT", bound=int)


def value_prefix(enum: AnyEnumDescriptor) -> str:
    """``TENANT_STATUS_`` for ``TenantStatus``: what every value's name starts with."""
    return _WORD_BOUNDARY.sub("_", enum.name).upper() + "_"


@cache
def enum_names(enum: AnyEnumDescriptor) -> Mapping[int, str]:
    """Each value's number and short name: ``{1: "active", ...}``, the zero value included."""
    prefix = value_prefix(enum)
    return {value.number: value.name.removeprefix(prefix).lower() for value in enum.values}


@cache
def enum_numbers(enum: AnyEnumDescriptor) -> Mapping[str, int]:
    """The reverse of :func:`enum_names`: ``{"active": 1, ...}``."""
    return {name: number for number, name in enum_names(enum).items()}


def enum_descriptor(enum: type[EnumT]) -> EnumDescriptor:
    """The descriptor of a generated enum (``pb.TenantStatus``)."""
    return cast(EnumTypeWrapper, enum).DESCRIPTOR


def to_proto_map(enum: type[EnumT], values: Iterable[ValueT]) -> dict[ValueT, EnumT]:
    """``{value: number}`` for stored values named as the proto's short names (a StrEnum's
    members or plain strings): the hand-written enum map, derived. A value the proto does not
    declare fails at import, so the two cannot drift apart."""
    descriptor = enum_descriptor(enum)
    numbers = enum_numbers(descriptor)
    missing = [str(value) for value in values if str(value) not in numbers]
    if missing:
        raise ValueError(f"{descriptor.full_name} declares no value for {', '.join(missing)}")
    # Each number is one the enum declares, so one of its values.
    return {value: cast(EnumT, numbers[str(value)]) for value in values}
