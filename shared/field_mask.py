"""AIP-134 update masks: which fields an Update call changes."""

from __future__ import annotations

from collections.abc import Collection

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from shared.errors import FieldViolation, InvalidArgument


def paths_to_update(
    mask: FieldMask,
    resource: Message,
    updatable: Collection[str],
    *,
    mask_field: str = "update_mask",
) -> list[str]:
    """The validated paths of ``mask``; an empty mask means every updatable field that is set."""
    if not mask.paths:
        paths = [f.name for f, _ in resource.ListFields() if f.name in updatable]
        if not paths:
            raise InvalidArgument.field(mask_field, "names no field, and the resource sets none")
        return paths
    unknown = [p for p in mask.paths if p not in updatable]
    if unknown:
        raise InvalidArgument(
            [
                FieldViolation(
                    mask_field,
                    f"'{path}' cannot be updated; updatable fields: {', '.join(sorted(updatable))}",
                )
                for path in unknown
            ]
        )
    return list(dict.fromkeys(mask.paths))
