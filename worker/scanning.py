"""An arbitrage scan from start to finish: read the market, find opportunities, record them, tell the user.

Idempotent per task id: the Scan row is keyed by it, a re-run replaces its opportunities, and every message
is an edit of the user's "queued" message, so a redelivered task leaves one scan, one set of rows and one
final message.

Every run ends in exactly one of two ways: a terminal outcome (completed, or failed with the user told and the
failure in Sentry), after which the user's scan slot is released; or, only for a failure the task will retry,
the exception is raised with the slot still taken, because the retry is the same scan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import redis
import sentry_sdk
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import delete, select

from common.db import session_scope
from common.db.models import Opportunity as OpportunityRow
from common.db.models import Scan, utcnow
from common.markets import GAME_IDS, LEVELS
from common.observability import add_database_breadcrumb, add_trading_breadcrumb
from common.scan_guard import release
from common.settings import Settings
from worker import scan_messages
from worker.clients import dmarket_client_for, redis_for
from worker.dmarket.arbitrage import Opportunity, OpportunityFinder, Rules, rank_key
from worker.dmarket.client import DMarketClient, RequestStats
from worker.dmarket.errors import (
    AuthenticationError,
    DMarketAPIError,
    DMarketError,
    DMarketNotConfigured,
    DMarketUnreachable,
    RateLimitError,
)
from worker.telegram import TelegramNotConfigured, TelegramSendError, get_sender, send_once

log = logging.getLogger(__name__)

# Telegram allows about one message per second per chat; progress is a courtesy, so leave room for others.
PROGRESS_INTERVAL_MS = 2_000
PROGRESS_KEY = "arbitrage:progress:{chat_id}"


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """What the bot asked for. ``message_id`` is the "queued" message that progress and results edit."""

    task_id: str
    user_id: int
    chat_id: int
    message_id: int | None
    game: str
    level: str

    def __post_init__(self) -> None:
        if self.game not in GAME_IDS:
            raise ValueError(f"unknown game {self.game!r}, expected one of {', '.join(GAME_IDS)}")
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}, expected one of {', '.join(LEVELS)}")
        if not self.task_id:
            raise ValueError("task_id must be the Celery task id, got an empty string")


@dataclass
class MarketScan:
    """What reading the market found, before anything is stored."""

    opportunities: list[Opportunity] = field(default_factory=list)
    pages: int = 0
    items_seen: int = 0
    capped: bool = False  # stopped at the page cap with more of the range left
    stats: RequestStats = field(default_factory=RequestStats)


@dataclass(frozen=True)
class ScanOutcome:
    """The task's result (JSON-serialisable through ``as_dict``)."""

    scan_id: int | None  # None: the database failed before the scan could be recorded
    status: str  # completed | failed
    pages: int
    items_seen: int
    opportunities: int
    requests: int = 0
    rate_limited: int = 0
    failure: str | None = None  # a scan_messages failure kind
    sentry_event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[int, int, int], None]  # (pages, items seen, opportunities so far)


def rules_for(settings: Settings, game: str, level: str) -> Rules:
    return Rules(LEVELS[level], settings.arbitrage_fee_bp(game), settings.arbitrage_min_profit_bp(level))


def scan_market(
    client: DMarketClient, game_id: str, rules: Rules, max_pages: int, on_page: ProgressCallback | None = None
) -> MarketScan:
    """Page through the level's price band and evaluate every offer as it arrives."""
    result = MarketScan()
    finder = OpportunityFinder(rules)  # the engine find_opportunities is, fed a page at a time
    price_to = rules.level.max_price_cents - 1  # DMarket's priceTo is inclusive, the level's bound is not
    last_cursor = ""
    for page in client.iter_market(game_id, rules.level.min_price_cents, price_to, max_pages, result.stats):
        result.pages += 1
        result.items_seen += len(page.offers)
        finder.add(page.offers)
        last_cursor = page.cursor
        if on_page is not None:
            on_page(result.pages, result.items_seen, len(finder))
    result.capped = result.pages == max_pages and bool(last_cursor)
    result.opportunities = finder.ranked()
    return result


def _never(_: BaseException) -> bool:
    return False


@dataclass
class _Progress:
    """How far a run got, for the failure handler."""

    scan_id: int | None = None


def run_scan(
    request: ScanRequest, settings: Settings, may_retry: Callable[[BaseException], bool] = _never
) -> ScanOutcome:
    """Run (or finish again, after a redelivery) the scan ``request`` describes, and end it for the user.

    Raises only what ``may_retry`` accepts (the task retries it, so the user's scan slot stays taken). Any other
    failure, a soft time limit included, wherever it strikes, becomes a failed outcome: Sentry told once (see
    ``report_failure``), the failure text in the user's message, the slot released.
    """
    redis_client = redis_for(settings.redis_url)
    with sentry_sdk.isolation_scope() as scope:
        scope.set_tag("component", "trading")
        scope.set_tag("game", request.game)
        scope.set_tag("level", request.level)
        scope.set_user({"id": str(request.user_id)})
        progress = _Progress()
        try:
            outcome = _run(request, settings, redis_client, progress)
        except Exception as exc:  # SoftTimeLimitExceeded is an Exception too
            if may_retry(exc):
                log.warning("Scan task %s will be retried: %r", request.task_id, exc)
                raise
            outcome = _fail(request, settings, progress.scan_id, exc)
        _release_slot(redis_client, request)
        return outcome


def _run(request: ScanRequest, settings: Settings, redis_client: redis.Redis, progress: _Progress) -> ScanOutcome:
    rules = rules_for(settings, request.game, request.level)
    scan_id, finished = _claim(settings.database_url, request)
    progress.scan_id = scan_id
    if finished is not None:
        log.info("Scan %s (task %s) already completed; sending its result again", scan_id, request.task_id)
        _deliver(settings, request, _result_text(settings, request, rules, finished))
        return finished

    add_trading_breadcrumb("arbitrage_scan_started", game=request.game, level=request.level, task_id=request.task_id)
    client = dmarket_client_for(settings)
    market = scan_market(
        client,
        GAME_IDS[request.game],
        rules,
        settings.arbitrage_max_pages,
        _progress_reporter(settings, request, redis_client),
    )
    outcome = _record_success(settings.database_url, scan_id, market)
    add_trading_breadcrumb(
        "arbitrage_scan_completed",
        game=request.game,
        level=request.level,
        opportunities=len(market.opportunities),
        pages=market.pages,
        items=market.items_seen,
        rate_limited=market.stats.rate_limited,
    )
    log.info(
        "Scan %s %s/%s: %d pages, %d items, %d opportunities, %d requests, %d rate-limited, %.1fs waited",
        scan_id,
        request.game,
        request.level,
        market.pages,
        market.items_seen,
        len(market.opportunities),
        market.stats.requests,
        market.stats.rate_limited,
        market.stats.waited_s,
    )
    text = scan_messages.result_text(
        settings.bot_language,
        game=request.game,
        level=request.level,
        opportunities=market.opportunities,
        items=market.items_seen,
        pages=market.pages,
        capped=market.capped,
        fee_bp=rules.fee_bp,
        min_profit_bp=rules.min_profit_bp,
    )
    _deliver(settings, request, text)
    return outcome


def _fail(request: ScanRequest, settings: Settings, scan_id: int | None, error: Exception) -> ScanOutcome:
    """End a scan that failed: one report to Sentry, the record, the user's message. Never raises."""
    kind = failure_kind(error)
    event_id = report_failure(error, kind)
    log.warning("Scan task %s failed (%s, Sentry event %s): %r", request.task_id, kind, event_id, error)
    add_trading_breadcrumb("arbitrage_scan_failed", game=request.game, level=request.level, failure=kind)
    outcome = ScanOutcome(scan_id, "failed", 0, 0, 0, failure=kind, sentry_event_id=event_id)
    if scan_id is not None:
        try:
            outcome = _record_failure(settings.database_url, scan_id, kind, event_id, error)
        except Exception as exc:  # the database may be what failed; the user must still hear of it
            log.warning("Could not record the failure of scan %s: %r", scan_id, exc)
    text = scan_messages.failure_text(settings.bot_language, kind, request.game, request.level, event_id)
    try:
        _deliver(settings, request, text)
    except Exception as exc:  # e.g. no database for send_once; already reported above
        log.warning("Could not tell chat %s that scan task %s failed: %r", request.chat_id, request.task_id, exc)
    return outcome


def report_failure(error: BaseException, kind: str) -> str | None:
    """Report a failed scan to Sentry as DESIGN.md §7's alerts need it; the id the user's message names.

    The scan's failure is one event tagged ``component=trading`` (the scope's tag) at level error: the tier-1
    "Trading failed" alert. A DMarket API error also gets an event of its own, tagged ``component=api`` in a
    forked scope, carrying the exception, so it is found by type (``RateLimitError``, ``AuthenticationError``:
    the rate-limit and auth alerts) and by component (the API-errors spike). The scan's event then carries no
    exception, only a link to the API event, so no exception is ever counted twice. A scan that ran out of
    rate-limit retries is a WARNING, not an error: the guide routes rate limits to the tier-2 digest
    ("RateLimitError, more than 5 an hour"), and paging tier 1 for every 429 storm would train people to
    ignore it.
    """
    if not isinstance(error, DMarketError) or isinstance(error, DMarketNotConfigured):
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("failure", kind)
            return sentry_sdk.capture_exception(error)
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("component", "api")
        api_event_id = sentry_sdk.capture_exception(error)
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("failure", kind)
        if api_event_id is not None:
            scope.set_tag("api_event_id", api_event_id)
        scope.set_context("dmarket_error", {"type": type(error).__name__, "message": str(error)[:500]})
        level: Literal["warning", "error"] = "warning" if isinstance(error, RateLimitError) else "error"
        return sentry_sdk.capture_message(f"Arbitrage scan failed: {kind} ({type(error).__name__})", level=level)


def _release_slot(redis_client: redis.Redis, request: ScanRequest) -> None:
    try:
        release(redis_client, request.user_id, request.task_id)
    except redis.RedisError as exc:  # the key expires on its own; the user is only locked out longer
        log.warning("Could not clear the running-scan key of user %s: %r", request.user_id, exc)


def failure_kind(error: BaseException) -> str:
    """Which failure message the user gets for ``error``."""
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, AuthenticationError):
        return "auth_failed"
    if isinstance(error, DMarketNotConfigured):
        return "not_configured"
    if isinstance(error, DMarketUnreachable) or (isinstance(error, DMarketAPIError) and error.retryable):
        return "dmarket_down"
    if isinstance(error, SoftTimeLimitExceeded):
        return "timeout"
    return "internal"


# -- persistence ---------------------------------------------------------------------------------------


def _claim(database_url: str, request: ScanRequest) -> tuple[int, ScanOutcome | None]:
    """The Scan row for this task id, created or reset for a new run; or the outcome if it already completed."""
    with session_scope(database_url) as session:
        scan = session.scalar(select(Scan).where(Scan.task_id == request.task_id))
        if scan is not None and scan.status == "completed":
            return scan.id, _outcome(scan)
        if scan is None:
            scan = Scan(
                task_id=request.task_id,
                user_id=request.user_id,
                chat_id=request.chat_id,
                game=request.game,
                level=request.level,
            )
            session.add(scan)
        else:
            # A redelivery after the worker died mid-scan: start over, dropping whatever the first run stored.
            session.execute(delete(OpportunityRow).where(OpportunityRow.scan_id == scan.id))
        scan.status, scan.started_at, scan.finished_at = "running", utcnow(), None
        scan.pages = scan.items_seen = scan.opportunities_found = 0
        scan.error = scan.sentry_event_id = None
        session.flush()
        add_database_breadcrumb("claim scan", scan_id=scan.id, task_id=request.task_id)
        return scan.id, None


def _record_success(database_url: str, scan_id: int, market: MarketScan) -> ScanOutcome:
    with session_scope(database_url) as session:
        scan = session.get_one(Scan, scan_id)
        session.execute(delete(OpportunityRow).where(OpportunityRow.scan_id == scan_id))
        session.add_all(
            OpportunityRow(
                scan_id=scan_id,
                item_id=o.item_id,
                title=o.title[:512],
                price_cents=o.price_cents,
                suggested_price_cents=o.suggested_price_cents,
                profit_cents=o.profit_cents,
                profit_bp=o.profit_bp,
            )
            for o in market.opportunities
        )
        scan.status, scan.finished_at = "completed", utcnow()
        scan.pages, scan.items_seen, scan.opportunities_found = (
            market.pages,
            market.items_seen,
            len(market.opportunities),
        )
        add_database_breadcrumb("store scan", scan_id=scan_id, opportunities=len(market.opportunities))
        return _outcome(scan, market.stats)


def _record_failure(
    database_url: str, scan_id: int, kind: str, event_id: str | None, error: BaseException
) -> ScanOutcome:
    with session_scope(database_url) as session:
        scan = session.get_one(Scan, scan_id)
        scan.status, scan.finished_at = "failed", utcnow()
        scan.error = f"{kind}: {type(error).__name__}: {error}"[:2000]
        scan.sentry_event_id = event_id
        outcome = _outcome(scan)
    return ScanOutcome(**{**outcome.as_dict(), "failure": kind, "sentry_event_id": event_id})


def _outcome(scan: Scan, stats: RequestStats | None = None) -> ScanOutcome:
    return ScanOutcome(
        scan_id=scan.id,
        status=scan.status,
        pages=scan.pages,
        items_seen=scan.items_seen,
        opportunities=scan.opportunities_found,
        requests=stats.requests if stats else 0,
        rate_limited=stats.rate_limited if stats else 0,
    )


def _result_text(settings: Settings, request: ScanRequest, rules: Rules, outcome: ScanOutcome) -> str:
    """The final message of a scan that already completed, rebuilt from its stored rows."""
    with session_scope(settings.database_url) as session:
        rows = session.scalars(select(OpportunityRow).where(OpportunityRow.scan_id == outcome.scan_id)).all()
        opportunities = sorted(
            (
                Opportunity(
                    item_id=row.item_id,
                    title=row.title,
                    price_cents=row.price_cents,
                    suggested_price_cents=row.suggested_price_cents,
                    proceeds_cents=row.price_cents + row.profit_cents,
                    profit_cents=row.profit_cents,
                    profit_bp=row.profit_bp,
                )
                for row in rows
            ),
            key=rank_key,
        )
    return scan_messages.result_text(
        settings.bot_language,
        game=request.game,
        level=request.level,
        opportunities=opportunities,
        items=outcome.items_seen,
        pages=outcome.pages,
        capped=outcome.pages >= settings.arbitrage_max_pages,
        fee_bp=rules.fee_bp,
        min_profit_bp=rules.min_profit_bp,
    )


# -- telegram ------------------------------------------------------------------------------------------


def _progress_reporter(settings: Settings, request: ScanRequest, redis_client: redis.Redis) -> ProgressCallback:
    def report(pages: int, items: int, found: int) -> None:
        if request.message_id is None:
            return
        try:
            # One edit per chat per interval across every worker: SET NX with a TTL is the whole throttle.
            if not redis_client.set(
                PROGRESS_KEY.format(chat_id=request.chat_id), "1", nx=True, px=PROGRESS_INTERVAL_MS
            ):
                return
            text = scan_messages.progress_text(settings.bot_language, request.game, request.level, pages, items, found)
            get_sender(settings).edit_message_text(request.chat_id, request.message_id, text)
        except (redis.RedisError, TelegramSendError, TelegramNotConfigured) as exc:
            # Progress is a courtesy: a failed edit must never fail the scan.
            log.warning("Progress update for scan %s skipped: %r", request.task_id, exc)

    return report


def _deliver(settings: Settings, request: ScanRequest, text: str) -> None:
    """Put ``text`` into the user's "queued" message; send it once as a new message if that is impossible."""
    try:
        sender = get_sender(settings)
        if request.message_id is not None:
            try:
                sender.edit_message_text(request.chat_id, request.message_id, text)
                return
            except TelegramSendError as exc:
                if exc.status != 400:  # deleted or too old to edit: a new message below; anything else: give up
                    raise
                log.info("Could not edit message %s (%s); sending the result anew", request.message_id, exc.description)
        send_once(sender, settings.database_url, f"arbitrage:{request.task_id}", request.chat_id, text)
    except (TelegramSendError, TelegramNotConfigured) as exc:
        # ERROR: one Sentry event (logging integration); the scan itself is stored and stays completed.
        log.error("Could not deliver the result of scan task %s to chat %s: %s", request.task_id, request.chat_id, exc)
