"""The one rule for the time range a request names: ``[start, end)``.

Either bound may be left open, or defaulted (the end to now, the start a window before the end);
each bound given must be a time the store can hold; the end must lie after the start; a range may
be capped in length. Every bound a request names is checked, and each bad one is named.

Bounds are compared as integer Unix nanoseconds, so a store that keeps nanoseconds loses no
precision; :attr:`TimeRange.start_at` and :attr:`TimeRange.end_at` give them as datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from shared.errors import FieldViolation, InvalidArgument

NANOS_PER_SECOND = 1_000_000_000
#: The latest time a signed 64-bit count of Unix nanoseconds holds (in 2262).
MAX_UNIX_NANO = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A bound as compared: Unix nanoseconds, or a whole day.
BoundT = TypeVar("BoundT", int, date)


def _nanos_of(moment: datetime) -> int:
    since = moment - _EPOCH
    return (since.days * 86_400 + since.seconds) * NANOS_PER_SECOND + since.microseconds * 1000


def _span_nanos(span: timedelta) -> int:
    return _nanos_of(_EPOCH + span)


def _datetime_of(nanos: int) -> datetime:
    return _EPOCH + timedelta(microseconds=nanos // 1000)


@dataclass(frozen=True)
class Store:
    """The times a store can hold, inclusive, and how a bound outside them is refused."""

    lowest: int
    highest: int
    out_of_range: str


#: Times kept as datetimes: any google.protobuf.Timestamp (years 1 to 9999).
DATETIMES = Store(
    _nanos_of(datetime(1, 1, 1, tzinfo=UTC)),
    _nanos_of(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) + 999,
    "must lie between the years 1 and 9999",
)
#: Times kept as Unix nanoseconds in a signed 64-bit column.
UNIX_NANOS = Store(0, MAX_UNIX_NANO, "must lie between 1970 and 2262")


class RangeRequest(Protocol):
    def HasField(self, field_name: str) -> bool: ...  # noqa: N802 - protobuf's name


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` in Unix nanoseconds; None where the range is open."""

    start: int | None
    end: int | None

    @property
    def start_at(self) -> datetime | None:
        return None if self.start is None else _datetime_of(self.start)

    @property
    def end_at(self) -> datetime | None:
        return None if self.end is None else _datetime_of(self.end)


@dataclass(frozen=True)
class Window:
    """A closed ``[start, end)`` in Unix nanoseconds: what a report covered."""

    start: int
    end: int

    @property
    def start_at(self) -> datetime:
        return _datetime_of(self.start)

    @property
    def end_at(self) -> datetime:
        return _datetime_of(self.end)

    def stated(self) -> dict[str, Timestamp]:
        """The window as a response's ``start_time`` and ``end_time`` state it."""
        stated = {"start_time": Timestamp(), "end_time": Timestamp()}
        stated["start_time"].FromNanoseconds(self.start)
        stated["end_time"].FromNanoseconds(self.end)
        return stated


def _bound(stamp: Timestamp, field: str, store: Store) -> int:
    if not 0 <= stamp.nanos < NANOS_PER_SECOND:
        raise InvalidArgument.field(field, "nanos must be between 0 and 999,999,999")
    nanos = stamp.seconds * NANOS_PER_SECOND + stamp.nanos
    if not store.lowest <= nanos <= store.highest:
        raise InvalidArgument.field(field, store.out_of_range)
    return nanos


def _bounds(
    request: RangeRequest, start_field: str, end_field: str, store: Store
) -> tuple[int | None, int | None]:
    violations: list[FieldViolation] = []
    bounds: list[int | None] = []
    for field in (start_field, end_field):
        bounds.append(None)
        if request.HasField(field):
            try:
                bounds[-1] = _bound(getattr(request, field), field, store)
            except InvalidArgument as bad:
                violations.extend(bad.violations)
    if violations:
        raise InvalidArgument(violations)
    return bounds[0], bounds[1]


def _end_after_start(start: BoundT, end: BoundT, start_field: str, end_field: str) -> None:
    if end <= start:
        raise InvalidArgument.field(end_field, f"must be after {start_field}")


def _check_order(
    start: int, end: int, start_field: str, end_field: str, longest: timedelta | None
) -> None:
    _end_after_start(start, end, start_field, end_field)
    if longest is not None and end - start > _span_nanos(longest):
        raise InvalidArgument.field(
            end_field, f"must be at most {longest.days} days after {start_field}"
        )


def time_range(
    request: RangeRequest,
    *,
    start_field: str = "start_time",
    end_field: str = "end_time",
    store: Store = DATETIMES,
    longest: timedelta | None = None,
) -> TimeRange:
    """The range ``request`` names in ``start_field`` and ``end_field``, either bound open.

    Bad input is INVALID_ARGUMENT naming every bad bound, or the end when it is not after the
    start (or, with ``longest``, lies further after it).
    """
    start, end = _bounds(request, start_field, end_field, store)
    if start is not None and end is not None:
        _check_order(start, end, start_field, end_field, longest)
    return TimeRange(start, end)


def window(
    request: RangeRequest,
    *,
    default: timedelta,
    now: datetime | int,
    start_field: str = "start_time",
    end_field: str = "end_time",
    store: Store = DATETIMES,
    longest: timedelta | None = None,
) -> Window:
    """The closed window a report covers: the end defaults to ``now`` (a datetime or Unix
    nanoseconds), the start to ``default`` before the end (no earlier than the store holds);
    checked as :func:`time_range` checks a range."""
    start, end = _bounds(request, start_field, end_field, store)
    if end is None:
        now_nanos = now if isinstance(now, int) else _nanos_of(now)
        end = min(max(now_nanos, store.lowest), store.highest)
    if start is None:
        start = max(end - _span_nanos(default), store.lowest)
    _check_order(start, end, start_field, end_field, longest)
    return Window(start, end)


def date_window(
    start: date | None,
    end: date | None,
    *,
    default: timedelta,
    today: date,
    start_field: str = "start_date",
    end_field: str = "end_date",
) -> tuple[date, date]:
    """The whole days ``[start, end)`` a report covers, by :func:`window`'s rule: the end
    defaults to tomorrow (today included), the start to ``default`` before the end (no earlier
    than the first date), and the end must lie after the start."""
    if end is None:
        end = today + timedelta(days=1)
    if start is None:
        start = end - default if end - date.min > default else date.min
    _end_after_start(start, end, start_field, end_field)
    return start, end
