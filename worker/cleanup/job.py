"""A cleanup run as a job: idempotent by run key, then a summary to Telegram. What the Celery task calls."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from common.i18n import Language
from common.observability.failures import failure
from common.observability.sdk import capture_failure
from worker.app import TaskFailed
from worker.cleanup import audit
from worker.cleanup.report import (
    database_down_reason,
    lock_held_reason,
    not_configured_reason,
    record_text,
    run_button,
    telegram_failure,
    telegram_summary,
    telegram_waiting,
)
from worker.cleanup.runner import CleanupContext, CleanupReport, CleanupRequest, LockHeld, run_cleanup
from worker.resources import Resources
from worker.sentry_api import SentryApiNotConfigured
from worker.telegram.outbox import send_once
from worker.telegram.sender import TelegramNotConfigured, TelegramSendError

log = logging.getLogger(__name__)

# Outcomes a redelivered message only re-reports; any other last attempt (none, running, interrupted,
# refused) means the work was not done, so a new attempt runs.
FINISHED = (audit.DONE, audit.FAILED, audit.PREVIEW)


class CleanupFailed(TaskFailed):
    """The run failed for good; raised after the summary went out so Celery, Flower and Crons see an error.

    Reported to Sentry before it is raised (``_failed``), with what really failed; not again by Celery.
    """


def _failed(
    kind: str, summary: str, cause: BaseException | None, result: dict[str, Any] | None = None
) -> CleanupFailed:
    """Report the failure once (unless ``cause`` is None: already reported) and build the exception to raise."""
    row = failure(kind)
    if cause is not None:
        event_id = capture_failure(cause, row)
        log.warning("%s (Sentry event %s)", summary, event_id)
    return CleanupFailed(summary, row.transaction_status, result)


@dataclass(frozen=True)
class ReplyTo:
    """The bot's "queued" message, which the worker edits into the preview or the outcome."""

    chat_id: int
    message_id: int
    bot_args: str = ""
    language: Language | None = None  # the user's, when the bot answers each user in their own language


def _notify(resources: Resources, run_key: str, text: str, reply_to: ReplyTo | None, offer_run: bool) -> None:
    """Best effort: a Telegram outage must not turn a finished cleanup into a failed one."""
    settings = resources.settings
    try:
        sender = resources.telegram()
        if reply_to is not None:
            markup = None
            if offer_run:
                delete = "delete" in reply_to.bot_args.split()
                language = reply_to.language or settings.bot_language
                markup = {"inline_keyboard": [[run_button(language, delete, reply_to.bot_args)]]}
            sender.edit_message_text(reply_to.chat_id, reply_to.message_id, text, reply_markup=markup)
        elif settings.admin_chat_id is not None:
            send_once(sender, resources.database, f"sentry-cleanup:{run_key}", settings.admin_chat_id, text)
        else:
            log.info("ADMIN_CHAT_ID is not set: no cleanup summary sent for %s", run_key)
    except TelegramNotConfigured:
        log.info("TELEGRAM_BOT_TOKEN is not set: no cleanup summary sent for %s", run_key)
    except TelegramSendError as exc:
        log.error("Could not send the cleanup summary for %s: %s", run_key, exc)


def notify_database_down(resources: Resources, run_key: str, error: BaseException, reply_to: ReplyTo | None) -> None:
    """The run failed for good because the database is down: tell the admins without the database.

    ``_notify`` keys its message in the database (send_once), which is what failed; this sends (or edits the
    bot's message) directly, so an outage can at worst duplicate this one message, never silence it.
    """
    settings = resources.settings
    text = telegram_failure(database_down_reason(error, settings.bot_language), settings.bot_language)
    try:
        sender = resources.telegram()
        if reply_to is not None:
            sender.edit_message_text(reply_to.chat_id, reply_to.message_id, text)
        elif settings.admin_chat_id is not None:
            sender.send_message(settings.admin_chat_id, text)
        else:
            log.info("ADMIN_CHAT_ID is not set: nobody told that cleanup %s failed", run_key)
    except (TelegramNotConfigured, TelegramSendError) as exc:
        log.error("Could not tell the admins that cleanup %s failed: %s", run_key, exc)


def database_failure(summary: str, error: BaseException) -> CleanupFailed:
    """The one report of a run the database outage ended (component=database, fatal: "Database down")."""
    return _failed("cleanup_database", summary, error)


def run_cleanup_job(
    resources: Resources,
    request: CleanupRequest,
    *,
    run_key: str,
    trigger: str,
    reply_to: ReplyTo | None = None,
    retry_in_s: int | None = None,
) -> dict[str, Any]:
    """Run (or, for a redelivered message whose run already finished, re-report) one cleanup.

    ``run_key`` is the task id: stable across redeliveries and retries. It labels the project lock, so a
    redelivered attempt takes over the lock its own killed predecessor left. When another run holds the
    lock, LockHeld propagates if ``retry_in_s`` is set (the task retries then); otherwise CleanupFailed.
    """
    settings, database = resources.settings, resources.database
    language = (reply_to.language if reply_to else None) or settings.bot_language
    try:
        api = resources.sentry_api()
    except SentryApiNotConfigured as exc:  # credentials missing: say so in the admin chat, and fail the task
        _notify(
            resources,
            run_key,
            telegram_failure(not_configured_reason(exc.missing, language), language),
            reply_to,
            offer_run=False,
        )
        raise _failed("cleanup_not_configured", str(exc), exc) from None
    audit.ensure_schema(database)
    previous = audit.find_run(database, run_key)
    if previous is not None and previous.status in FINISHED:
        # The work is done; only the summary may have been lost with the worker. send_once will not repeat it.
        _notify(resources, run_key, record_text(previous, language), reply_to, offer_run=False)
        if previous.status == audit.FAILED:  # reported when it failed
            summary = f"Sentry cleanup run {previous.id} ({previous.status}): {previous.error}"
            raise _failed("cleanup_failed", summary, None, {"run_id": previous.id, "counts": previous.counts})
        return {"run_id": previous.id, "status": previous.status, "counts": previous.counts, "redelivered": True}
    # No attempt yet, or the last one did not finish (killed: 'running'/'interrupted'; 'refused': the lock
    # was busy): a new attempt re-lists, so it never repeats what an earlier attempt did.
    attempt_key = audit.next_attempt_key(database, run_key)
    ctx = CleanupContext(
        api=api,
        database=database,
        redis_client=resources.redis if request.execute else None,
        lock_ttl_s=settings.sentry_cleanup_lock_ttl_s,
        production_environments=sorted(settings.sentry_cleanup_production_environments),
    )
    try:
        report: CleanupReport = run_cleanup(request, ctx, run_key=attempt_key, trigger=trigger, lock_owner=run_key)
    except LockHeld as exc:
        if retry_in_s is not None:
            waiting = telegram_waiting(lock_held_reason(exc.holder, language), retry_in_s, language)
            _notify(resources, run_key, waiting, reply_to, offer_run=False)
            raise
        failed = telegram_failure(lock_held_reason(exc.holder, language), language, retry_later=True)
        _notify(resources, run_key, failed, reply_to, offer_run=False)
        raise _failed("cleanup_lock_busy", f"Sentry cleanup not started: {exc}", exc) from None

    bot_args = reply_to.bot_args if reply_to else ""
    text = telegram_summary(report, language, bot_args)
    offer_run = not request.execute and report.counts["to_act"] > 0
    _notify(resources, run_key, text, reply_to, offer_run)
    result = {"run_id": report.run_id, "status": report.status, "counts": report.counts}
    if report.failed:
        summary = f"Sentry cleanup run {report.run_id} ({report.status}): {report.error}"
        if report.cause is not None:  # Sentry's Web API failed it: the API's own error, component=api
            raise _failed("cleanup_api", summary, report.cause, result)
        raise _failed("cleanup_failed", summary, RuntimeError(summary), result)
    return result
