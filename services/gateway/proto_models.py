"""Response models mapped from the proto descriptors: a JSON resource is declared by its message.

::

    class Tenant(ProtoModel, message=pb.Tenant):
        domain: str | None = Field(description="The tenant's unique DNS domain, null when none.")

Every field of the message becomes a field of the model, with the type its descriptor gives and
this API's JSON conventions, and :meth:`ProtoModel.from_proto` fills them all; a field is
declared only to say more than the descriptor does: a description, that it may be null, a
narrower type. The conventions:

- names are protobuf's (snake_case); a name pydantic reserves (``model_config``) is an alias;
- int32/int64 are JSON numbers, float/double numbers, bool and string as they are;
- an enum is its value's short name (``TENANT_STATUS_ACTIVE`` is ``active``, see
  :mod:`shared.proto_enums`); its zero value means "not set": null where the field may be null,
  refused otherwise, unless ``zero=`` names it (``zero={"kind": "unspecified"}``);
- a Timestamp is an RFC 3339 time in UTC; a Struct a JSON object (a google.protobuf.Value any
  JSON value, a ListValue a JSON array) whose whole numbers come back as the integers they were
  sent as;
- a message is the ProtoModel defined for it in the same module (one from another module is
  declared: ``tenant: Tenant``);
- a field named in ``nullable=`` (or declared ``X | None``) is null when it is empty: unset
  when it has presence (a message, a Timestamp, a proto3 ``optional``), otherwise when it holds
  its zero value (``""``, ``0``, the zero enum); an undeclared proto3 ``optional`` field is
  null when unset by itself, unless ``unset=`` gives its value (``unset={"enabled": True}``).

A field the JSON leaves out is listed in ``exclude=``; a field the message does not have (a
value computed from others) is declared and filled by overriding :meth:`ProtoModel.proto_values`.
"""

from __future__ import annotations

import functools
import inspect
import operator
import sys
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal, Self, cast

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import ListValue, Struct, Value
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from shared.json_values import struct_to_dict, value_to_python
from shared.proto_descriptors import AnyEnumDescriptor, AnyFieldDescriptor, MessageDescriptor
from shared.proto_enums import EnumT, enum_descriptor, enum_names, enum_numbers
from shared.timestamps import from_timestamp

Reader = Callable[[Any], Any]

_TIMESTAMP = Timestamp.DESCRIPTOR.full_name
_STRUCT = Struct.DESCRIPTOR.full_name
_VALUE = Value.DESCRIPTOR.full_name
_LIST_VALUE = ListValue.DESCRIPTOR.full_name
_SCALAR_TYPES: Mapping[int, type] = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
    **dict.fromkeys(
        (
            FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_INT64,
            FieldDescriptor.TYPE_UINT32,
            FieldDescriptor.TYPE_UINT64,
            FieldDescriptor.TYPE_SINT32,
            FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_FIXED32,
            FieldDescriptor.TYPE_FIXED64,
            FieldDescriptor.TYPE_SFIXED32,
            FieldDescriptor.TYPE_SFIXED64,
        ),
        int,
    ),
}


def _is_repeated(field: AnyFieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _is_map(field: AnyFieldDescriptor) -> bool:
    message = field.message_type
    return message is not None and message.GetOptions().map_entry and _is_repeated(field)


def _message_of(field: AnyFieldDescriptor) -> MessageDescriptor:
    """The message type of a message field (a map's entry included), which it always has."""
    if field.message_type is None:
        raise TypeError(f"{field.full_name}: not a message field")
    return field.message_type


def _enum_of(field: AnyFieldDescriptor) -> AnyEnumDescriptor:
    """The enum type of an enum field, which it always has."""
    if field.enum_type is None:
        raise TypeError(f"{field.full_name}: not an enum field")
    return field.enum_type


def _enum_type(enum: AnyEnumDescriptor, zero: str | None) -> Any:
    """The names of ``enum``'s values, the zero value only as ``zero`` (when not None)."""
    names = [name for number, name in enum_names(enum).items() if number != 0]
    return Literal[tuple(dict.fromkeys(names if zero is None else [zero, *names]))]


def _model_for(message: MessageDescriptor, module: str, field: str) -> type[ProtoModel]:
    """The one ProtoModel of ``message`` defined in ``module`` (the declaring class's). Imported
    ones do not count: a field of a model from elsewhere is declared, which also keeps linters
    from dropping the import as unused."""
    namespace = vars(sys.modules[module])
    found = {
        value
        for value in namespace.values()
        if isinstance(value, type)
        and issubclass(value, ProtoModel)
        and value.__module__ == module
        and getattr(value, "proto_message", None) is message
    }
    if len(found) != 1:
        names = sorted(model.__name__ for model in found) or "none"
        raise TypeError(
            f"{field}: which ProtoModel of {message.full_name}? Defined in {module}: {names}; "
            "declare the field"
        )
    return found.pop()


def _element_type(field: AnyFieldDescriptor, module: str, zero: str | None = None) -> Any:
    """The Python type of one value of ``field`` (an element, when it is repeated)."""
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_type(_enum_of(field), zero)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        name = _message_of(field).full_name
        if name == _TIMESTAMP:
            return datetime
        if name == _STRUCT:
            return dict[str, Any]
        if name == _VALUE:
            return Any
        if name == _LIST_VALUE:
            return list[Any]
        return _model_for(_message_of(field), module, field.full_name)
    if field.type not in _SCALAR_TYPES:
        raise TypeError(f"{field.full_name}: no JSON mapping for this field type")
    return _SCALAR_TYPES[field.type]


def _derived_type(field: AnyFieldDescriptor, module: str, nullable: bool, zero: str | None) -> Any:
    """The type of an undeclared field, from its descriptor and the model's options; a message
    field is the ProtoModel of its message defined in ``module``."""
    if nullable:
        return _derived_type(field, module, False, zero) | None
    if _is_map(field):
        entry = _message_of(field)
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        # Types built at run time from the descriptor, which a static checker cannot follow.
        return dict[_element_type(key, module), _element_type(value, module)]  # type: ignore[misc]
    element = _element_type(field, module, zero)
    if _is_repeated(field):
        return list[element]  # type: ignore[valid-type]  # built at run time, as above
    if field.has_presence and field.type != FieldDescriptor.TYPE_MESSAGE:
        return element | None
    return element


def _without_none(annotation: Any) -> tuple[Any, bool]:
    """The annotation without None, and whether it allowed None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) < len(typing.get_args(annotation)):
            return functools.reduce(operator.or_, args), True
    return annotation, False


def _model_in(annotation: Any) -> type[ProtoModel] | None:
    """The ProtoModel an annotation names (itself, or the element of a list)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, ProtoModel):
            return candidate
    return None


def _value_reader(field: AnyFieldDescriptor, annotation: Any, zero: str | None) -> Reader:
    """Turns one value of ``field`` (an element, when repeated) into its JSON-ready form."""
    if field.type == FieldDescriptor.TYPE_ENUM:
        names = dict(enum_names(_enum_of(field)))
        if zero is not None:
            names[0] = zero
        return lambda number: names.get(number, number)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        name = _message_of(field).full_name
        if name == _TIMESTAMP:
            return from_timestamp
        if name == _STRUCT:
            return struct_to_dict
        if name in (_VALUE, _LIST_VALUE):
            return value_to_python
        model = _model_in(annotation)
        if model is None:
            raise TypeError(f"{field.full_name}: declared as {annotation}, not as a ProtoModel")
        return model.proto_values
    return _as_is


def _as_is(value: Any) -> Any:
    return value


def _field_reader(
    field: AnyFieldDescriptor, annotation: Any, zero: str | None, when_unset: Any
) -> Reader | None:
    """Reads ``field`` from a message as a model field of type ``annotation`` holds it; None for
    a field whose value is taken as it is (read in bulk, the hot case)."""
    python_name = field.name
    inner, nullable = _without_none(annotation)
    if _is_map(field):
        value_field = _message_of(field).fields_by_name["value"]
        read_value = _value_reader(value_field, typing.get_args(inner)[-1], zero)
        return lambda message: {
            key: read_value(value) for key, value in getattr(message, python_name).items()
        }
    read = _value_reader(field, inner, zero)
    if _is_repeated(field):
        return lambda message: [read(value) for value in getattr(message, python_name)]
    if field.has_presence:
        if nullable:
            when_unset = None
        if when_unset is None and not nullable and field.type == FieldDescriptor.TYPE_MESSAGE:
            # A message field that may not be null reads its defaults, as protobuf does.
            return lambda message: read(getattr(message, python_name))
        if when_unset is None and not nullable:
            return None

        def read_present(message: Any) -> Any:
            if message.HasField(python_name):
                return read(getattr(message, python_name))
            return when_unset

        return read_present
    if nullable:
        return lambda message: read(value) if (value := getattr(message, python_name)) else None
    if read is _as_is:
        return None
    return lambda message: read(getattr(message, python_name))


class _MessageReader:
    """How a model reads its message: the fields taken as they are in one attrgetter call, the
    others each with its reader."""

    def __init__(self, as_is: tuple[str, ...], converted: tuple[tuple[str, Reader], ...]) -> None:
        self.as_is = as_is
        self.converted = converted
        getter = operator.attrgetter(*as_is) if as_is else None
        if getter is None:
            self.read_as_is: Callable[[Any], tuple[Any, ...]] = lambda message: ()
        elif len(as_is) == 1:
            self.read_as_is = lambda message: (getter(message),)
        else:
            self.read_as_is = getter


def _attribute_name(field_name: str) -> str:
    """The Python name of a field: its own, unless BaseModel has an attribute of that name."""
    return f"{field_name}_" if hasattr(BaseModel, field_name) else field_name


class ProtoModel(BaseModel):
    """A JSON resource declared by the protobuf message it maps (see the module's docstring)."""

    proto_message: ClassVar[MessageDescriptor]
    #: The fields left out of the JSON.
    proto_excluded: ClassVar[frozenset[str]] = frozenset()
    #: The names enum fields give their zero value, and the values of unset optional fields.
    proto_zero_names: ClassVar[Mapping[str, str]] = {}
    proto_unset_values: ClassVar[Mapping[str, Any]] = {}
    _proto_mapping: ClassVar[_MessageReader | None] = None

    def __init_subclass__(
        cls,
        message: type[Message] | None = None,
        nullable: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        zero: Mapping[str, str] | None = None,
        unset: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # Runs before pydantic collects the fields: the message's fields join the declared ones,
        # in the message's order, declared-only fields (computed ones) last.
        super().__init_subclass__(**kwargs)
        if message is None:
            return
        descriptor = message.DESCRIPTOR
        cls.proto_message = descriptor
        cls.proto_excluded = frozenset(exclude)
        cls.proto_zero_names = dict(zero or {})
        cls.proto_unset_values = dict(unset or {})
        cls._proto_mapping = None
        named = {*exclude, *nullable, *cls.proto_zero_names, *cls.proto_unset_values}
        if unknown := named - set(descriptor.fields_by_name):
            raise TypeError(f"{cls.__name__}: {descriptor.full_name} has no fields {unknown}")
        declared: dict[str, Any] = dict(inspect.get_annotations(cls))
        annotations: dict[str, Any] = {}
        for field in descriptor.fields:
            if field.name in cls.proto_excluded:
                continue
            name = _attribute_name(field.name)
            if name in declared:
                annotations[name] = declared.pop(name)
            else:
                annotations[name] = _derived_type(
                    field,
                    cls.__module__,
                    field.name in nullable,
                    cls.proto_zero_names.get(field.name),
                )
            if name != field.name and name not in cls.__dict__:
                setattr(cls, name, Field(alias=field.name))
        annotations.update(declared)
        cls.__annotations__ = annotations

    @classmethod
    def _mapping(cls) -> _MessageReader:
        mapping = cls.__dict__.get("_proto_mapping")
        if mapping is None:
            fields = cls.model_fields
            as_is: list[str] = []
            converted: list[tuple[str, Reader]] = []
            for field in cls.proto_message.fields:
                if field.name in cls.proto_excluded:
                    continue
                reader = _field_reader(
                    field,
                    fields[_attribute_name(field.name)].annotation,
                    cls.proto_zero_names.get(field.name),
                    cls.proto_unset_values.get(field.name),
                )
                if reader is None:
                    as_is.append(field.name)
                else:
                    converted.append((field.name, reader))
            mapping = _MessageReader(tuple(as_is), tuple(converted))
            cls._proto_mapping = mapping
        return mapping

    @classmethod
    def proto_values(cls, message: Any) -> dict[str, Any]:
        """The JSON-ready values of ``message``'s fields, by JSON name (override to add more)."""
        mapping = cls._mapping()
        values = dict(zip(mapping.as_is, mapping.read_as_is(message), strict=True))
        for name, read in mapping.converted:
            values[name] = read(message)
        return values

    @classmethod
    def from_proto(cls, message: Any) -> Self:
        return cls.model_validate(cls.proto_values(message))


def enum_number(enum: type[EnumT], name: str | None) -> EnumT:
    """The number of the value ``name`` of ``enum`` (as :mod:`shared.proto_enums` names it), 0
    for None: how a request's optional enum goes to protobuf."""
    number = 0 if name is None else enum_numbers(enum_descriptor(enum))[name]
    return cast(EnumT, number)  # every number the enum declares is one of its values
