"""Conversions between aware datetimes and google.protobuf.Timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import overload

from google.protobuf.timestamp_pb2 import Timestamp

from shared.errors import InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The window a usage or cost report covers when the caller names none: the last 30 days.
REPORT_WINDOW = timedelta(days=30)


@overload
def to_timestamp(value: datetime) -> Timestamp: ...
@overload
def to_timestamp(value: None) -> None: ...
@overload
def to_timestamp(value: datetime | None) -> Timestamp | None: ...
def to_timestamp(value: datetime | None) -> Timestamp | None:
    """The moment as a Timestamp (a naive datetime is taken as local time, as ``astimezone``
    does); what ``Timestamp.FromDatetime`` makes, for about a fifth of its CPU."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone(UTC)
    since = value - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def from_timestamp(stamp: Timestamp, field: str = "timestamp") -> datetime:
    """The stamp as an aware datetime; one no datetime can hold is bad input naming ``field``.

    Requests reach handlers with every timestamp already range-checked (shared.decoding); this
    guards stamps built in code, so none turns into INTERNAL either.
    """
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field, "must lie between the years 1 and 9999") from None
