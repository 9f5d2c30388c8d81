"""Sentry checks run from Telegram: /sentry_info asks a worker for its status, /test_sentry sends test events."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Task, shared_task

from common.observability import sentry_status
from common.sentry_selftest import format_report
from common.settings import get_settings
from worker import sentry_selftest
from worker.telegram import TelegramNotConfigured, TelegramSendError, get_sender

log = logging.getLogger(__name__)

# The bot sends these by name through the production app (bot/handlers/sentry.py).
STATUS_TASK = "worker.tasks.sentry_checks.status"
RUN_TESTS_TASK = "worker.tasks.sentry_checks.run_tests"


# Not acks_late: a status answer nobody waits for any more is worthless, and `expires` (set by the bot)
# drops it unrun if no worker picked it up in time.
@shared_task(name=STATUS_TASK, bind=True, soft_time_limit=5, time_limit=10, acks_late=False)
def status(self: Task) -> dict[str, Any]:
    """This worker's Sentry status, as /sentry_info shows it."""
    return {"worker": self.request.hostname, "pid": os.getpid(), "sentry": sentry_status("worker").as_dict()}


# Not acks_late: re-running a half-finished test run after a worker crash would send a second set of test
# events for one command; the admin can simply run it again.
@shared_task(name=RUN_TESTS_TASK, soft_time_limit=30, time_limit=40, acks_late=False)
def run_tests(tests: list[str], user_id: int, chat_id: int, message_id: int) -> dict[str, Any]:
    """Send the test events, flush, then replace the bot's "queued" message with the report."""
    settings = get_settings()
    outcomes = sentry_selftest.run_tests(tests, user_id)
    trace_id = sentry_selftest.current_trace_id()
    report = format_report(
        outcomes,
        settings.bot_language,
        trace_id=trace_id,
        api_url=settings.sentry_api_url,
        organization=settings.sentry_organization,
    )
    try:
        # Editing is idempotent (the same text again is "not modified"), so no outbox is needed here.
        get_sender(settings).edit_message_text(chat_id, message_id, report, parse_mode=None)
    except (TelegramNotConfigured, TelegramSendError):
        # ERROR: the admin never sees the result, though the events themselves were sent.
        log.exception("Could not report /test_sentry results to chat %s", chat_id)
    return {"trace_id": trace_id, "outcomes": [outcome.as_dict() for outcome in outcomes]}
