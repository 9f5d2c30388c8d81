"""A small synchronous DMarket client: signed GETs of the market listing, retries, breadcrumbs, typed errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from common.http import parse_retry_after_s
from common.observability.breadcrumbs import add_error_breadcrumb, add_http_breadcrumb
from common.retry import RetryPolicy
from worker.dmarket.errors import (
    AuthenticationError,
    DMarketAPIError,
    DMarketError,
    DMarketUnreachable,
    RateLimitError,
)
from worker.dmarket.models import Offer, RequestStats
from worker.dmarket.ratelimit import SharedRateLimiter
from worker.dmarket.signing import Signer

log = logging.getLogger(__name__)

MARKET_ITEMS_PATH = "/exchange/v1/market/items"
PAGE_LIMIT = 100  # DMarket's maximum page size for market items
BODY_EXCERPT_CHARS = 300
# Used when a 429 carries no usable Retry-After: DMarket's windows are one second long.
DEFAULT_RETRY_AFTER_S = 1.0
# All attempts of one request, waits included: a scan has minutes, one page must not take them all.
REQUEST_DEADLINE_S = 60.0


@dataclass(frozen=True, slots=True)
class MarketPage:
    offers: tuple[Offer, ...]
    cursor: str  # "" on the last page
    malformed: int  # objects skipped because a field was missing or not a string of cents


class DMarketClient:
    """Signed requests to one DMarket API base URL through a shared rate limiter. Create once per process."""

    def __init__(
        self,
        base_url: str,
        signer: Signer,
        limiter: SharedRateLimiter,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        deadline_s: float = REQUEST_DEADLINE_S,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._signer = signer
        self._limiter = limiter
        self.retry_policy = RetryPolicy(max_attempts, deadline_s, backoff_base_s, backoff_max_s)
        self._sleep = sleep
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    # -- the market listing ----------------------------------------------------------------------------

    def market_items(
        self,
        game_id: str,
        price_from_cents: int,
        price_to_cents: int,
        cursor: str = "",
        limit: int = PAGE_LIMIT,
        stats: RequestStats | None = None,
    ) -> MarketPage:
        """One page of offers in [price_from_cents, price_to_cents] (inclusive), cheapest first."""
        params: dict[str, str | int] = {
            "gameId": game_id,
            "limit": limit,
            "currency": "USD",
            "priceFrom": price_from_cents,
            "priceTo": price_to_cents,
            "orderBy": "price",
            "orderDir": "asc",
        }
        if cursor:
            params["cursor"] = cursor
        body = self._get(MARKET_ITEMS_PATH, params, stats or RequestStats())
        return _parse_page(body)

    def iter_market(
        self,
        game_id: str,
        price_from_cents: int,
        price_to_cents: int,
        max_pages: int,
        stats: RequestStats,
        page_size: int = PAGE_LIMIT,
    ) -> Iterator[MarketPage]:
        """Pages until the price range is exhausted (empty cursor) or ``max_pages`` were read."""
        cursor = ""
        for _ in range(max_pages):
            page = self.market_items(game_id, price_from_cents, price_to_cents, cursor, page_size, stats)
            yield page
            # The price filter should end the listing by itself; checking the last price as well means a
            # server that ignores priceTo cannot walk us through the whole market.
            if not page.cursor or (page.offers and page.offers[-1].price_cents > price_to_cents):
                return
            cursor = page.cursor

    # -- one signed GET with retries ------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str | int], stats: RequestStats) -> Any:
        # DMarket signs the query exactly as sent: encode it once, with quote (%20, not +), and send this string.
        path_with_query = f"{path}?{urlencode(params, quote_via=quote)}"
        retrying = self.retry_policy.retrying(_retryable, _server_wait_s, sleep=self._sleep)
        try:
            return retrying(self._send, path, path_with_query, stats)
        except DMarketError as exc:
            # Reported to Sentry by the caller, which knows what failed (worker.scanning.report_failure).
            log.warning("DMarket GET %s failed for good: %s", path, exc)
            raise

    def _send(self, path: str, path_with_query: str, stats: RequestStats) -> Any:
        stats.waited_s += self._limiter.acquire()
        # Signed after waiting for the slot, on every attempt: X-Sign-Date must be fresh (DMarket refuses
        # signatures older than two minutes) and a retry must never reuse a signature.
        request = self._http.build_request(
            "GET", self._base_url + path_with_query, headers=self._signer.headers("GET", path_with_query)
        )
        if request.url.raw_path.decode("ascii") != path_with_query:
            # httpx re-encoded the target: the signature would not match what DMarket receives.
            raise DMarketAPIError(0, f"request target was re-encoded: {request.url.raw_path!r}")
        stats.requests += 1
        started = time.perf_counter()
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            stats.transport_errors += 1
            stats.http_s += time.perf_counter() - started
            add_http_breadcrumb("GET", path, None, _elapsed_ms(started), error=type(exc).__name__)
            raise DMarketUnreachable(type(exc).__name__) from exc
        stats.http_s += time.perf_counter() - started
        add_http_breadcrumb("GET", path, response.status_code, _elapsed_ms(started))
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise DMarketAPIError(200, f"body is not JSON: {_excerpt(response)}") from None
        if response.status_code == 429:
            stats.rate_limited += 1
            retry_after_s = parse_retry_after_s(response.headers.get("Retry-After"))
            if retry_after_s is None:  # missing or unreadable: one of DMarket's one-second windows
                retry_after_s = DEFAULT_RETRY_AFTER_S
            add_error_breadcrumb("RateLimitError", "Too many requests", retry_after_s=retry_after_s)
            self._limiter.penalize(retry_after_s)
            raise RateLimitError(retry_after_s, _excerpt(response))
        if response.status_code in (401, 403):
            raise AuthenticationError(response.status_code, _excerpt(response))
        if response.status_code >= 500:
            stats.server_errors += 1
        raise DMarketAPIError(response.status_code, _excerpt(response))


def _retryable(error: BaseException) -> bool:
    if isinstance(error, RateLimitError | DMarketUnreachable):
        return True
    return isinstance(error, DMarketAPIError) and error.retryable


def _server_wait_s(error: BaseException) -> float | None:
    # The shared limiter already holds every process back until Retry-After has passed (see _send), so
    # waiting it out here as well costs nothing, and the policy gives up at once when it is past the deadline.
    return error.retry_after_s if isinstance(error, RateLimitError) else None


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _excerpt(response: httpx.Response) -> str:
    return response.text[:BODY_EXCERPT_CHARS]


def _cents(value: Any) -> int | None:
    """Integer cents from DMarket's {"USD": "1234"}; None unless it is a string of digits."""
    if not isinstance(value, dict):
        return None
    usd = value.get("USD")
    if not isinstance(usd, str) or not usd.isascii() or not usd.isdigit():
        return None
    return int(usd)


def _parse_page(body: Any) -> MarketPage:
    if not isinstance(body, dict) or not isinstance(body.get("objects"), list):
        expected = "{'objects': [...], 'cursor': ...}"
        raise DMarketAPIError(200, f"expected {expected}, got {str(body)[:BODY_EXCERPT_CHARS]}")
    offers: list[Offer] = []
    malformed = 0
    for obj in body["objects"]:
        item_id = obj.get("itemId") if isinstance(obj, dict) else None
        title = obj.get("title") if isinstance(obj, dict) else None
        price = _cents(obj.get("price")) if isinstance(obj, dict) else None
        if not isinstance(item_id, str) or not item_id or not isinstance(title, str) or price is None:
            malformed += 1
            continue
        suggested = _cents(obj.get("suggestedPrice"))
        # DMarket sends "0" (not an absent field) when it has no suggested price: that is "unknown", not free.
        offers.append(Offer(item_id, title, price, suggested if suggested else None))
    if malformed:
        log.warning("Skipped %d market objects without itemId, title or a string-of-cents price", malformed)
    cursor = body.get("cursor")
    return MarketPage(tuple(offers), cursor if isinstance(cursor, str) else "", malformed)
