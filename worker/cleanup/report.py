"""How a cleanup run is shown: the CLI preview/report lines and the Telegram summary. Pure formatting."""

from __future__ import annotations

import html
from collections.abc import Iterable

from common.contract import CLEANUP_RUN_CALLBACK_PREFIX
from common.texts import Catalogue, Language, shorten, translate
from worker.cleanup.audit import RunRecord
from worker.cleanup.policy import PROTECTION_TEXT, Protection
from worker.cleanup.runner import CleanupReport, CleanupRequest

TELEGRAM_ISSUE_LINES = 10


def describe_request(request: CleanupRequest) -> str:
    parts = []
    if request.test_only:
        parts.append("--test-only")
    if request.older_than_days is not None:
        parts.append(f"--old {request.older_than_days}")
    if request.delete:
        parts.append("--delete")
    if request.execute:
        parts.append("--execute")
    if request.environment:
        parts.append(f"--environment {request.environment}")
    if request.max_actions is not None:
        parts.append(f"--max {request.max_actions}")
    return " ".join(parts)


def _verb(report: CleanupReport) -> str:
    return "delete" if report.request.delete else "resolve"


def preview_lines(report: CleanupReport) -> Iterable[str]:
    """One line per issue found (action or protecting rule), then the totals."""
    mode = "EXECUTE" if report.request.execute else "DRY RUN (nothing is changed; add --execute to act)"
    yield f"Sentry cleanup of {report.organization}/{report.project}: {describe_request(report.request)}"
    yield f"Mode: {mode}"
    for decision in report.decisions:
        issue = decision.issue
        what = decision.action.value.upper() if decision.action else "KEEP"
        seen = issue.last_seen.strftime("%Y-%m-%d") if issue.last_seen else "?"
        state = report.states.get(issue.id)
        suffix = f" [{state}]" if state and decision.action else ""
        why = "" if decision.action else f" ({decision.explanation})"
        yield f"  {what:<8} {issue.id:>10}  {issue.status:<10} {seen}  {shorten(issue.title, 80)}{why}{suffix}"
    yield from totals_lines(report)


def totals_lines(report: CleanupReport) -> Iterable[str]:
    counts = report.counts
    protected = ", ".join(
        f"{PROTECTION_TEXT[Protection(rule)]}: {n}" for rule, n in sorted(counts.get("protected", {}).items())
    )
    yield (
        f"Totals: {counts['found']} found, {counts['to_act']} to {_verb(report)}, "
        f"{counts['found'] - counts['to_act']} kept" + (f" ({protected})" if protected else "")
    )
    if report.request.execute:
        yield (
            f"Outcome: {counts['done']} done, {counts['failed']} failed, {counts['unknown']} unknown, "
            f"{counts['not_attempted']} not attempted"
        )
    yield (
        f"Run {report.run_id} ({report.status}) in {report.duration_s:.1f}s; Sentry API calls: {report.api.requests} "
        f"(retries {report.api.retries}, rate-limit waits {report.api.waited_s:.1f}s)"
    )
    if report.error:
        yield f"Error: {report.error}"


def run_lines(runs: Iterable[RunRecord]) -> Iterable[str]:
    """The --report table of past runs."""
    yield f"{'run':>5}  {'started (UTC)':<19}  {'trigger':<7}  {'status':<11}  {'found':>5}  {'done':>5}  params"
    for run in runs:
        request = CleanupRequest(**{k: v for k, v in run.params.items() if k in CleanupRequest.__dataclass_fields__})
        yield (
            f"{run.id:>5}  {run.started_at.strftime('%Y-%m-%d %H:%M:%S'):<19}  {run.trigger:<7}  {run.status:<11}  "
            f"{run.counts.get('found', '-')!s:>5}  {run.counts.get('done', '-')!s:>5}  {describe_request(request)}"
            + (f"  error: {run.error}" if run.error else "")
        )


REPORT_TEXTS: Catalogue = {
    "title_preview": {"ru": "🧹 Очистка Sentry — предпросмотр", "en": "🧹 Sentry cleanup — preview"},
    "title_done": {"ru": "🧹 Очистка Sentry выполнена", "en": "🧹 Sentry cleanup done"},
    "database_down": {
        "ru": "База данных недоступна ({error}), очистка не выполнена. Следующий запуск — по расписанию.",
        "en": "The database is unreachable ({error}); the cleanup did not run. The next run is on schedule.",
    },
    "title_failed": {"ru": "⚠️ Очистка Sentry завершилась с ошибками", "en": "⚠️ Sentry cleanup finished with failures"},
    "totals": {
        "ru": "Найдено: {found}, к действию ({verb}): {to_act}, защищено: {kept}",
        "en": "Found: {found}, to {verb}: {to_act}, protected: {kept}",
    },
    "already_resolved": {
        "ru": "уже решены: {n}",
        "en": "already resolved: {n}",
    },
    "outcome": {
        "ru": "Выполнено: {done}, ошибок: {failed}, неизвестно: {unknown}, не начато: {not_attempted}",
        "en": "Done: {done}, failed: {failed}, unknown: {unknown}, not attempted: {not_attempted}",
    },
    "more": {"ru": "… и ещё {n}", "en": "… and {n} more"},
    "run": {
        "ru": "Запуск #{run_id}, {calls} запросов к API, {seconds:.1f} с",
        "en": "Run #{run_id}, {calls} API calls, {seconds:.1f}s",
    },
    "error": {"ru": "Ошибка: {error}", "en": "Error: {error}"},
    "hint": {"ru": "Запустить: /cleanup {args} run", "en": "To run it: /cleanup {args} run"},
    "title_waiting": {
        "ru": "⏳ Очистка Sentry ждёт: проект занят другим запуском",
        "en": "⏳ Sentry cleanup waiting: another run is acting on the project",
    },
    "retry_in": {"ru": "Повтор через {seconds} с.", "en": "Trying again in {seconds}s."},
    "button_resolve": {"ru": "▶️ Запустить", "en": "▶️ Run"},
    "button_delete": {"ru": "🗑 Удалить…", "en": "🗑 Delete…"},
    "verb_resolve": {"ru": "resolve", "en": "resolve"},
    "verb_delete": {"ru": "удалить", "en": "delete"},
}


def telegram_summary(report: CleanupReport, language: Language, bot_args: str = "") -> str:
    """An HTML message for the admin chat: what was (or would be) done, with the first few issues."""

    def t(key: str, **values: object) -> str:
        return translate(REPORT_TEXTS, key, language, **values)

    counts = report.counts
    # Issues that are resolved already are not "protected" from a resolve: there is nothing left to do.
    already_resolved = int(counts.get("protected", {}).get(str(Protection.ALREADY_RESOLVED), 0))
    title = "title_preview" if not report.request.execute else ("title_failed" if report.failed else "title_done")
    lines = [f"<b>{t(title)}</b>", f"<code>{html.escape(describe_request(report.request))}</code>"]
    lines.append(
        t(
            "totals",
            found=counts["found"],
            verb=t(f"verb_{_verb(report)}"),
            to_act=counts["to_act"],
            kept=counts["found"] - counts["to_act"] - already_resolved,
        )
        + (f", {t('already_resolved', n=already_resolved)}" if already_resolved else "")
    )
    if report.request.execute:
        lines.append(t("outcome", **{k: counts[k] for k in ("done", "failed", "unknown", "not_attempted")}))
    acting = [d for d in report.decisions if d.acts]
    for decision in acting[:TELEGRAM_ISSUE_LINES]:
        lines.append(f"• {html.escape(shorten(decision.issue.title, 70))}")
    if len(acting) > TELEGRAM_ISSUE_LINES:
        lines.append(t("more", n=len(acting) - TELEGRAM_ISSUE_LINES))
    lines.append(t("run", run_id=report.run_id, calls=report.api.requests, seconds=report.duration_s))
    if report.error:
        lines.append(t("error", error=html.escape(report.error[:500])))
    if not report.request.execute and counts["to_act"]:
        lines.append(html.escape(t("hint", args=bot_args).replace("  ", " ")))
    return "\n".join(lines)


def run_button(language: Language, delete: bool, bot_args: str) -> dict[str, str]:
    """The preview's button: a resolve runs when pressed; a delete asks to confirm first (the bot does)."""
    label = translate(REPORT_TEXTS, "button_delete" if delete else "button_resolve", language)
    return {"text": label, "callback_data": f"{CLEANUP_RUN_CALLBACK_PREFIX}{bot_args}"[:64]}


def telegram_failure(message: str, language: Language) -> str:
    """The summary when the run could not start (lock held, configuration missing)."""
    head = translate(REPORT_TEXTS, "title_failed", language)
    return f"<b>{head}</b>\n{html.escape(message[:1000])}"


def telegram_waiting(message: str, retry_in_s: int, language: Language) -> str:
    """The message while the run waits for another run's lock (the task retries; the outcome replaces it)."""
    head = translate(REPORT_TEXTS, "title_waiting", language)
    retry = translate(REPORT_TEXTS, "retry_in", language, seconds=retry_in_s)
    return f"<b>{head}</b>\n{html.escape(message[:1000])}\n{retry}"
