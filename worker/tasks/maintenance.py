"""Maintenance tasks on the `maintenance` queue: the Sentry cleanup (beat weekly/monthly, bot /cleanup)."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from common.observability import set_component
from common.settings import get_settings
from worker.sentry.cleanup import CleanupRequest, LockHeld
from worker.sentry.cleanup_job import ReplyTo, run_cleanup_job

# A monthly run over a large project lists and acts at Sentry's 5 requests/s; 25 minutes covers
# ~7,000 calls. The hard limit stays below the broker's visibility timeout (worker.celery_app).
CLEANUP_SOFT_TIME_LIMIT_S = 25 * 60
CLEANUP_TIME_LIMIT_S = 30 * 60
# While another run holds the project lock, try again every 2 minutes for up to an hour (longer than
# another run's hard time limit), then fail: a refused run must never look like a successful one.
LOCK_RETRY_COUNTDOWN_S = 120
LOCK_RETRY_MAX = 30


@shared_task(
    name="worker.tasks.maintenance.sentry_cleanup",
    bind=True,
    acks_late=True,
    soft_time_limit=CLEANUP_SOFT_TIME_LIMIT_S,
    time_limit=CLEANUP_TIME_LIMIT_S,
    # The API client already retried; a failed run is reported, not repeated blindly. The only retries are
    # those while another run holds the lock (LOCK_RETRY_MAX, passed to self.retry).
    max_retries=0,
)
def sentry_cleanup(
    self: Task,
    test_only: bool = False,
    older_than_days: int | None = None,
    delete: bool = False,
    execute: bool = False,
    environment: str | None = None,
    max_actions: int | None = None,
    trigger: str = "beat",
    chat_id: int | None = None,
    message_id: int | None = None,
    bot_args: str = "",
) -> dict[str, Any]:
    """Run the same cleanup as scripts/sentry_cleanup.py; the task id is the run key (redelivery-safe)."""
    set_component("maintenance")
    request = CleanupRequest(test_only, older_than_days, delete, execute, environment, max_actions)
    reply_to = ReplyTo(chat_id, message_id, bot_args) if chat_id is not None and message_id is not None else None
    retry_in_s = LOCK_RETRY_COUNTDOWN_S if self.request.retries < LOCK_RETRY_MAX else None
    try:
        return run_cleanup_job(
            get_settings(),
            request,
            run_key=str(self.request.id),
            trigger=trigger,
            reply_to=reply_to,
            retry_in_s=retry_in_s,
        )
    except LockHeld as exc:
        # Same task id, so the next attempt is `<id>#n` of the same run. Celery's Retry is not an error
        # event; sentry-sdk closes a beat run's Crons check-in as "error" on retry, then "ok" on success.
        raise self.retry(exc=exc, countdown=retry_in_s, max_retries=LOCK_RETRY_MAX) from None
