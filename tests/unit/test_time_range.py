"""The one time-range rule (shared.time_range) the telemetry reads share."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from shared.errors import InvalidArgument
from shared.time_range import DATETIMES, UNIX_NANOS, date_window, time_range, window


def _stamp(seconds: int, nanos: int = 0) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


def _violations(error: pytest.ExceptionInfo[InvalidArgument]) -> list[tuple[str, str]]:
    return [(v.field, v.description) for v in error.value.violations]


def test_an_open_range_keeps_both_bounds_open() -> None:
    requested = time_range(pb.ListUsageRecordsRequest())
    assert (requested.start, requested.end, requested.start_at, requested.end_at) == (
        None,
        None,
        None,
        None,
    )


def test_bounds_are_kept_to_the_nanosecond_and_read_as_datetimes() -> None:
    request = pb.ListUsageRecordsRequest(start_time=_stamp(10, 5), end_time=_stamp(20, 999))
    requested = time_range(request, store=UNIX_NANOS)
    assert (requested.start, requested.end) == (10_000_000_005, 20_000_000_999)
    assert requested.start_at == datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert requested.end_at == datetime(1970, 1, 1, 0, 0, 20, tzinfo=UTC)


def test_the_end_must_lie_after_the_start() -> None:
    for end in (10, 9):
        request = pb.ListUsageRecordsRequest(start_time=_stamp(10), end_time=_stamp(end))
        with pytest.raises(InvalidArgument) as refused:
            time_range(request)
        assert _violations(refused) == [("end_time", "must be after start_time")]


def test_every_bound_the_store_cannot_hold_is_named() -> None:
    request = pb.ListUsageRecordsRequest(start_time=_stamp(-1), end_time=_stamp(2**62))
    with pytest.raises(InvalidArgument) as refused:
        time_range(request, store=UNIX_NANOS)
    assert _violations(refused) == [
        ("start_time", "must lie between 1970 and 2262"),
        ("end_time", "must lie between 1970 and 2262"),
    ]
    # Before 1970 is a time a datetime column holds.
    assert time_range(pb.ListUsageRecordsRequest(start_time=_stamp(-1)), store=DATETIMES).start == (
        -1_000_000_000
    )


def test_a_window_defaults_its_end_to_now_and_its_start_a_window_before() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    used = window(pb.ListUsageRecordsRequest(), default=timedelta(days=1), now=now)
    assert (used.start_at, used.end_at) == (datetime(2026, 1, 1, tzinfo=UTC), now)
    assert used.stated() == {
        "start_time": _stamp(int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())),
        "end_time": _stamp(int(now.timestamp())),
    }


def test_a_default_start_is_no_earlier_than_the_store_holds() -> None:
    request = pb.ListUsageRecordsRequest(end_time=_stamp(60))
    used = window(request, default=timedelta(days=30), now=0, store=UNIX_NANOS)
    assert (used.start, used.end) == (0, 60_000_000_000)
    year_one = pb.ListUsageRecordsRequest(end_time=_stamp(-62135596800 + 60))
    assert window(year_one, default=timedelta(days=1), now=0).start == DATETIMES.lowest


def test_a_window_may_be_capped_in_length() -> None:
    request = pb.ListUsageRecordsRequest(start_time=_stamp(0), end_time=_stamp(3 * 86_400 + 1))
    with pytest.raises(InvalidArgument) as refused:
        window(request, default=timedelta(days=1), now=0, longest=timedelta(days=3))
    assert _violations(refused) == [("end_time", "must be at most 3 days after start_time")]
    exact = pb.ListUsageRecordsRequest(start_time=_stamp(0), end_time=_stamp(3 * 86_400))
    assert window(exact, default=timedelta(days=1), now=0, longest=timedelta(days=3)).end == (
        3 * 86_400 * 10**9
    )


def test_a_date_window_covers_today_and_the_days_before_by_default() -> None:
    today = date(2026, 3, 31)
    assert date_window(None, None, default=timedelta(days=30), today=today) == (
        date(2026, 3, 2),
        date(2026, 4, 1),
    )
    assert date_window(date(2026, 1, 1), None, default=timedelta(days=30), today=today) == (
        date(2026, 1, 1),
        date(2026, 4, 1),
    )
    # A default start no earlier than the first date (no overflow).
    assert date_window(None, date(1, 1, 5), default=timedelta(days=30), today=today) == (
        date.min,
        date(1, 1, 5),
    )


def test_a_date_window_ends_after_it_starts() -> None:
    for end in (date(2026, 1, 1), date(2025, 12, 31)):
        with pytest.raises(InvalidArgument) as refused:
            date_window(date(2026, 1, 1), end, default=timedelta(days=30), today=end)
        assert _violations(refused) == [("end_date", "must be after start_date")]
