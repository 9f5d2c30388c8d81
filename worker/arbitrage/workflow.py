"""An arbitrage scan from start to finish: read the market, find opportunities, record them, tell the user.

Idempotent per task id: the Scan row is keyed by it, a re-run replaces its opportunities, and every message
is an edit of the user's "queued" message, so a redelivered task leaves one scan, one set of rows and one
final message. A scan that already ended (completed or failed) is only reported again: never scanned twice,
never reported to Sentry twice.

Every run ends in exactly one of two ways: a terminal outcome (completed, or failed with the user told and the
failure in Sentry), after which the user's scan slot is released; or, only for a failure the task will retry,
the exception is raised with the slot still taken, because the retry is the same scan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis
import sentry_sdk
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import SQLAlchemyError

from common.markets import GAME_IDS, LEVELS, SalesRule
from common.observability.breadcrumbs import add_error_breadcrumb, add_trading_breadcrumb
from common.observability.failures import FAILURES
from common.observability.sdk import capture_failure
from common.scan_slot import release
from common.settings import Settings
from worker.arbitrage import messages, store
from worker.arbitrage.delivery import Progress, deliver
from worker.arbitrage.engine import SUGGESTED, Opportunity, OpportunityFinder, Rules, find_opportunities
from worker.arbitrage.lookup import Lookup
from worker.arbitrage.lookup import evidence as lookup_evidence
from worker.arbitrage.model import MarketScan, ScanOutcome, ScanRequest
from worker.arbitrage.valuation import instant_flip, is_candidate, value_offers
from worker.dmarket.client import DMarketClient, is_long_hold
from worker.dmarket.errors import (
    AuthenticationError,
    DMarketAPIError,
    DMarketHeld,
    DMarketNotConfigured,
    DMarketUnreachable,
    RateBudgetExhausted,
    RateLimitError,
)
from worker.dmarket.models import Offer, RequestStats
from worker.dmarket.valuation_api import TitlePrices
from worker.resources import Resources

log = logging.getLogger(__name__)


def rules_for(settings: Settings, game: str, level: str) -> Rules:
    return Rules(LEVELS[level], settings.arbitrage_fee_bp(game), settings.arbitrage_min_profit_bp(level))


@dataclass(frozen=True)
class Valuation:
    """How a scan values its candidates: where it looks titles up, the level's K/N/D, how many titles at most."""

    lookup: Lookup
    rule: SalesRule
    max_titles: int
    now_s: Callable[[], int] = lambda: int(time.time())

    @classmethod
    def of(cls, resources: Resources, level: str, background: bool = False) -> Valuation:
        settings = resources.settings
        lookup = Lookup(resources.dmarket(), resources.redis, settings.arbitrage_valuation_ttl_s, background)
        return cls(lookup, settings.arbitrage_sales_rule(level), settings.arbitrage_max_valued_titles)


def scan_market(
    client: DMarketClient,
    game_id: str,
    rules: Rules,
    max_pages: int,
    progress: Progress | None = None,
    stats: RequestStats | None = None,
    valuation: Valuation | None = None,
    background: bool = False,
) -> MarketScan:
    """Page through the level's price band; value the candidates (or, without ``valuation``, take
    DMarket's suggested price as the value: the method a user must ask for by name)."""
    result = MarketScan(stats=stats if stats is not None else RequestStats())
    finder = OpportunityFinder(rules)  # the suggestedPrice method; with a valuation, only the pre-filter
    candidates: dict[str, Offer] = {}
    price_to = rules.level.max_price_cents - 1  # DMarket's priceTo is inclusive, the level's bound is not
    last_cursor = ""
    on_wait = progress.waiting if progress is not None else None
    pages = client.iter_market(
        game_id, rules.level.min_price_cents, price_to, max_pages, result.stats, on_wait=on_wait, background=background
    )
    for page in pages:
        result.pages += 1
        result.items_seen += len(page.offers)
        if valuation is None:
            finder.add(page.offers)
        else:
            candidates.update((o.item_id, o) for o in page.offers if is_candidate(o, rules))
        last_cursor = page.cursor
        if progress is not None:
            progress.page(result.pages, result.items_seen, len(finder) if valuation is None else len(candidates))
    result.capped = result.pages == max_pages and bool(last_cursor)
    if valuation is None:
        result.method = SUGGESTED
        result.opportunities = finder.ranked()
        return result
    result.candidates = len(candidates)
    result.opportunities = value_candidates(game_id, rules, list(candidates.values()), valuation, result, progress)
    return result


def value_candidates(
    game_id: str,
    rules: Rules,
    candidates: list[Offer],
    valuation: Valuation,
    result: MarketScan,
    progress: Progress | None = None,
) -> list[Opportunity]:
    """Look the candidates' titles up (the most promising by suggestedPrice first) and value every candidate."""
    # The pre-filter's own ranking decides which titles are looked up when there are more than the cap.
    by_promise = find_opportunities(candidates, Rules(rules.level, rules.fee_bp, 0))
    titles = list(dict.fromkeys(o.title for o in by_promise))
    chosen = titles[: valuation.max_titles]
    result.valued_titles, result.unvalued_titles = len(chosen), len(titles) - len(chosen)
    offers_of: dict[str, list[Offer]] = {}
    for offer in candidates:
        offers_of.setdefault(offer.title, []).append(offer)

    def needs_sales(title: str, prices: TitlePrices | None) -> bool:
        # Sales cost a call each at 6/s: not needed when the instant flip already clears every offer of it.
        return any(instant_flip(o, rules, prices) is None for o in offers_of[title])

    on_progress = progress.valuing if progress is not None else None
    evidence = lookup_evidence(valuation.lookup, game_id, chosen, result.stats, needs_sales, on_progress)
    wanted = set(chosen)
    return value_offers(
        (o for o in candidates if o.title in wanted), rules, valuation.rule, evidence, valuation.now_s()
    )


# A scan whose worker keeps dying (or whose Redis keeps going away) is given up after this many starts.
MAX_SCAN_ATTEMPTS = 5


class ScanInterrupted(Exception):
    """A scan that could not run to its end: started too often, or abandoned (the janitor found it stale)."""


def _never(_: BaseException) -> bool:
    return False


@dataclass
class Attempt:
    """What one run has done so far, for the failure handler: its scan row and its requests' counters."""

    scan_id: int | None = None
    stats: RequestStats = field(default_factory=RequestStats)


def run_scan(
    resources: Resources, request: ScanRequest, may_retry: Callable[[BaseException], bool] = _never
) -> ScanOutcome:
    """Run (or finish again, after a redelivery) the scan ``request`` describes, and end it for the user.

    Raises only what ``may_retry`` accepts (the task retries it, so the user's scan slot stays taken). Any other
    failure, a soft time limit included, wherever it strikes, becomes a failed outcome: Sentry told once (see
    ``report_failure``), the failure text in the user's message, the slot released.
    """
    with sentry_sdk.isolation_scope() as scope:
        scope.set_tag("component", "trading")
        scope.set_tag("game", request.game)
        scope.set_tag("level", request.level)
        scope.set_user({"id": str(request.user_id)})
        attempt = Attempt()
        try:
            outcome = _run(resources, request, attempt)
        except Exception as exc:  # SoftTimeLimitExceeded is an Exception too
            if may_retry(exc):
                log.warning("Scan task %s will be retried: %r", request.task_id, exc)
                raise
            outcome = fail_scan(resources, request, attempt, exc)
        release_slot(resources.redis, request)
        return outcome


def _run(resources: Resources, request: ScanRequest, attempt: Attempt) -> ScanOutcome:
    settings = resources.settings
    rules = rules_for(settings, request.game, request.level)
    claim = store.claim(resources.database, request)
    attempt.scan_id = claim.scan_id
    if claim.ended is not None:
        log.info(
            "Scan %s (task %s) already ended (%s); telling the user again",
            claim.scan_id,
            request.task_id,
            claim.ended.status,
        )
        deliver(resources, request, _ended_text(resources, request, rules, claim.ended))
        return claim.ended
    progress = Progress(resources, request)
    if claim.resumed:
        if claim.attempts > MAX_SCAN_ATTEMPTS:
            raise ScanInterrupted(f"started {claim.attempts} times without finishing; not started again")
        log.warning("Scan %s (task %s) resumed: attempt %s", claim.scan_id, request.task_id, claim.attempts)
        progress.resumed()

    add_trading_breadcrumb(
        "arbitrage_scan_started",
        show=("game", "level"),
        game=request.game,
        level=request.level,
        task_id=request.task_id,
    )
    market = scan_market(
        resources.dmarket(),
        GAME_IDS[request.game],
        rules,
        settings.arbitrage_max_pages,
        progress,
        stats=attempt.stats,
        valuation=None if request.method == SUGGESTED else Valuation.of(resources, request.level),
    )
    if market.stats.malformed or market.stats.malformed_valuations:
        report_skipped_listings(request, market.stats.malformed, market.stats.malformed_valuations)
    outcome = store.record_success(resources.database, claim.scan_id, market)
    add_trading_breadcrumb(
        "arbitrage_scan_completed",
        show=("opportunities",),
        game=request.game,
        level=request.level,
        opportunities=len(market.opportunities),
        pages=market.pages,
        items=market.items_seen,
        valued_titles=market.valued_titles,
        rate_limited=market.stats.rate_limited,
    )
    log.info(
        "Scan %s %s/%s: %d pages, %d items, %d candidates, %d titles valued, %d opportunities, "
        "requests %s, %d rate-limited, %.1fs waited",
        claim.scan_id,
        request.game,
        request.level,
        market.pages,
        market.items_seen,
        market.candidates,
        market.valued_titles,
        len(market.opportunities),
        market.stats.by_family,
        market.stats.rate_limited,
        market.stats.waited_s,
    )
    deliver(resources, request, _result_text(settings, request, rules, outcome, market.opportunities))
    return outcome


def _result_text(
    settings: Settings, request: ScanRequest, rules: Rules, outcome: ScanOutcome, opportunities: Sequence[Opportunity]
) -> str:
    return messages.result_text(
        request.reply_language(settings.bot_language),
        game=request.game,
        level=request.level,
        opportunities=opportunities,
        items=outcome.items_seen,
        pages=outcome.pages,
        capped=outcome.capped,
        fee_bp=rules.fee_bp,
        min_profit_bp=rules.min_profit_bp,
        skipped=outcome.skipped_listings,
        skipped_valuations=outcome.skipped_valuations,
        method=request.method,
    )


def _ended_text(resources: Resources, request: ScanRequest, rules: Rules, ended: ScanOutcome) -> str:
    """The final message of a scan that already ended, rebuilt from what it stored."""
    if ended.status == store.FAILED:
        kind = ended.failure or "internal"
        return messages.failure_text(
            request.reply_language(resources.settings.bot_language),
            kind,
            request.game,
            request.level,
            ended.sentry_event_id,
        )
    assert ended.scan_id is not None
    opportunities = store.stored_opportunities(resources.database, ended.scan_id)
    return _result_text(resources.settings, request, rules, ended, opportunities)


def fail_scan(resources: Resources, request: ScanRequest, attempt: Attempt, error: Exception) -> ScanOutcome:
    """End a scan that failed: one report to Sentry, the record, the user's message. Never raises."""
    kind = failure_kind(error)
    event_id = report_failure(error, kind)
    # After the report, whose trail ends with the error as the guide shows it; later events of this task see it.
    add_trading_breadcrumb(
        "arbitrage_scan_failed", show=("failure",), game=request.game, level=request.level, failure=kind
    )
    log.warning("Scan task %s failed (%s, Sentry event %s): %r", request.task_id, kind, event_id, error)
    if attempt.scan_id is not None:
        try:
            store.record_failure(resources.database, attempt.scan_id, kind, event_id, error)
        except Exception as exc:  # the database may be what failed; the user must still hear of it
            log.warning("Could not record the failure of scan %s: %r", attempt.scan_id, exc)
    text = messages.failure_text(
        request.reply_language(resources.settings.bot_language),
        kind,
        request.game,
        request.level,
        event_id,
        wait_s=_wait_of(error),
    )
    try:
        deliver(resources, request, text)
    except Exception as exc:  # e.g. no database for send_once; already reported above
        log.warning("Could not tell chat %s that scan task %s failed: %r", request.chat_id, request.task_id, exc)
    stats = attempt.stats
    return ScanOutcome(
        attempt.scan_id,
        store.FAILED,
        0,
        0,
        0,
        requests=stats.requests,
        rate_limited=stats.rate_limited,
        failure=kind,
        sentry_event_id=event_id,
        error=store.failure_summary(kind, error),
    )


def _wait_of(error: BaseException) -> float | None:
    """How long the user should really wait before trying again, when the failure says."""
    if isinstance(error, RateLimitError):
        return error.retry_after_s
    if isinstance(error, RateBudgetExhausted):
        return error.wait_s
    return None


def report_failure(error: BaseException, kind: str) -> str | None:
    """Report a failed scan to Sentry once; the event id the user's message names.

    One event per failure, carrying the original exception (so rules on ``RateLimitError`` and
    ``AuthenticationError`` match), tagged with the ``component`` where it failed and at the level the failure
    table gives (common/observability/failures.py: a DMarket 503 is an ``api`` error, a rate limit an ``api``
    warning, a bug ``trading``), and fingerprinted by kind and exception type, so the same cause is one issue.
    """
    failure = FAILURES[kind]
    if not isinstance(error, RateLimitError):  # the client already left "RateLimitError - Too many requests"
        add_error_breadcrumb(type(error).__name__, str(error).split("\n", 1)[0][:200])
    return capture_failure(error, failure)


def report_skipped_listings(request: ScanRequest, count: int, valuations: int = 0) -> None:
    """One warning per scan that met listings (or prices, sales) it could not read, grouped into one issue."""
    log.warning(
        "Scan task %s skipped %d malformed DMarket listings and %d malformed prices or sales",
        request.task_id,
        count,
        valuations,
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("component", "api")
        scope.set_extra("skipped_listings", count)
        scope.set_extra("skipped_valuations", valuations)
        scope.fingerprint = ["dmarket-malformed-listings", request.game]
        what = (
            f"{count} malformed listings"
            if not valuations
            else f"{count} malformed listings, {valuations} prices/sales"
        )
        sentry_sdk.capture_message(f"DMarket sent {what} ({request.game})", level="warning")


def release_slot(client: redis.Redis, request: ScanRequest) -> None:
    try:
        release(client, request.user_id, request.task_id)
    except redis.RedisError as exc:  # the key expires on its own; the user is only locked out longer
        log.warning("Could not clear the running-scan key of user %s: %r", request.user_id, exc)


def failure_kind(error: BaseException) -> str:
    """Which failure message the user gets for ``error`` (common/observability/failures.py has the rest)."""
    if isinstance(error, DMarketHeld) or (isinstance(error, RateLimitError) and is_long_hold(error.retry_after_s)):
        return "dmarket_held"
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, RateBudgetExhausted):
        return "busy"
    if isinstance(error, SQLAlchemyError):
        return "database"
    if isinstance(error, AuthenticationError):
        return "auth_failed"
    if isinstance(error, DMarketNotConfigured):
        return "not_configured"
    if isinstance(error, DMarketUnreachable) or (isinstance(error, DMarketAPIError) and error.retryable):
        return "dmarket_down"
    if isinstance(error, SoftTimeLimitExceeded):
        return "timeout"
    if isinstance(error, ScanInterrupted):
        return "interrupted"
    return "internal"
