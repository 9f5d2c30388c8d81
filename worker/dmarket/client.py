"""A small synchronous DMarket client: signed requests, one shared budget per endpoint family, typed errors.

Three endpoints: the market listing (GET, "market items" family, 10 RPS), aggregated prices (POST, up to 100
titles a call, "other methods" family, 20 RPS) and last sales (GET, "last sales" family, 6 RPS): DMarket's
limits per family (DESIGN.md §9). Each family has its own lane in the shared Redis limiter, so a 429 on one
holds back only that family, in every worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from tenacity import RetryCallState

from common.http import parse_retry_after_s
from common.http_deadline import RESPONSE_DEADLINE_S, send_within
from common.observability.breadcrumbs import add_error_breadcrumb, add_http_breadcrumb
from common.retry import RetryPolicy
from worker.dmarket.errors import (
    AuthenticationError,
    DMarketAPIError,
    DMarketError,
    DMarketHeld,
    DMarketUnreachable,
    RateBudgetExhausted,
    RateLimitError,
)
from worker.dmarket.models import Offer, RequestStats
from worker.dmarket.signing import Signer
from worker.dmarket.valuation_api import (
    AGGREGATED_PRICES_PATH,
    LAST_SALES_PATH,
    MAX_SALES_LIMIT,
    MAX_TITLES_PER_CALL,
    AggregatedPage,
    SalesPage,
    aggregated_prices_body,
    parse_aggregated_prices,
    parse_last_sales,
)
from worker.ratelimit import BudgetExhausted, Lane, SharedRateLimiter

log = logging.getLogger(__name__)

MARKET_ITEMS_PATH = "/exchange/v1/market/items"
PAGE_LIMIT = 100  # DMarket's maximum page size for market items
BODY_EXCERPT_CHARS = 300
# Used when a 429 carries no usable Retry-After: DMarket's windows are one second long.
DEFAULT_RETRY_AFTER_S = 1.0
# All attempts of one request, waits included: a scan has minutes, one page must not take them all.
REQUEST_DEADLINE_S = 60.0
# A Retry-After this long is no rate limit to wait out but DMarket holding the key back: users are told the
# real wait, operators are paged (an `api` error, not a warning) and may lift it (scripts/dmarket_hold.py).
LONG_HOLD_S = 120.0


def is_long_hold(retry_after_s: float) -> bool:
    return retry_after_s >= LONG_HOLD_S


# A wait for DMarket's Retry-After this long is worth telling the user about (their message says "waiting").
NOTICEABLE_WAIT_S = 2.0

WaitCallback = Callable[[float], None]  # seconds about to be waited for DMarket's rate limit

MARKET_ITEMS, LAST_SALES, OTHER = "market_items", "last_sales", "other"
FAMILIES = (MARKET_ITEMS, LAST_SALES, OTHER)
# DMarket's limits with API keys (support article "What are the rate limits for requests").
DEFAULT_FAMILY_RPS = {MARKET_ITEMS: 10.0, LAST_SALES: 6.0, OTHER: 20.0}
LANE_MARGIN_MS = 20.0  # see worker/ratelimit.py: R+1 slots must span more than one of DMarket's seconds
# Per family: at 6/s, seven slots 1.02 s apart were squeezed into one window by a loaded host's jitter
# (bench_valuation, 4 processes: four 429s); 50 ms costs 5 % of the last-sales budget and absorbs it.
FAMILY_MARGIN_MS = {MARKET_ITEMS: LANE_MARGIN_MS, LAST_SALES: 50.0, OTHER: LANE_MARGIN_MS}


@dataclass(frozen=True, slots=True)
class Budgets:
    """One shared lane per endpoint family, and the gates background work (watch sweeps) passes first.

    A background request first takes a slot on its family's gate (a share of the family's rate), then one on
    the family's lane like everyone else. So background work never holds more than its share of the lane's
    queue, and an interactive request waits behind at most that share: interactive scans keep the rest of
    every budget however many sweeps run.
    """

    lanes: dict[str, Lane]
    gates: dict[str, Lane]

    @classmethod
    def of(cls, key: str, rps: dict[str, float] | None = None, background_share: float = 0.5) -> Budgets:
        """Lanes under ``key`` (the market-items lane is ``key`` itself, as before: one key per API key)."""
        if not 0 < background_share <= 1:
            raise ValueError(f"background_share must be in (0, 1], got {background_share}")
        rates = {**DEFAULT_FAMILY_RPS, **(rps or {})}
        names = {MARKET_ITEMS: key, LAST_SALES: f"{key}:last_sales", OTHER: f"{key}:other"}
        margins = FAMILY_MARGIN_MS
        lanes = {family: Lane.per_second(names[family], rates[family], margins[family]) for family in FAMILIES}
        gates = {
            family: Lane.per_second(f"{names[family]}:background", rates[family] * background_share, margins[family])
            for family in FAMILIES
        }
        return cls(lanes, gates)

    def acquire(self, limiter: SharedRateLimiter, family: str, background: bool = False) -> float:
        """Wait for a slot on ``family``'s lane (through its gate first when ``background``); seconds waited."""
        waited_s = limiter.acquire([self.gates[family]]) if background else 0.0
        return waited_s + limiter.acquire([self.lanes[family]])


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
        lane: Lane | Budgets,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        deadline_s: float = REQUEST_DEADLINE_S,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        response_deadline_s: float = RESPONSE_DEADLINE_S,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._response_deadline_s = response_deadline_s  # headers to last byte, per attempt
        self._signer = signer
        self._limiter = limiter
        # One budget per endpoint family, shared by every worker with the same API key. A bare Lane is the
        # market-items budget; the other families then get DMarket's default rates under keys derived from it.
        self.budgets = lane if isinstance(lane, Budgets) else Budgets.of(lane.key, _rates_with(lane))
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
        on_wait: WaitCallback | None = None,
        background: bool = False,
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
        stats = stats or RequestStats()
        page = _parse_page(self._get(MARKET_ITEMS_PATH, params, stats, on_wait, MARKET_ITEMS, background))
        stats.malformed += page.malformed
        return page

    def iter_market(
        self,
        game_id: str,
        price_from_cents: int,
        price_to_cents: int,
        max_pages: int,
        stats: RequestStats,
        page_size: int = PAGE_LIMIT,
        on_wait: WaitCallback | None = None,
        background: bool = False,
    ) -> Iterator[MarketPage]:
        """Pages until the price range is exhausted (empty cursor) or ``max_pages`` were read."""
        cursor = ""
        seen: set[str] = set()
        for _ in range(max_pages):
            page = self.market_items(
                game_id, price_from_cents, price_to_cents, cursor, page_size, stats, on_wait, background
            )
            yield page
            # The price filter should end the listing by itself; checking the last price as well means a
            # server that ignores priceTo cannot walk us through the whole market, and a cursor seen before
            # cannot walk us in a circle.
            if not page.cursor or (page.offers and page.offers[-1].price_cents > price_to_cents):
                return
            if page.cursor in seen:
                log.warning("DMarket handed out cursor %r a second time; the listing ends here", page.cursor[:40])
                return
            seen.add(page.cursor)
            cursor = page.cursor

    # -- valuation endpoints --------------------------------------------------------------------------

    def aggregated_prices(
        self, game_id: str, titles: list[str], stats: RequestStats, background: bool = False
    ) -> AggregatedPage:
        """Best buy order and best offer of up to 100 ``titles`` (one POST); malformed entries are skipped."""
        if not 0 < len(titles) <= MAX_TITLES_PER_CALL:
            raise ValueError(f"aggregated_prices takes 1..{MAX_TITLES_PER_CALL} titles, got {len(titles)}")
        body = aggregated_prices_body(game_id, titles)
        page = parse_aggregated_prices(
            self._request("POST", AGGREGATED_PRICES_PATH, body, stats, OTHER, background), titles
        )
        stats.malformed_valuations += page.malformed
        return page

    def last_sales(
        self, game_id: str, title: str, stats: RequestStats, limit: int = MAX_SALES_LIMIT, background: bool = False
    ) -> SalesPage:
        """The newest ``limit`` (<= 20) sales of ``title``; malformed sales are skipped and counted."""
        if not 0 < limit <= MAX_SALES_LIMIT:
            raise ValueError(f"last_sales takes a limit of 1..{MAX_SALES_LIMIT}, got {limit}")
        params: dict[str, str | int] = {"gameId": game_id, "title": title, "limit": limit}
        page = parse_last_sales(self._get(LAST_SALES_PATH, params, stats, None, LAST_SALES, background))
        stats.malformed_valuations += page.malformed
        return page

    # -- one signed request with retries --------------------------------------------------------------

    def _get(
        self,
        path: str,
        params: dict[str, str | int],
        stats: RequestStats,
        on_wait: WaitCallback | None = None,
        family: str = MARKET_ITEMS,
        background: bool = False,
    ) -> Any:
        # DMarket signs the query exactly as sent: encode it once, with quote (%20, not +), and send this string.
        path_with_query = f"{path}?{urlencode(params, quote_via=quote)}"
        return self._request("GET", path_with_query, "", stats, family, background, on_wait)

    def _request(
        self,
        method: str,
        path_with_query: str,
        body: str,
        stats: RequestStats,
        family: str,
        background: bool,
        on_wait: WaitCallback | None = None,
    ) -> Any:
        path = path_with_query.split("?", 1)[0]

        def tell(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            if on_wait is not None and isinstance(error, RateLimitError) and state.upcoming_sleep >= NOTICEABLE_WAIT_S:
                on_wait(state.upcoming_sleep)

        retrying = self.retry_policy.retrying(_retryable, _server_wait_s, sleep=self._sleep, before_sleep=tell)
        try:
            return retrying(self._send, method, path, path_with_query, body, stats, family, background)
        except DMarketError as exc:
            # Reported to Sentry by the caller, which knows what failed (worker.scanning.report_failure).
            log.warning("DMarket %s %s failed for good: %s", method, path, exc)
            raise

    def _send(
        self,
        method: str,
        path: str,
        path_with_query: str,
        body: str,
        stats: RequestStats,
        family: str,
        background: bool,
    ) -> Any:
        lane = self.budgets.lanes[family]
        try:
            stats.waited_s += self.budgets.acquire(self._limiter, family, background)
        except BudgetExhausted as exc:
            # The queue of reservations is longer than anyone should wait: refuse before asking DMarket, saying
            # whether DMarket itself asked for the wait (a long Retry-After) or our own demand is the cause.
            hold = self._limiter.hold(lane)
            if hold is not None:
                raise DMarketHeld(max(exc.wait_s, hold.remaining_s), hold.reason) from None
            raise RateBudgetExhausted(exc.wait_s) from None
        # Signed after waiting for the slot, on every attempt: X-Sign-Date must be fresh (DMarket refuses
        # signatures older than two minutes) and a retry must never reuse a signature. A POST body is signed
        # and sent as the same bytes: re-encoding it after signing would be a 401.
        headers = self._signer.headers(method, path_with_query, body)
        if body:
            headers["Content-Type"] = "application/json"
        request = self._http.build_request(
            method, self._base_url + path_with_query, headers=headers, content=body.encode() if body else None
        )
        if request.url.raw_path.decode("ascii") != path_with_query:
            # httpx re-encoded the target: the signature would not match what DMarket receives.
            raise DMarketAPIError(0, f"request target was re-encoded: {request.url.raw_path!r}")
        stats.requests += 1
        stats.by_family[family] = stats.by_family.get(family, 0) + 1
        started = time.perf_counter()
        try:
            response = send_within(self._http, request, self._response_deadline_s)
        except httpx.TransportError as exc:
            stats.transport_errors += 1
            stats.http_s += time.perf_counter() - started
            add_http_breadcrumb(method, path, None, _elapsed_ms(started), error=type(exc).__name__)
            raise DMarketUnreachable(type(exc).__name__) from exc
        stats.http_s += time.perf_counter() - started
        add_http_breadcrumb(method, path, response.status_code, _elapsed_ms(started))
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
            reason = f"HTTP 429 on {path} with Retry-After {retry_after_s:g}s" if is_long_hold(retry_after_s) else None
            self._limiter.penalize(lane, retry_after_s, reason)  # this family only: the others keep their budgets
            raise RateLimitError(retry_after_s, _excerpt(response))
        if response.status_code in (401, 403):
            raise AuthenticationError(response.status_code, _excerpt(response))
        if response.status_code >= 500:
            stats.server_errors += 1
        raise DMarketAPIError(response.status_code, _excerpt(response))


def _rates_with(lane: Lane) -> dict[str, float]:
    """DMarket's default family rates, with the market-items rate the given lane was built for."""
    return {MARKET_ITEMS: (1_000_000 + LANE_MARGIN_MS * 1000) / lane.interval_us}


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


# What the database and every later step can hold (common/db/models.py: item ids String(128), titles
# String(512), prices BigInteger): a listing outside these bounds is refused here, counted, and skipped.
MAX_ITEM_ID_CHARS = 128
MAX_TITLE_CHARS = 512
# Cents: a price of more than ten billion dollars is no price; 12 digits keep every sum far from overflow.
MAX_PRICE_DIGITS = 12


def _clean_text(value: Any, limit: int) -> str | None:
    """``value`` if it is a string of 1..``limit`` characters that any database and Telegram can hold."""
    if not isinstance(value, str) or not 0 < len(value) <= limit or "\x00" in value:
        return None
    try:
        value.encode("utf-8")  # a lone surrogate ("\ud800" in the JSON) cannot be stored or sent
    except UnicodeEncodeError:
        return None
    return value


def _cents(value: Any) -> int | None:
    """Integer cents from DMarket's {"USD": "1234"}; None unless it is a string of at most 12 ASCII digits."""
    if not isinstance(value, dict):
        return None
    usd = value.get("USD")
    if not isinstance(usd, str) or not usd.isascii() or not usd.isdigit() or len(usd) > MAX_PRICE_DIGITS:
        return None
    return int(usd)


def parse_offer(obj: Any) -> Offer | None:
    """One market object as an Offer, or None when any field is missing or outside what we can hold."""
    if not isinstance(obj, dict):
        return None
    item_id = _clean_text(obj.get("itemId"), MAX_ITEM_ID_CHARS)
    title = _clean_text(obj.get("title"), MAX_TITLE_CHARS)
    price = _cents(obj.get("price"))
    if item_id is None or title is None or not price:
        return None
    raw_suggested = obj.get("suggestedPrice")
    suggested = _cents(raw_suggested)
    if raw_suggested is not None and suggested is None:
        return None  # present but not a price: refused, never guessed
    # DMarket sends "0" (not an absent field) when it has no suggested price: that is "unknown", not free.
    return Offer(item_id, title, price, suggested or None)


def _parse_page(body: Any) -> MarketPage:
    if not isinstance(body, dict) or not isinstance(body.get("objects"), list):
        expected = "{'objects': [...], 'cursor': ...}"
        raise DMarketAPIError(200, f"expected {expected}, got {str(body)[:BODY_EXCERPT_CHARS]}")
    offers: list[Offer] = []
    malformed = 0
    for obj in body["objects"]:
        offer = parse_offer(obj)
        if offer is None:
            malformed += 1
        else:
            offers.append(offer)
    cursor = body.get("cursor")
    return MarketPage(tuple(offers), cursor if isinstance(cursor, str) else "", malformed)
