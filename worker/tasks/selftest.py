"""Sentry checks run from Telegram: /sentry_info asks a worker for its status, /test_sentry sends test events."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from common.contract import REPLY_TTL_S, SelfTestTask, SentryStatusTask
from common.observability.sdk import sentry_status
from common.retry import ONCE
from worker.app import BaseTask, TaskFailed, app
from worker.selftest import events
from worker.selftest.report import Failure, format_report
from worker.sentry_api import SentryApi, SentryApiNotConfigured, SentryAuthError, sentry_api_from_settings
from worker.telegram.sender import TelegramNotConfigured, TelegramSendError

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT_S = 3.0


def status_answer(hostname: str) -> dict[str, Any]:
    """This worker's Sentry status, as /sentry_info shows it."""
    return {"worker": hostname, "pid": os.getpid(), "sentry": sentry_status("worker").as_dict()}


# Not acks_late: a status answer nobody waits for any more is worthless, and `expires` (set by the bot)
# drops it unrun if no worker picked it up in time.
@app.task(name=SentryStatusTask.NAME, bind=True, soft_time_limit=5, time_limit=10, acks_late=False)
def status(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Push this worker's status onto the bot's reply list (the bot waits on it with a timeout)."""
    call = SentryStatusTask.from_kwargs(kwargs)
    answer = status_answer(str(self.request.hostname))
    redis = self.resources.redis
    with redis.pipeline() as pipe:
        pipe.rpush(call.reply_to, json.dumps(answer))
        pipe.expire(call.reply_to, REPLY_TTL_S)
        pipe.execute()
    return answer


def _lookup(api: SentryApi) -> events.Lookup:
    def stored(event_id: str) -> bool:
        try:
            return api.event_stored(event_id)
        except SentryAuthError as exc:  # e.g. no project:read: asking again will not help
            raise events.CannotCheck(str(exc)) from None

    return stored


# Not acks_late: re-running a half-finished test run after a worker crash would send a second set of test
# events for one command; the admin can simply run it again. The limits leave room for the flush and the
# delivery check (events.FLUSH_TIMEOUT_S + events.CONFIRM_TIMEOUT_S) and the report.
@app.task(name=SelfTestTask.NAME, bind=True, soft_time_limit=45, time_limit=60, acks_late=False)
def run_tests(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Send the test events, check Sentry has them, then replace the bot's "queued" message with the report."""
    self.drop_if_abandoned()
    call = SelfTestTask.from_kwargs(kwargs)
    settings = self.resources.settings
    outcomes = events.run_tests(call.tests, call.user_id)
    trace_id = events.current_trace_id()
    try:
        # Its own short-timeout client: a hung Sentry API must not use up the task's time.
        api: SentryApi | None = sentry_api_from_settings(settings, timeout_s=LOOKUP_TIMEOUT_S, retry_policy=ONCE)
    except SentryApiNotConfigured:
        api = None
    try:
        outcomes = events.confirm_delivery(outcomes, _lookup(api) if api else None)
    finally:
        if api is not None:
            api.close()
    report = format_report(
        outcomes,
        call.language or settings.bot_language,
        trace_id=trace_id,
        api_url=settings.sentry_api_url,
        organization=settings.sentry_organization,
        confirm_timeout_s=events.CONFIRM_TIMEOUT_S,
    )
    try:
        # Editing is idempotent (the same text again is "not modified"), so no outbox is needed here.
        self.resources.telegram().edit_message_text(call.chat_id, call.message_id, report, parse_mode=None)
    except (TelegramNotConfigured, TelegramSendError):
        # ERROR: the admin never sees the result, though the events themselves were sent.
        log.exception("Could not report /test_sentry results to chat %s", call.chat_id)
    result = {"trace_id": trace_id, "outcomes": [outcome.as_dict() for outcome in outcomes]}
    failed = [o for o in outcomes if not o.ok]
    if failed:
        # The admin has the report; Celery (and Flower) say the self-test failed, and why.
        summary = "; ".join(f"{o.test}: {(o.failure or o.delivery or Failure.NOT_SENT).value}" for o in failed)
        status = "failed_precondition" if all(o.failure is Failure.SENTRY_OFF for o in failed) else "unavailable"
        raise TaskFailed(f"Sentry self-test failed: {summary}", status, result)
    return result
