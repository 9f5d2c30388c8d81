"""What /sentry_info says, as pure functions over the processes' status dicts (``SentryStatus.as_dict()``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.texts import Catalogue, Language, translate
from common.observability.checklist import CheckItem, CheckState, production_checklist

TEXTS: Catalogue = {
    "on": {"ru": "✅ Sentry инициализирован", "en": "✅ Sentry initialised"},
    "off": {
        "ru": "❌ Sentry не инициализирован (SENTRY_DSN не задан)",
        "en": "❌ Sentry is not initialised (SENTRY_DSN is not set)",
    },
    "details_for_admins": {
        "ru": "Подробности доступны администраторам.",
        "en": "Details are available to administrators.",
    },
    "bot": {"ru": "🤖 Бот", "en": "🤖 Bot"},
    "worker": {"ru": "⚙️ Воркер {name} (pid {pid})", "en": "⚙️ Worker {name} (pid {pid})"},
    "asking_workers": {
        "ru": "⏳ Спрашиваю воркеры (очередь sentry)…",
        "en": "⏳ Asking the workers (sentry queue)…",
    },
    "no_worker": {
        "ru": "⚠️ Ни один воркер не ответил за {timeout_s:g} с. Запущен ли воркер с очередью sentry?",
        "en": "⚠️ No worker answered within {timeout_s:g}s. Is a worker consuming the sentry queue?",
    },
    "queue_unavailable": {
        "ru": "⚠️ Очередь задач недоступна, воркеры не опрошены. Код ошибки: {event_id}",
        "en": "⚠️ The task queue is unavailable; workers were not asked. Error id: {event_id}",
    },
    "worker_failed": {
        "ru": "⚠️ Воркер не смог ответить ({error}).",
        "en": "⚠️ The worker could not answer ({error}).",
    },
    "dsn": {"ru": "DSN: {host}, проект {project}", "en": "DSN: {host}, project {project}"},
    "environment": {"ru": "Окружение: {value}", "en": "Environment: {value}"},
    "release": {"ru": "Релиз: {value}", "en": "Release: {value}"},
    "sample_rate": {"ru": "Доля трассируемых транзакций: {value}", "en": "Traces sample rate: {value}"},
    "sdk": {"ru": "sentry-sdk: {value}", "en": "sentry-sdk: {value}"},
    "integrations": {"ru": "Интеграции: {value}", "en": "Integrations: {value}"},
    "crons": {"ru": "Beat-задачи как Crons: {value}", "en": "Beat tasks monitored as Crons: {value}"},
    "yes": {"ru": "да", "en": "yes"},
    "no": {"ru": "нет", "en": "no"},
    "none": {"ru": "—", "en": "—"},
    "checklist": {"ru": "Чек-лист production:", "en": "Production checklist:"},
    "dsn.ok": {"ru": "SENTRY_DSN задан", "en": "SENTRY_DSN is set"},
    "dsn.fail": {"ru": "SENTRY_DSN не задан", "en": "SENTRY_DSN is not set"},
    "environment.ok": {"ru": "Окружение: production", "en": "Environment: production"},
    "environment.fail": {
        "ru": "Окружение не задано — задайте SENTRY_ENVIRONMENT (production на боевом сервере)",
        "en": "No environment — set SENTRY_ENVIRONMENT (production on the live server)",
    },
    "environment.n/a": {
        "ru": "Окружение: {observed} — для production задайте SENTRY_ENVIRONMENT=production",
        "en": "Environment: {observed} — for production set SENTRY_ENVIRONMENT=production",
    },
    "sample_rate.ok": {
        "ru": "Доля трассируемых транзакций {observed} ≤ 0.1",
        "en": "Traces sample rate {observed} ≤ 0.1",
    },
    "sample_rate.fail": {
        "ru": "Доля трассируемых транзакций {observed}: в production нужно ≤ 0.1 (SENTRY_TRACES_SAMPLE_RATE)",
        "en": "Traces sample rate {observed}: production needs ≤ 0.1 (SENTRY_TRACES_SAMPLE_RATE)",
    },
    "sample_rate.n/a": {
        "ru": "Доля трассируемых транзакций {observed} (предел 0.1 — только для production)",
        "en": "Traces sample rate {observed} (the 0.1 limit applies in production only)",
    },
    "sdk_version.ok": {"ru": "sentry-sdk {observed} ≥ 1.40", "en": "sentry-sdk {observed} ≥ 1.40"},
    "sdk_version.fail": {
        "ru": "sentry-sdk {observed} < 1.40: обновите (breadcrumbs не работают)",
        "en": "sentry-sdk {observed} < 1.40: upgrade it (breadcrumbs do not work)",
    },
}

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


def checklist_lines(items: list[CheckItem], lang: Language) -> list[str]:
    return [
        f"{_MARKS[item.state]} {translate(TEXTS, f'{item.key}.{item.state.value}', lang, observed=item.observed)}"
        for item in items
    ]


def process_lines(title: str, status: dict[str, Any], lang: Language) -> list[str]:
    """The details of one process, under a "<title>: ✅/❌" line: everything but the DSN key, then its checklist."""

    def t(key: str, **values: object) -> str:
        return "• " + translate(TEXTS, key, lang, **values)

    none = translate(TEXTS, "none", lang)
    rate = status.get("traces_sample_rate")
    lines = [f"{title}: {headline(status, lang)}"]
    if status.get("enabled"):
        lines.append(t("dsn", host=status.get("dsn_host") or none, project=status.get("project_id") or none))
    lines += [
        t("environment", value=status.get("environment") or none),
        t("release", value=status.get("release") or none),
        t("sample_rate", value=none if rate is None else f"{rate:g}"),
        t("sdk", value=status.get("sdk_version") or none),
    ]
    if status.get("enabled"):
        lines += [
            t("integrations", value=", ".join(status.get("integrations") or ()) or none),
            t("crons", value=translate(TEXTS, "yes" if status.get("monitor_beat_tasks") else "no", lang)),
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
            TEXTS, worker.reason, lang, timeout_s=worker.timeout_s, event_id=worker.event_id or "-", error=worker.error
        )
    ]


def render_public(bot_status: dict[str, Any], lang: Language) -> str:
    """What a non-admin sees: the bot's ✅/❌ line only."""
    return f"{headline(bot_status, lang)}\n{translate(TEXTS, 'details_for_admins', lang)}"


def render_details(bot_status: dict[str, Any], worker: WorkerView, lang: Language) -> str:
    """What an admin sees: the bot's and the worker's details and checklists."""
    bot = process_lines(translate(TEXTS, "bot", lang), bot_status, lang)
    return "\n".join(bot) + "\n\n" + "\n".join(worker_lines(worker, lang))
