"""Arbitrage scans (queue `scans`): a thin adapter over worker.arbitrage.workflow."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery.exceptions import Reject
from sqlalchemy.exc import OperationalError

from common.contract import ContractError, ScanTask
from common.i18n import language_from_code
from common.observability.failures import failure
from common.scan_slot import release
from worker.app import BaseTask, TaskFailed, app
from worker.arbitrage import messages, store
from worker.arbitrage.delivery import deliver
from worker.arbitrage.model import ScanRequest
from worker.arbitrage.workflow import run_scan

log = logging.getLogger(__name__)

# A scan reads at most ARBITRAGE_MAX_PAGES pages at the shared rate (50 pages at 10/s is 5 s) plus retries;
# four minutes is generous. The soft limit lets the scan tell the user; the hard one reclaims the process.
SOFT_TIME_LIMIT_S = 240
TIME_LIMIT_S = 270
MAX_DATABASE_RETRIES = BaseTask.outage_policy.max_attempts - 1
# Redis itself went away (the broker, the shared limiter, the user's slot): nothing can be finished or told now.
REDIS_LOST = (redis.ConnectionError, redis.TimeoutError)


@app.task(
    bind=True,
    name=ScanTask.NAME,
    soft_time_limit=SOFT_TIME_LIMIT_S,
    time_limit=TIME_LIMIT_S,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_DATABASE_RETRIES,
)
def arbitrage_scan(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Scan DMarket for the ScanTask in ``kwargs`` and edit the user's "queued" message with the result."""
    task_id = str(self.request.id)
    try:
        self.drop_if_abandoned()
    except REDIS_LOST as exc:  # cannot tell whether the bot abandoned it: decide when Redis is back
        raise Reject(exc, requeue=True) from exc
    try:
        call = ScanTask.from_kwargs(kwargs)
    except ContractError:
        _refuse_malformed(self, task_id, kwargs)
        raise
    request = ScanRequest.of(task_id, call)

    def retry_left(error: BaseException) -> bool:
        # The database is unreachable, so the scan cannot be recorded: run the whole scan again later, keeping
        # the user's scan slot. On the last attempt run_scan ends the scan for the user instead (DMarket and
        # Telegram trouble, soft time limits and bugs always end it at once).
        if isinstance(error, OperationalError):
            return bool(self.request.retries < self.max_retries)
        # Redis is gone: telling the user "failed" now would be a second ending once the unacked message comes
        # back with Redis and runs again. The row stays `running`; the redelivery resumes it (bounded by
        # MAX_SCAN_ATTEMPTS), and if Redis lost the message the janitor ends the row once.
        return isinstance(error, REDIS_LOST)

    try:
        outcome = run_scan(self.resources, request, may_retry=retry_left)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=self.outage_countdown_s()) from exc
    except REDIS_LOST as exc:
        log.warning("Redis went away during scan task %s: it runs again when Redis is back (%r)", task_id, exc)
        raise Reject(exc, requeue=True) from exc
    if outcome.status == store.FAILED:
        # Reported and told to the user already; FAILURE in Celery (and Flower), the counters in the result.
        status = failure(outcome.failure or "internal").transaction_status
        raise TaskFailed(outcome.error or f"{outcome.failure}", status, outcome.as_dict())
    return outcome.as_dict()


def _refuse_malformed(task: BaseTask, task_id: str, kwargs: dict[str, Any]) -> None:
    """A message that is not a ScanTask still ends for its user: the slot back and a failure message, if known."""
    resources = task.resources
    user_id, chat_id, message_id = kwargs.get("user_id"), kwargs.get("chat_id"), kwargs.get("message_id")
    if isinstance(user_id, int):
        try:
            release(resources.redis, user_id, task_id)
        except Exception:  # the key expires on its own
            log.warning("Could not release the scan slot of user %s", user_id, exc_info=True)
    if isinstance(chat_id, int) and isinstance(message_id, int | None):
        request = ScanRequest(task_id, user_id if isinstance(user_id, int) else 0, chat_id, message_id, "?", "?")
        given = kwargs.get("language")
        language = (language_from_code(given) if isinstance(given, str) else None) or resources.settings.bot_language
        text = messages.failure_text(language, "internal", "?", "?", None)
        deliver(resources, request, text)
