"""Arbitrage scans (queue `scans`): a thin adapter over worker.scanning."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy.exc import OperationalError

from common.settings import get_settings
from worker.scanning import ScanRequest, run_scan

SCAN_TASK_NAME = "worker.tasks.scans.arbitrage_scan"
# A scan reads at most ARBITRAGE_MAX_PAGES pages at the shared rate (50 pages at 10/s is 5 s) plus retries;
# four minutes is generous. The soft limit lets the scan tell the user; the hard one reclaims the process.
SOFT_TIME_LIMIT_S = 240
TIME_LIMIT_S = 270
MAX_DATABASE_RETRIES = 3


@shared_task(
    bind=True,
    name=SCAN_TASK_NAME,
    soft_time_limit=SOFT_TIME_LIMIT_S,
    time_limit=TIME_LIMIT_S,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_DATABASE_RETRIES,
)
def arbitrage_scan(
    self: Task, user_id: int, chat_id: int, message_id: int | None, game: str, level: str
) -> dict[str, Any]:
    """Scan DMarket for ``game``/``level`` on behalf of ``user_id`` and edit ``message_id`` with the result."""
    request = ScanRequest(
        task_id=self.request.id, user_id=user_id, chat_id=chat_id, message_id=message_id, game=game, level=level
    )
    try:
        return run_scan(request, get_settings()).as_dict()
    except OperationalError as exc:
        # The database is unreachable, so the scan cannot be recorded: try the whole scan again later (DMarket
        # and Telegram trouble never gets here; run_scan turns it into the user's message).
        countdown = get_exponential_backoff_interval(5, self.request.retries, 120, full_jitter=True)
        raise self.retry(exc=exc, countdown=countdown) from exc
