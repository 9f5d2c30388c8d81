"""A scan's rows in the database: claimed by task id, then completed with its opportunities or failed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from common.db.database import Database
from common.db.models import Scan, ScanOpportunity, utcnow
from common.observability.breadcrumbs import add_database_breadcrumb
from worker.arbitrage.engine import Opportunity, rank_key
from worker.arbitrage.model import MarketScan, ScanOutcome, ScanRequest
from worker.dmarket.models import RequestStats

COMPLETED, FAILED, RUNNING = "completed", "failed", "running"
# Outcomes a redelivered task only reports again: the scan ended, one way or the other, and the user was told.
TERMINAL = (COMPLETED, FAILED)


@dataclass(frozen=True)
class Claim:
    """A scan row taken by this run: its id, its outcome if it already ended, and whether it was started before."""

    scan_id: int
    ended: ScanOutcome | None
    resumed: bool  # an earlier run of this task started it and did not finish (a worker died, Redis went away)
    attempts: int  # runs so far, this one included


def claim(database: Database, request: ScanRequest) -> Claim:
    """The Scan row for this task id, created or reset for a new run; or its outcome if it already ended."""
    with database.session() as session:
        scan = session.scalar(select(Scan).where(Scan.task_id == request.task_id))
        if scan is not None and scan.status in TERMINAL:
            return Claim(scan.id, outcome_of(scan), resumed=False, attempts=scan.attempts)
        resumed = scan is not None
        if scan is None:
            scan = Scan(
                task_id=request.task_id,
                user_id=request.user_id,
                chat_id=request.chat_id,
                message_id=request.message_id,
                game=request.game,
                level=request.level,
                attempts=0,
            )
            session.add(scan)
        else:
            # A redelivery after the worker died mid-scan: start over, dropping whatever the first run stored.
            session.execute(delete(ScanOpportunity).where(ScanOpportunity.scan_id == scan.id))
        scan.status, scan.started_at, scan.finished_at = RUNNING, utcnow(), None
        scan.pages = scan.items_seen = scan.opportunities_found = scan.skipped_listings = 0
        scan.valued_titles = scan.skipped_valuations = 0
        scan.method = request.method
        scan.error = scan.sentry_event_id = None
        scan.attempts += 1
        session.flush()
        add_database_breadcrumb("claim scan", scan_id=scan.id, task_id=request.task_id)
        return Claim(scan.id, None, resumed=resumed, attempts=scan.attempts)


def record_success(database: Database, scan_id: int, market: MarketScan) -> ScanOutcome:
    with database.session() as session:
        scan = session.get_one(Scan, scan_id)
        session.execute(delete(ScanOpportunity).where(ScanOpportunity.scan_id == scan_id))
        session.add_all(
            ScanOpportunity(
                scan_id=scan_id,
                item_id=o.item_id,
                title=o.title[:512],
                price_cents=o.price_cents,
                suggested_price_cents=o.suggested_price_cents,
                profit_cents=o.profit_cents,
                profit_bp=o.profit_bp,
                basis=o.basis,
                resale_cents=o.resale_cents,
                sales_used=o.sales_used,
                window_days=o.window_days,
                liquidity=o.liquidity,
                liquidity_saturated=o.liquidity_saturated,
            )
            for o in market.opportunities
        )
        scan.status, scan.finished_at = COMPLETED, utcnow()
        scan.pages, scan.items_seen, scan.opportunities_found = (
            market.pages,
            market.items_seen,
            len(market.opportunities),
        )
        scan.capped = market.capped
        scan.skipped_listings = market.stats.malformed
        scan.method = market.method
        scan.valued_titles = market.valued_titles
        scan.skipped_valuations = market.stats.malformed_valuations
        add_database_breadcrumb("store scan", scan_id=scan_id, opportunities=len(market.opportunities))
        return outcome_of(scan, market.stats)


def record_failure(database: Database, scan_id: int, kind: str, event_id: str | None, error: BaseException) -> None:
    with database.session() as session:
        scan = session.get_one(Scan, scan_id)
        scan.status, scan.finished_at = FAILED, utcnow()
        scan.error = failure_summary(kind, error)
        scan.failure = kind
        scan.sentry_event_id = event_id


def failure_summary(kind: str, error: BaseException) -> str:
    """How a failed scan's row and its task's FAILURE state name the failure."""
    return f"{kind}: {type(error).__name__}: {error}"[:2000]


def outcome_of(scan: Scan, stats: RequestStats | None = None) -> ScanOutcome:
    return ScanOutcome(
        scan_id=scan.id,
        status=scan.status,
        pages=scan.pages,
        items_seen=scan.items_seen,
        opportunities=scan.opportunities_found,
        capped=scan.capped,
        skipped_listings=scan.skipped_listings,
        valued_titles=scan.valued_titles,
        skipped_valuations=scan.skipped_valuations,
        requests=stats.requests if stats else 0,
        rate_limited=stats.rate_limited if stats else 0,
        failure=scan.failure,
        sentry_event_id=scan.sentry_event_id,
        error=scan.error,
    )


def stored_opportunities(database: Database, scan_id: int) -> list[Opportunity]:
    """The opportunities a completed scan stored, best first (to send its result again)."""
    with database.session() as session:
        rows = session.scalars(select(ScanOpportunity).where(ScanOpportunity.scan_id == scan_id)).all()
        return sorted(
            (
                Opportunity(
                    item_id=row.item_id,
                    title=row.title,
                    price_cents=row.price_cents,
                    suggested_price_cents=row.suggested_price_cents,
                    proceeds_cents=row.price_cents + row.profit_cents,
                    profit_cents=row.profit_cents,
                    profit_bp=row.profit_bp,
                    basis=row.basis,
                    resale_cents=row.resale_cents,
                    sales_used=row.sales_used,
                    window_days=row.window_days,
                    liquidity=row.liquidity,
                    liquidity_saturated=row.liquidity_saturated,
                )
                for row in rows
            ),
            key=rank_key,
        )
