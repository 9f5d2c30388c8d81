"""The buttons on an alert page: Resolve and Archive act on that one issue in Sentry, Mute silences the router.

Only ``ADMIN_USER_IDS`` may press them: the bot refuses others before anything is queued, and this checks
again on the server side. Resolve/Archive PUT exactly one issue by id (``SentryApi.update_issue``, the
same client and rate-limit handling as the cleanup; scope ``event:write``). A refusal (401/403 naming the
scope, 404, 429) answers the press and changes nothing; every press is recorded in ``alert_actions``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from common.contract import AlertActionTask
from common.db.models import AlertAction, AlertPage
from common.i18n import N_, translator
from common.retry import RetryPolicy
from common.texts import Catalogue, Language, translate
from worker.alerts.router import show
from worker.resources import Resources
from worker.sentry_api import (
    SentryApiError,
    SentryApiNotConfigured,
    SentryAuthError,
    SentryRateLimited,
    sentry_api_from_settings,
)
from worker.telegram.sender import TelegramSendError

log = logging.getLogger(__name__)

MUTE = timedelta(hours=24)
# A button press waits seconds, not the cleanup's minutes: one retry, and a 429 is answered, not waited out.
BUTTON_POLICY = RetryPolicy(max_attempts=2, deadline_s=8.0, base_s=0.5, max_backoff_s=2.0)
CHANGES: dict[str, dict[str, Any]] = {
    "resolve": {"status": "resolved"},
    # "Archive until escalating" in Sentry's Web API: status ignored, substatus archived_until_escalating.
    "archive": {"status": "ignored", "substatus": "archived_until_escalating", "statusDetails": {}},
}
DONE_STATUS = {"resolve": "resolved", "archive": "archived"}

TEXTS: Catalogue = {
    "admins_only": N_("⛔ Admins only."),
    "unknown_page": N_("This alert page is no longer known."),
    "resolve": N_("✅ Issue resolved in Sentry."),
    "archive": N_("🗄 Issue archived until escalating."),
    "mute": N_("🔕 Alerts for this issue muted for 24 h."),
    "already": N_("Already done."),
    "no_issue": N_("A metric alert has no Sentry issue."),
    "auth": N_("⛔ Sentry refused: SENTRY_AUTH_TOKEN needs the {scope} scope. Nothing changed."),
    "not_found": N_("Issue {issue} was not found in Sentry (deleted?). Nothing changed."),
    "rate_limited": N_("⏳ Sentry is rate-limiting us, try again in {wait}. Nothing changed."),
    "not_configured": N_(
        "The Sentry Web API is not configured (SENTRY_AUTH_TOKEN, SENTRY_ORGANIZATION, SENTRY_PROJECT)."
    ),
    "failed": N_("😔 That did not work: Sentry did not answer properly. Nothing changed."),
}


def t(key: str, language: Language, **values: object) -> str:
    return translate(TEXTS, key, language, **values)


@dataclass(frozen=True)
class ActionOutcome:
    result: str  # done | refused | failed
    answer: str
    detail: str = ""


def act(resources: Resources, call: AlertActionTask, now: datetime | None = None) -> ActionOutcome:
    """Carry out one button press, record it, edit the page on success, and answer the press."""
    now = now or datetime.now(UTC)
    outcome, page = _act(resources, call, now)
    if page is not None:
        with resources.database.session() as session:
            session.add(
                AlertAction(
                    page_id=page.id,
                    issue_id=page.issue_id,
                    action=call.action,
                    user_id=call.user_id,
                    user_name=call.user_name[:128],
                    result=outcome.result,
                    detail=(outcome.detail or outcome.answer)[:2000],
                    created_at=now,
                )
            )
    _answer(resources, call, outcome)
    return outcome


def _answer(resources: Resources, call: AlertActionTask, outcome: ActionOutcome) -> None:
    try:
        resources.telegram().call(
            "answerCallbackQuery",
            {
                "callback_query_id": call.callback_query_id,
                "text": outcome.answer[:200],
                "show_alert": outcome.result != "done",
            },
            policy=RetryPolicy(max_attempts=2, deadline_s=5.0, base_s=0.5, max_backoff_s=1.0),
        )
    except TelegramSendError as exc:  # the press is older than Telegram keeps it: the page edit still says it
        log.info("Could not answer the button press %s: %s", call.callback_query_id, exc)


def _act(resources: Resources, call: AlertActionTask, now: datetime) -> tuple[ActionOutcome, AlertPage | None]:
    settings = resources.settings
    language = settings.bot_language
    with resources.database.session() as session:
        page = session.scalar(select(AlertPage).where(AlertPage.key == call.page_key))
        if page is not None:
            session.expunge(page)
    if page is None:
        return ActionOutcome("refused", t("unknown_page", language)), None
    if call.user_id not in settings.admin_user_ids:
        log.warning("User %s pressed %s on alert page %s: not an admin", call.user_id, call.action, page.key)
        return ActionOutcome("refused", t("admins_only", language), "not in ADMIN_USER_IDS"), page
    who = call.user_name or str(call.user_id)
    if call.action == "mute":
        with resources.database.session() as session:
            row = session.get(AlertPage, page.id)
            assert row is not None
            row.muted_until = now + MUTE
            row.status_note = {**(row.status_note or {}), "muted_by": who}
            session.flush()
            session.expunge(row)
        _show_quietly(resources, row)
        return ActionOutcome("done", t("mute", language)), row
    if page.issue_id is None:
        return ActionOutcome("refused", t("no_issue", language)), page
    if page.status == DONE_STATUS[call.action]:
        return ActionOutcome("done", t("already", language)), page
    refusal = _call_sentry(resources, page.issue_id, call.action, language)
    if refusal is not None:
        return refusal, page
    with resources.database.session() as session:
        row = session.get(AlertPage, page.id)
        assert row is not None
        row.status = DONE_STATUS[call.action]
        row.status_note = {**(row.status_note or {}), "shown": row.status, "by": who, "at": now.isoformat()}
        session.flush()
        session.expunge(row)
    _show_quietly(resources, row)
    return ActionOutcome("done", t(call.action, language)), row


def _call_sentry(resources: Resources, issue_id: str, action: str, language: Language) -> ActionOutcome | None:
    """None when Sentry did it; else the refusal to answer with (nothing changed)."""
    try:
        api = sentry_api_from_settings(resources.settings, retry_policy=BUTTON_POLICY, timeout_s=5.0)
    except SentryApiNotConfigured as exc:
        return ActionOutcome("refused", t("not_configured", language), str(exc))
    try:
        with api:
            api.update_issue(issue_id, CHANGES[action])
    except SentryAuthError as exc:
        return ActionOutcome("refused", t("auth", language, scope=exc.scope), str(exc))
    except SentryRateLimited as exc:
        return ActionOutcome(
            "refused", t("rate_limited", language, wait=translator(language).duration(max(1.0, exc.wait_s))), str(exc)
        )
    except SentryApiError as exc:
        if exc.status == 404:
            return ActionOutcome("refused", t("not_found", language, issue=issue_id), str(exc))
        log.warning("Sentry %s of issue %s failed: %s", action, issue_id, exc)
        return ActionOutcome("failed", t("failed", language), str(exc))
    return None


def _show_quietly(resources: Resources, page: AlertPage) -> None:
    # The action is done and recorded; a page Telegram cannot edit now waits in the outbox.
    show(resources, page)
