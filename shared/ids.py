"""Resource ids in requests: UUIDs, refused with a message naming the field when malformed."""

from __future__ import annotations

import uuid

from shared.errors import InvalidArgument


def parse_id(value: str, field: str) -> uuid.UUID:
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.field(field, "must be a UUID") from None
