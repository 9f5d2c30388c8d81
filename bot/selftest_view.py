"""What /sentry_info says, as pure functions over the processes' status dicts (``SentryStatus.as_dict()``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.texts import Language, Messages, translate, translator
from common.i18n import N_
from common.observability.checklist import (
    MAX_PRODUCTION_SAMPLE_RATE,
    MIN_SDK_VERSION,
    CheckItem,
    CheckState,
    production_checklist,
)

TEXTS: Messages = {
    "on": N_("✅ Sentry initialised"),
    "off": N_("❌ Sentry is not initialised (SENTRY_DSN is not set)"),
    "details_for_admins": N_("Details are available to administrators."),
    "bot": N_("🤖 Bot"),
    "worker": N_("⚙️ Worker {name} (pid {pid})"),
    "asking_workers": N_("⏳ Asking the workers (sentry queue)…"),
    "no_worker": N_("⚠️ No worker answered within {wait}. Is a worker consuming the sentry queue?"),
    "queue_unavailable": N_("⚠️ The task queue is unavailable; workers were not asked. Error id: {event_id}"),
    "worker_failed": N_("⚠️ The worker could not answer ({error})."),
    "dsn": N_("DSN: {host}, project {project}"),
    "environment": N_("Environment: {value}"),
    "release": N_("Release: {value}"),
    "sample_rate": N_("Traces sample rate: {value}"),
    "sdk": N_("sentry-sdk: {value}"),
    "integrations": N_("Integrations: {value}"),
    "crons": N_("Beat tasks monitored as Crons: {value}"),
    "yes": N_("yes"),
    "no": N_("no"),
    "checklist": N_("Production checklist:"),
    "dsn.ok": N_("SENTRY_DSN is set"),
    "dsn.fail": N_("SENTRY_DSN is not set"),
    "environment.ok": N_("Environment: production"),
    "environment.fail": N_("No environment: set SENTRY_ENVIRONMENT (production on the live server)"),
    "environment.n/a": N_("Environment: {observed}; for production set SENTRY_ENVIRONMENT=production"),
    "sample_rate.ok": N_("Traces sample rate {observed} ≤ {limit}"),
    "sample_rate.fail": N_("Traces sample rate {observed}: production needs ≤ {limit} (SENTRY_TRACES_SAMPLE_RATE)"),
    "sample_rate.n/a": N_("Traces sample rate {observed} (the {limit} limit applies in production only)"),
    "sdk_version.ok": N_("sentry-sdk {observed} ≥ {minimum}"),
    "sdk_version.fail": N_("sentry-sdk {observed} < {minimum}: upgrade it (breadcrumbs do not work)"),
}
NONE = "—"

_MARKS = {CheckState.OK: "✅", CheckState.FAIL: "❌", CheckState.NOT_APPLICABLE: "➖"}


@dataclass(frozen=True)
class WorkerAnswer:
    """A worker's reply to the status task."""

    name: str
    pid: int
    sentry: dict[str, Any]


@dataclass(frozen=True)
class WorkerSilent:
    """Why there is no worker status: ``no_worker`` (timeout), ``queue_unavailable`` or ``worker_failed``."""

    reason: str
    timeout_s: float = 0.0
    event_id: str | None = None
    error: str | None = None


WorkerView = WorkerAnswer | WorkerSilent | None  # None: not asked yet


def headline(status: dict[str, Any], lang: Language) -> str:
    """The ✅/❌ line everyone may see."""
    return translate(TEXTS, "on" if status.get("enabled") else "off", lang)


# The checklist's words for what it saw when there is no value to show.
OBSERVED: Messages = {"set": N_("set"), "not set": N_("not set"), "unknown": N_("unknown")}


def _observed(value: str, lang: Language) -> str:
    """What the checklist saw, in the reader's words: a rate in the locale's digits, "not set" translated."""
    if value in OBSERVED:
        return translate(OBSERVED, value, lang)
    try:
        return translator(lang).number(Decimal(value))
    except InvalidOperation:
        return value  # a version or an environment name: shown as it is


def checklist_lines(items: list[CheckItem], lang: Language) -> list[str]:
    t = translator(lang)
    limits = {
        "limit": t.number(Decimal(str(MAX_PRODUCTION_SAMPLE_RATE))),
        "minimum": ".".join(str(part) for part in MIN_SDK_VERSION),
    }
    return [
        f"{_MARKS[item.state]} "
        + translate(TEXTS, f"{item.key}.{item.state.value}", lang, observed=_observed(item.observed, lang), **limits)
        for item in items
    ]


def process_lines(title: str, status: dict[str, Any], lang: Language) -> list[str]:
    """The details of one process, under a "<title>: ✅/❌" line: everything but the DSN key, then its checklist."""

    def line(key: str, **values: object) -> str:
        return "• " + translate(TEXTS, key, lang, **values)

    rate = status.get("traces_sample_rate")
    lines = [f"{title}: {headline(status, lang)}"]
    if status.get("enabled"):
        lines.append(line("dsn", host=status.get("dsn_host") or NONE, project=status.get("project_id") or NONE))
    lines += [
        line("environment", value=status.get("environment") or NONE),
        line("release", value=status.get("release") or NONE),
        line("sample_rate", value=NONE if rate is None else translator(lang).number(Decimal(str(rate)))),
        line("sdk", value=status.get("sdk_version") or NONE),
    ]
    if status.get("enabled"):
        lines += [
            line("integrations", value=", ".join(status.get("integrations") or ()) or NONE),
            line("crons", value=translate(TEXTS, "yes" if status.get("monitor_beat_tasks") else "no", lang)),
        ]
    lines.append(translate(TEXTS, "checklist", lang))
    lines += checklist_lines(production_checklist(status), lang)
    return lines


def worker_lines(worker: WorkerView, lang: Language) -> list[str]:
    if worker is None:
        return [translate(TEXTS, "asking_workers", lang)]
    if isinstance(worker, WorkerAnswer):
        return process_lines(translate(TEXTS, "worker", lang, name=worker.name, pid=worker.pid), worker.sentry, lang)
    return [
        translate(
            TEXTS,
            worker.reason,
            lang,
            wait=translator(lang).timeout(worker.timeout_s),
            event_id=worker.event_id or "-",
            error=worker.error,
        )
    ]


def render_public(bot_status: dict[str, Any], lang: Language) -> str:
    """What a non-admin sees: the bot's ✅/❌ line only."""
    return f"{headline(bot_status, lang)}\n{translate(TEXTS, 'details_for_admins', lang)}"


def render_details(bot_status: dict[str, Any], worker: WorkerView, lang: Language) -> str:
    """What an admin sees: the bot's and the worker's details and checklists."""
    bot = process_lines(translate(TEXTS, "bot", lang), bot_status, lang)
    return "\n".join(bot) + "\n\n" + "\n".join(worker_lines(worker, lang))
