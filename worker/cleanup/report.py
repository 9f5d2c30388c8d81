"""How a cleanup run is shown: the CLI preview/report lines and the Telegram summary. Pure formatting."""

from __future__ import annotations

import html
from collections.abc import Iterable

from common.contract import CLEANUP_RUN_CALLBACK_PREFIX
from common.i18n import Language, Translator, translator
from common.texts import shorten
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


def telegram_summary(report: CleanupReport, language: Language, bot_args: str = "") -> str:
    """An HTML message for the admin chat: what was (or would be) done, with the first few issues."""
    t = translator(language)
    counts = {key: value for key, value in report.counts.items() if isinstance(value, int)}
    number = {key: t.number(value) for key, value in counts.items()}
    # Issues that are resolved already are not "protected" from a resolve: there is nothing left to do.
    already_resolved = int(report.counts.get("protected", {}).get(str(Protection.ALREADY_RESOLVED), 0))
    kept = t.number(counts["found"] - counts["to_act"] - already_resolved)
    if not report.request.execute:
        title = t.gettext("🧹 Sentry cleanup — preview")
    elif report.failed:
        title = t.gettext("⚠️ Sentry cleanup finished with failures")
    else:
        title = t.gettext("🧹 Sentry cleanup done")
    lines = [f"<b>{title}</b>", f"<code>{html.escape(describe_request(report.request))}</code>"]
    if report.request.delete:
        totals = t.gettext(
            "Found: {found}, to delete: {to_act}, protected: {kept}",
            found=number["found"],
            to_act=number["to_act"],
            kept=kept,
        )
    else:
        totals = t.gettext(
            "Found: {found}, to resolve: {to_act}, protected: {kept}",
            found=number["found"],
            to_act=number["to_act"],
            kept=kept,
        )
    if already_resolved:
        totals += ", " + t.gettext("already resolved: {n}", n=t.number(already_resolved))
    lines.append(totals)
    if report.request.execute:
        lines.append(
            t.gettext(
                "Done: {done}, failed: {failed}, unknown: {unknown}, not attempted: {not_attempted}",
                **{key: number[key] for key in ("done", "failed", "unknown", "not_attempted")},
            )
        )
    acting = [d for d in report.decisions if d.acts]
    for decision in acting[:TELEGRAM_ISSUE_LINES]:
        lines.append(f"• {html.escape(shorten(decision.issue.title, 70))}")
    if len(acting) > TELEGRAM_ISSUE_LINES:
        lines.append(t.ngettext("… and {n} more issue", "… and {n} more issues", len(acting) - TELEGRAM_ISSUE_LINES))
    lines.append(
        t.gettext(
            "Run #{run_id}: {calls}, {duration}",
            run_id=report.run_id,
            calls=t.ngettext("{n} Sentry API call", "{n} Sentry API calls", report.api.requests),
            duration=t.seconds(report.duration_s),
        )
    )
    if report.error:
        lines.append(t.gettext("Error: {error}", error=html.escape(report.error[:500])))
    if not report.request.execute and counts["to_act"]:
        lines.append(html.escape(t.gettext("To carry it out: /cleanup {args} run", args=bot_args).replace("  ", " ")))
    return "\n".join(lines)


def run_button(language: Language, delete: bool, bot_args: str) -> dict[str, str]:
    """The preview's button: a resolve runs when pressed; a delete asks to confirm first (the bot does)."""
    t = translator(language)
    label = t.pgettext("button", "🗑 Delete…") if delete else t.pgettext("button", "▶️ Run")
    return {"text": label, "callback_data": f"{CLEANUP_RUN_CALLBACK_PREFIX}{bot_args}"[:64]}


def telegram_failure(message: str, language: Language, *, retry_later: bool = False) -> str:
    """The summary when the run could not start (lock held, configuration missing)."""
    t = translator(language)
    head = t.gettext("⚠️ Sentry cleanup did not start")
    advice = "\n" + t.gettext("Try again when it has finished.") if retry_later else ""
    return f"<b>{head}</b>\n{html.escape(message[:1000])}{advice}"


def telegram_waiting(message: str, retry_in_s: int, language: Language) -> str:
    """The message while the run waits for another run's lock (the task retries; the outcome replaces it)."""
    t = translator(language)
    head = t.gettext("⏳ Sentry cleanup is waiting: another run is acting on the project")
    retry = t.gettext("Trying again in {wait}.", wait=t.duration(retry_in_s))
    return f"<b>{head}</b>\n{html.escape(message[:1000])}\n{retry}"


def not_configured_reason(missing: list[str], language: Language) -> str:
    """Why the cleanup cannot reach Sentry's Web API, naming the variables to set."""
    return translator(language).gettext(
        "Set {names} to use the Sentry Web API (token scopes: event:read to list, event:write to resolve, "
        "event:admin to delete).",
        names=", ".join(missing),
    )


def lock_held_reason(holder: str | None, language: Language) -> str:
    """Why the cleanup did not start (or waits): another run holds the project's lock."""
    t = translator(language)
    if holder:
        return t.gettext("Run {holder} is already acting on this Sentry project.", holder=holder)
    return t.gettext("Another run is already acting on this Sentry project.")


def database_down_reason(error: BaseException, language: Language) -> str:
    """Why a run the database outage outlasted did not run (the admins are told without the database)."""
    return translator(language).gettext(
        "The database is unreachable ({error}); the cleanup did not run. The next run is on schedule.",
        error=type(error).__name__,
    )


def record_text(record: RunRecord, language: Language) -> str:
    """What a redelivered cleanup says about the run that already finished."""
    t = translator(language)
    counts = record.counts
    return t.gettext(
        "🧹 Sentry cleanup run #{run_id}: {status}. Found: {found}, done: {done}, failed: {failed}.",
        run_id=record.id,
        status=_status(t, record.status),
        found=t.number(int(counts.get("found", 0))),
        done=t.number(int(counts.get("done", 0))),
        failed=t.number(int(counts.get("failed", 0))),
    )


def _status(t: Translator, status: str) -> str:
    names = {
        "done": t.pgettext("cleanup run status", "done"),
        "failed": t.pgettext("cleanup run status", "failed"),
        "preview": t.pgettext("cleanup run status", "preview"),
    }
    return names.get(status, status)
