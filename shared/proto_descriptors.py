"""Descriptor types as the protobuf type stubs name them.

A message's ``DESCRIPTOR`` is protobuf's pure-Python descriptor class or, on the upb backend
protobuf runs on by default, its C counterpart; the stubs keep the two apart, so code that walks
descriptors takes either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from google.protobuf import descriptor

if TYPE_CHECKING:
    from google._upb import _message as upb

MessageDescriptor: TypeAlias = "descriptor.Descriptor | upb.Descriptor"
AnyFieldDescriptor: TypeAlias = "descriptor.FieldDescriptor | upb.FieldDescriptor"
AnyEnumDescriptor: TypeAlias = "descriptor.EnumDescriptor | upb.EnumDescriptor"
