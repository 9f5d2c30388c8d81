"""Retry-After parsing shared by the DMarket, Sentry and Telegram clients."""

from __future__ import annotations

import pytest

from common.http import MAX_RETRY_AFTER_S, parse_retry_after_s


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 40.0),  # an HTTP date, 40 s after now=60
        ("1e308", MAX_RETRY_AFTER_S),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_bounded_and_finite(header: str | None, expected: float | None) -> None:
    assert parse_retry_after_s(header, now_s=60.0) == expected
