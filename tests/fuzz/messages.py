"""Hypothesis strategies for protobuf messages, built from their descriptors: random valid
messages (every field kind, extreme numbers, unknown enum values, nesting, maps, well-known
types), random bytes, and truncated encodings of valid messages."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor, message_factory, timestamp_pb2
from google.protobuf.message import Message
from hypothesis import strategies as st

FD = descriptor.FieldDescriptor
_TIMESTAMP = "google.protobuf.Timestamp"
#: How deep generated messages nest (a Struct would recurse forever otherwise).
MAX_DEPTH = 3

_INT32 = st.one_of(
    st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1)
)
_INT64 = st.one_of(
    st.sampled_from([0, 1, -1, 2**62, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1)
)
_UINT32 = st.one_of(st.sampled_from([0, 1, 2**32 - 1]), st.integers(0, 2**32 - 1))
_UINT64 = st.one_of(st.sampled_from([0, 1, 2**64 - 1]), st.integers(0, 2**64 - 1))
_TEXT = st.one_of(
    st.sampled_from(
        ["", " ", "00000000-0000-0000-0000-000000000000", "a" * 300, "../../etc", "%00", "😀"]
    ),
    st.uuids().map(str),
    st.text(max_size=40),
)
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FD.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    FD.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    FD.TYPE_INT64: _INT64,
    FD.TYPE_SINT64: _INT64,
    FD.TYPE_SFIXED64: _INT64,
    FD.TYPE_UINT64: _UINT64,
    FD.TYPE_FIXED64: _UINT64,
    FD.TYPE_INT32: _INT32,
    FD.TYPE_SINT32: _INT32,
    FD.TYPE_SFIXED32: _INT32,
    FD.TYPE_UINT32: _UINT32,
    FD.TYPE_FIXED32: _UINT32,
    FD.TYPE_BOOL: st.booleans(),
    FD.TYPE_STRING: _TEXT,
    FD.TYPE_BYTES: st.binary(max_size=40),
}


def _enum_values(field: FD) -> st.SearchStrategy[int]:
    known = [value.number for value in field.enum_type.values]
    return st.one_of(st.sampled_from(known), st.integers(-5, 1000))


#: Times every proto accepts but not every store can hold: year 1, before 1970, after 2262.
_TIMESTAMPS = st.builds(
    timestamp_pb2.Timestamp,
    seconds=st.one_of(
        st.sampled_from([-62135596800, -32000000000, -1, 0, 1_800_000_000, 253402300799]),
        st.integers(-62135596800, 253402300799),
    ),
    nanos=st.integers(0, 999_999_999),
)


def _value_of(field: FD, depth: int) -> st.SearchStrategy[Any] | None:
    if field.message_type is not None and field.message_type.full_name == _TIMESTAMP:
        return st.one_of(_TIMESTAMPS, messages(field.message_type, depth + 1))
    if field.type == FD.TYPE_MESSAGE:
        return None if depth >= MAX_DEPTH else messages(field.message_type, depth + 1)
    if field.type == FD.TYPE_ENUM:
        return _enum_values(field)
    return _SCALARS[field.type]


@st.composite
def _filled(draw: st.DrawFn, message_type: descriptor.Descriptor, depth: int) -> Message:
    message = message_factory.GetMessageClass(message_type)()
    # Sparse messages too: a request with one or two fields set reaches the handler's later
    # steps, past the checks a field left at random would fail.
    chance = draw(st.sampled_from([0.15, 0.5, 0.9]))
    for field in message_type.fields:
        if draw(st.integers(0, 99)) >= chance * 100:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = field.message_type.fields
            values = _value_of(value_field, depth)
            if values is None:
                continue
            for _ in range(draw(st.integers(0, 3))):
                key = draw(_SCALARS[key_field.type])
                if value_field.type == FD.TYPE_MESSAGE:
                    getattr(message, field.name)[key].CopyFrom(draw(values))
                else:
                    getattr(message, field.name)[key] = draw(values)
            continue
        values = _value_of(field, depth)
        if values is None:
            continue
        if field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(values, max_size=3)))
        elif field.type == FD.TYPE_MESSAGE:
            getattr(message, field.name).CopyFrom(draw(values))
        else:
            setattr(message, field.name, draw(values))
    return message


def messages(message_type: descriptor.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Random messages of ``message_type``, every field set or not."""
    return _filled(message_type, depth)


@st.composite
def _truncated(draw: st.DrawFn, message_type: descriptor.Descriptor) -> bytes:
    encoded = draw(messages(message_type)).SerializeToString()
    if not encoded:
        return b"\x0a"  # a length-delimited field 1 with no length
    return encoded[: draw(st.integers(0, len(encoded) - 1))]


def payloads(message_type: descriptor.Descriptor) -> st.SearchStrategy[bytes]:
    """Encoded requests: valid messages, random bytes, or a valid encoding cut short."""
    return st.one_of(
        messages(message_type).map(lambda message: message.SerializeToString()),
        st.binary(max_size=64),
        _truncated(message_type),
    )
