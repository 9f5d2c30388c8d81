"""Small HTTP helpers shared by the outgoing API clients (DMarket, Sentry, Telegram)."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime

# No server asks for more than minutes; a larger value is a bug or an attack, and would stall a worker.
MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after_s(value: str | None, now_s: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait (RFC 9110: delta-seconds or an HTTP date), capped at an hour;
    None if absent or unreadable (including inf and nan)."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (time.time() if now_s is None else now_s)
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)
