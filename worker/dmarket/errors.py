"""Typed DMarket failures: what the retry policy, the user's message and Sentry's alert rules key on."""

from __future__ import annotations


class DMarketError(Exception):
    """Base of every DMarket failure."""


class DMarketNotConfigured(DMarketError):
    """DMARKET_PUBLIC_KEY / DMARKET_SECRET_KEY are missing or do not belong together."""


class RateLimitError(DMarketError):
    """HTTP 429: DMarket wants us to wait ``retry_after_s`` seconds (its Retry-After, or our guess)."""

    def __init__(self, retry_after_s: float, body_excerpt: str = "") -> None:
        super().__init__(f"Too many requests: DMarket asked to retry after {retry_after_s:g}s")
        self.retry_after_s = retry_after_s
        self.body_excerpt = body_excerpt


class RateBudgetExhausted(DMarketError):
    """Our own shared rate limiter has every slot booked for longer than a caller may wait: no request was sent.

    Not DMarket's 429 (nothing was asked of DMarket, so nothing is rate-limited there): the workers' demand is
    above the budget. Its own type, so it is neither retried in a tight loop nor counted as an API rate limit.
    """

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the shared DMarket request budget is booked for the next {wait_s:.0f}s")
        self.wait_s = wait_s


class DMarketHeld(RateBudgetExhausted):
    """DMarket itself asked every client of this key to stay away (a 429 with a long Retry-After): no request
    goes out until ``wait_s`` has passed or an operator lifts the hold (scripts/dmarket_hold.py)."""

    def __init__(self, wait_s: float, reason: str) -> None:
        DMarketError.__init__(self, f"DMarket asked to wait: {reason}; {wait_s:.0f}s left")
        self.wait_s = wait_s
        self.reason = reason


class AuthenticationError(DMarketError):
    """HTTP 401/403: the keys are wrong, revoked, or the signature/clock is off. Never retried."""

    def __init__(self, status: int, body_excerpt: str) -> None:
        super().__init__(f"DMarket refused the API keys ({status}): {body_excerpt}")
        self.status = status
        self.body_excerpt = body_excerpt


class DMarketAPIError(DMarketError):
    """Any other non-2xx answer, or a 2xx whose body is not the documented JSON."""

    def __init__(self, status: int, body_excerpt: str) -> None:
        super().__init__(f"DMarket answered {status}: {body_excerpt}")
        self.status = status
        self.body_excerpt = body_excerpt

    @property
    def retryable(self) -> bool:
        return self.status >= 500


class DMarketUnreachable(DMarketError):
    """Connecting, sending or reading timed out or failed; ``reason`` is the transport error's type."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"DMarket is unreachable: {reason}")
        self.reason = reason
