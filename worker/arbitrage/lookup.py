"""Looking titles up for the valuation: buy orders (100 titles a call) and recent sales, cached in Redis.

The cache is per game and title, for ``ARBITRAGE_VALUATION_TTL_S``: concurrent scans and watch sweeps of the
same band share the lookups instead of each spending the 6-per-second last-sales budget on the same titles.
It holds what DMarket said (the inputs), not a verdict, so every level applies its own K, N and D to it.
A title whose lookup came back unreadable is not cached: the next scan asks again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis

from worker.arbitrage.valuation import Evidence
from worker.dmarket.client import DMarketClient
from worker.dmarket.errors import DMarketAPIError
from worker.dmarket.models import RequestStats
from worker.dmarket.valuation_api import MAX_SALES_LIMIT, MAX_TITLES_PER_CALL, SaleRecord, TitlePrices

log = logging.getLogger(__name__)

KEY = "arbitrage:valuation:{kind}:{game}:{digest}"

ProgressCallback = Callable[[int, int], None]  # titles looked up so far, titles in all


def _key(kind: str, game_id: str, title: str) -> str:
    digest = hashlib.sha256(title.encode()).hexdigest()[:24]
    return KEY.format(kind=kind, game=game_id, digest=digest)


@dataclass
class Lookup:
    """Fetches (or reuses) what the valuation needs for a band's candidate titles."""

    client: DMarketClient
    redis: redis.Redis
    ttl_s: int
    background: bool = False  # watch sweeps: through the budget's background gates

    def prices(self, game_id: str, titles: Sequence[str], stats: RequestStats) -> dict[str, TitlePrices | None]:
        """Buy orders of ``titles``; None for a title DMarket does not know (or sent unreadable)."""
        found: dict[str, TitlePrices | None] = {}
        missing = []
        for title, cached in zip(titles, self._get("prices", game_id, titles), strict=True):
            if cached is None:
                missing.append(title)
            else:
                found[title] = _prices_from(title, cached)
        for start in range(0, len(missing), MAX_TITLES_PER_CALL):
            batch = missing[start : start + MAX_TITLES_PER_CALL]
            try:
                page = self.client.aggregated_prices(game_id, batch, stats, background=self.background)
            except DMarketAPIError as exc:
                if exc.status != 200:
                    raise
                # The body was not the documented envelope: these titles stay unvalued, counted, not guessed.
                stats.malformed_valuations += len(batch)
                log.warning("Aggregated prices for %d titles were unreadable: %s", len(batch), exc)
                found.update(dict.fromkeys(batch))
                continue
            for title in batch:
                entry = page.prices.get(title)
                found[title] = entry
            # Only what DMarket answered well is kept: an absent or malformed title is asked again next time.
            self._put("prices", game_id, {t: _prices_json(page.prices.get(t)) for t in batch if t in page.prices})
        return found

    def sales(
        self, game_id: str, titles: Sequence[str], stats: RequestStats, progress: ProgressCallback | None = None
    ) -> dict[str, tuple[SaleRecord, ...] | None]:
        """The newest 20 sales of each title; None for a title whose answer was unreadable."""
        found: dict[str, tuple[SaleRecord, ...] | None] = {}
        for n, (title, cached) in enumerate(zip(titles, self._get("sales", game_id, titles), strict=True), 1):
            if isinstance(cached, list):
                found[title] = tuple(SaleRecord(int(p), int(d), bool(o)) for p, d, o in cached)
            else:
                try:
                    page = self.client.last_sales(game_id, title, stats, MAX_SALES_LIMIT, background=self.background)
                except DMarketAPIError as exc:
                    if exc.status != 200:
                        raise
                    stats.malformed_valuations += 1
                    log.warning("Last sales of one title were unreadable: %s", exc)
                    found[title] = None
                else:
                    found[title] = page.sales
                    self._put(
                        "sales", game_id, {title: [[s.price_cents, s.date_s, int(s.into_order)] for s in page.sales]}
                    )
            if progress is not None:
                progress(n, len(titles))
        return found

    def _get(self, kind: str, game_id: str, titles: Sequence[str]) -> list[object | None]:
        if not titles:
            return []
        try:
            raw: list[bytes | None] = self.redis.mget([_key(kind, game_id, t) for t in titles])  # type: ignore[assignment]
        except redis.RedisError as exc:  # a cache: without it the scan only asks DMarket more
            log.warning("Valuation cache unavailable: %r", exc)
            return [None] * len(titles)
        return [None if value is None else json.loads(value) for value in raw]

    def _put(self, kind: str, game_id: str, values: dict[str, object]) -> None:
        if not values:
            return
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for title, value in values.items():
                    pipe.set(_key(kind, game_id, title), json.dumps(value), ex=self.ttl_s)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("Valuation cache unavailable: %r", exc)


def _prices_json(prices: TitlePrices | None) -> object:
    if prices is None:
        return {"absent": True}
    return [prices.order_best_price_cents, prices.order_count, prices.offer_best_price_cents, prices.offer_count]


def _prices_from(title: str, cached: object) -> TitlePrices | None:
    if not isinstance(cached, list):
        return None
    order, order_count, offer, offer_count = (int(v) for v in cached)
    return TitlePrices(title, order, order_count, offer, offer_count)


def evidence(
    lookup: Lookup,
    game_id: str,
    titles: Iterable[str],
    stats: RequestStats,
    needs_sales: Callable[[str, TitlePrices | None], bool],
    progress: ProgressCallback | None = None,
) -> dict[str, Evidence]:
    """Buy orders of every title, and recent sales of those ``needs_sales`` still needs (its instant flip
    did not already clear the threshold for every candidate offer of it)."""
    ordered = list(dict.fromkeys(titles))
    prices = lookup.prices(game_id, ordered, stats)
    wanting = [t for t in ordered if needs_sales(t, prices.get(t))]
    sales = lookup.sales(game_id, wanting, stats, progress)
    return {t: Evidence(prices.get(t), sales.get(t)) for t in ordered}
