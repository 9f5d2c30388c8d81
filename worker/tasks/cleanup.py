"""The Sentry cleanup (queue `maintenance`): beat weekly/monthly and the bot's /cleanup."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from common.contract import CleanupTask
from common.observability.breadcrumbs import set_component
from worker.app import BaseTask, app
from worker.cleanup.job import ReplyTo, database_failure, notify_database_down, run_cleanup_job
from worker.cleanup.runner import CleanupRequest, LockHeld

# A monthly run over a large project lists and acts at Sentry's 5 requests/s; 25 minutes covers
# ~7,000 calls. The hard limit stays below the broker's visibility timeout (worker.app).
CLEANUP_SOFT_TIME_LIMIT_S = 25 * 60
CLEANUP_TIME_LIMIT_S = 30 * 60
# While another run holds the project lock, try again every 2 minutes for up to an hour (longer than
# another run's hard time limit), then fail: a refused run must never look like a successful one.
LOCK_RETRY_COUNTDOWN_S = 120
LOCK_RETRY_MAX = 30
# Database outages: the same span as a scan's (worker.app.BaseTask.outage_policy, about 1.5 to 2.5 minutes).
MAX_DATABASE_RETRIES = BaseTask.outage_policy.max_attempts - 1

log = logging.getLogger(__name__)


@app.task(
    name=CleanupTask.NAME,
    bind=True,
    acks_late=True,
    soft_time_limit=CLEANUP_SOFT_TIME_LIMIT_S,
    time_limit=CLEANUP_TIME_LIMIT_S,
    # The API client already retried; a failed run is reported, not repeated blindly. The only retries are
    # those while another run holds the lock (LOCK_RETRY_MAX, passed to self.retry).
    max_retries=0,
)
def sentry_cleanup(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Run the same cleanup as scripts/sentry_cleanup.py; the task id is the run key (redelivery-safe)."""
    set_component("maintenance")
    self.drop_if_abandoned()
    call = CleanupTask.from_kwargs(kwargs)
    request = CleanupRequest(
        call.test_only, call.older_than_days, call.delete, call.execute, call.environment, call.max_actions
    )
    reply_to = (
        ReplyTo(call.chat_id, call.message_id, call.bot_args, call.language)
        if call.chat_id is not None and call.message_id is not None
        else None
    )
    retry_in_s = LOCK_RETRY_COUNTDOWN_S if self.request.retries < LOCK_RETRY_MAX else None
    try:
        return run_cleanup_job(
            self.resources,
            request,
            run_key=str(self.request.id),
            trigger=call.trigger,
            reply_to=reply_to,
            retry_in_s=retry_in_s,
        )
    except LockHeld as exc:
        # Same task id, so the next attempt is `<id>#n` of the same run. Celery's Retry is not an error
        # event; sentry-sdk closes a beat run's Crons check-in as "error" on retry, then "ok" on success.
        raise self.retry(exc=exc, countdown=retry_in_s, max_retries=LOCK_RETRY_MAX) from None
    except SQLAlchemyError as exc:
        # The audit is the cleanup's safety record: no acting without it. Wait out a realistic outage (a
        # minute or two), then fail once, telling the admins directly (the outbox is in the database too).
        if self.request.retries < MAX_DATABASE_RETRIES:
            log.warning("Database unreachable during cleanup %s; retrying: %r", self.request.id, exc)
            raise self.retry(exc=exc, countdown=self.outage_countdown_s(), max_retries=LOCK_RETRY_MAX) from None
        notify_database_down(self.resources, str(self.request.id), exc, reply_to)
        summary = f"Sentry cleanup not run: the database stayed unreachable ({type(exc).__name__})"
        raise database_failure(summary, exc) from None
