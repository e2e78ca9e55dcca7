from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.errors import InvalidArgument
from shared.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageTokenCodec, page_size_from


def test_token_round_trips_typed_positions() -> None:
    codec = PageTokenCodec(b"k")
    position = [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), uuid.uuid4(), 7, "x"]
    token = codec.encode("Svc.List", {"status": "active"}, position)
    assert codec.decode(token, "Svc.List", {"status": "active"}) == position


def test_token_is_opaque() -> None:
    row_id = uuid.uuid4()
    token = PageTokenCodec(b"k").encode("Svc.List", {}, [row_id])
    assert str(row_id) not in token and row_id.hex not in token


@pytest.mark.parametrize(
    ("query", "filters", "secret"),
    [
        ("Other.List", {}, b"k"),
        ("Svc.List", {"status": "deleted"}, b"k"),
        ("Svc.List", {}, b"another key"),
    ],
)
def test_token_from_another_query_filter_or_key_is_refused(
    query: str, filters: dict[str, str], secret: bytes
) -> None:
    token = PageTokenCodec(b"k").encode("Svc.List", {}, [1])
    with pytest.raises(InvalidArgument) as caught:
        PageTokenCodec(secret).decode(token, query, filters)
    assert caught.value.violations[0].field == "page_token"


@pytest.mark.parametrize("garbage", ["", "!!!", "abc", "A" * 80])
def test_garbage_tokens_are_invalid_argument(garbage: str) -> None:
    with pytest.raises(InvalidArgument):
        PageTokenCodec(b"k").decode(garbage, "Svc.List", {})


def test_page_size_defaults_caps_and_refuses_negative() -> None:
    assert page_size_from(0) == DEFAULT_PAGE_SIZE
    assert page_size_from(5) == 5
    assert page_size_from(10**6) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        page_size_from(-1)
