"""Arbitrage scans (queue `scans`): a thin adapter over worker.scanning."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from common.settings import get_settings
from worker.celery_app import BaseTask
from worker.scanning import ScanRequest, run_scan

SCAN_TASK_NAME = "worker.tasks.scans.arbitrage_scan"
# A scan reads at most ARBITRAGE_MAX_PAGES pages at the shared rate (50 pages at 10/s is 5 s) plus retries;
# four minutes is generous. The soft limit lets the scan tell the user; the hard one reclaims the process.
SOFT_TIME_LIMIT_S = 240
TIME_LIMIT_S = 270
MAX_DATABASE_RETRIES = 3
DATABASE_RETRY_BASE_S = 5  # first backoff; doubles per retry, capped at DATABASE_RETRY_MAX_S
DATABASE_RETRY_MAX_S = 120


@shared_task(
    bind=True,
    name=SCAN_TASK_NAME,
    soft_time_limit=SOFT_TIME_LIMIT_S,
    time_limit=TIME_LIMIT_S,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_DATABASE_RETRIES,
    retry_base_s=DATABASE_RETRY_BASE_S,
    retry_max_s=DATABASE_RETRY_MAX_S,
)
def arbitrage_scan(
    self: BaseTask, user_id: int, chat_id: int, message_id: int | None, game: str, level: str
) -> dict[str, Any]:
    """Scan DMarket for ``game``/``level`` on behalf of ``user_id`` and edit ``message_id`` with the result."""
    request = ScanRequest(
        task_id=self.request.id, user_id=user_id, chat_id=chat_id, message_id=message_id, game=game, level=level
    )

    def database_retry_left(error: BaseException) -> bool:
        # The database is unreachable, so the scan cannot be recorded: run the whole scan again later, keeping
        # the user's scan slot. On the last attempt run_scan ends the scan for the user instead (DMarket and
        # Telegram trouble, soft time limits and bugs always end it at once).
        return isinstance(error, OperationalError) and self.request.retries < self.max_retries

    try:
        return run_scan(request, get_settings(), may_retry=database_retry_left).as_dict()
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=self.retry_countdown_s()) from exc
