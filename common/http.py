"""Small HTTP helpers shared by the outgoing API clients (DMarket, Sentry, Telegram)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime


def parse_retry_after_s(value: str | None, now_s: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait (RFC 9110: delta-seconds or an HTTP date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, moment - (time.time() if now_s is None else now_s))
