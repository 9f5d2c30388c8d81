"""The Sentry cleanup (queue `maintenance`): beat weekly/monthly and the bot's /cleanup."""

from __future__ import annotations

from typing import Any

from common.contract import CleanupTask
from common.observability.breadcrumbs import set_component
from worker.app import BaseTask, app
from worker.cleanup.job import ReplyTo, run_cleanup_job
from worker.cleanup.runner import CleanupRequest, LockHeld

# A monthly run over a large project lists and acts at Sentry's 5 requests/s; 25 minutes covers
# ~7,000 calls. The hard limit stays below the broker's visibility timeout (worker.app).
CLEANUP_SOFT_TIME_LIMIT_S = 25 * 60
CLEANUP_TIME_LIMIT_S = 30 * 60
# While another run holds the project lock, try again every 2 minutes for up to an hour (longer than
# another run's hard time limit), then fail: a refused run must never look like a successful one.
LOCK_RETRY_COUNTDOWN_S = 120
LOCK_RETRY_MAX = 30


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
