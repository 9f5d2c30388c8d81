"""What /status says, as pure functions over the bot's own readings and the worker's answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.texts import Catalogue, Language, translate
from common.i18n import N_, translator
from common.status import QueueDepth

TEXTS: Catalogue = {
    "title": N_("📊 System status"),
    "broker_down": N_(
        "❌ The broker (Redis) is unavailable ({error}): queues, workers and tasks cannot be seen. "
        "Check Redis and REDIS_URL."
    ),
    "workers": N_("👷 Workers ({count}): {items}"),
    "no_workers": N_("⚠️ No worker answered within {timeout} (is a worker consuming the default queue?)"),
    "workers_silent": N_("⚠️ No worker answered the ping"),
    "queue_unavailable": N_("⚠️ Could not queue the request to the workers. Error id: {event_id}"),
    "queues": N_("📥 Queues: {items}"),
    "oldest": N_("{queue} {waiting} (oldest {age})"),
    "running": N_("▶️ Running: {items}"),
    "scans": N_("🔎 Last scans: {items}"),
    "cleanups": N_("🧹 Last cleanups: {items}"),
    "database_error": N_(
        "⚠️ The database did not answer the worker ({error}): scans, cleanups and the outbox cannot be seen"
    ),
    "outbox": N_("📤 Telegram messages waiting: {count}"),
    "beat": N_("⏰ Next beat runs: {items}"),
    "beat_item": N_("{name} {when} (in {delay})"),
    "sentry.on": N_("🛰 Sentry: on"),
    "sentry.off": N_("🛰 Sentry: off (SENTRY_DSN is not set)"),
    "none": N_("none"),
    "ago": N_("{delay} ago"),
    "unit.s": N_("{n}s"),
    "unit.min": N_("{n} min"),
    "unit.h": N_("{n} h"),
    "unit.d": N_("{n} d"),
    "cleanup.test_only": N_("test issues"),
    "cleanup.old": N_("older than {days} d"),
    "cleanup.delete": N_("delete"),
    "cleanup.resolve": N_("resolve"),
    "cleanup.dry_run": N_("preview"),
}

# Outcome marks of the scans' and cleanup runs' statuses (worker/arbitrage/store.py, worker/cleanup/audit.py).
MARKS = {"completed": "✅", "done": "✅", "preview": "👁", "failed": "❌", "interrupted": "❌", "refused": "⛔"}


@dataclass(frozen=True)
class BrokerDown:
    """Redis did not answer the bot: nothing but that can be said."""

    error: str


@dataclass(frozen=True)
class WorkersSilent:
    """No worker answered the status task: ``no_worker`` after ``timeout_s``, or ``queue_unavailable``."""

    reason: str
    timeout_s: float = 0.0
    event_id: str | None = None


def _t(key: str, lang: Language, **values: object) -> str:
    return translate(TEXTS, key, lang, **values)


def duration(seconds: float, lang: Language) -> str:
    """``42 s``, ``7 min``, ``3 h``, ``2 d``: the coarsest unit that is at least 1."""
    value = max(0, int(seconds))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if value >= size:
            return _t(f"unit.{unit}", lang, n=value // size)
    return _t("unit.s", lang, n=value)


def _ago(iso: str | None, now: datetime, lang: Language) -> str:
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return _t("ago", lang, delay=duration((now - moment).total_seconds(), lang))


def _items(items: Sequence[str], lang: Language, separator: str = " · ") -> str:
    return separator.join(items) if items else _t("none", lang)


def queue_line(depths: Sequence[QueueDepth], lang: Language) -> str:
    items = [
        _t("oldest", lang, queue=d.queue, waiting=d.waiting, age=duration(d.oldest_age_s, lang))
        if d.waiting and d.oldest_age_s is not None
        else f"{d.queue} {d.waiting}"
        for d in depths
    ]
    return _t("queues", lang, items=_items(items, lang))


def beat_line(runs: Sequence[tuple[str, datetime]], now: datetime, lang: Language) -> str:
    items = [
        _t(
            "beat_item",
            lang,
            name=name,
            when=at.strftime("%Y-%m-%d %H:%M UTC"),
            delay=duration((at - now).total_seconds(), lang),
        )
        for name, at in runs
    ]
    return _t("beat", lang, items=_items(items, lang, "; "))


def _cleanup_kind(row: dict[str, Any], lang: Language) -> str:
    params = row.get("params") or {}
    parts = []
    if params.get("test_only"):
        parts.append(_t("cleanup.test_only", lang))
    if params.get("older_than_days"):
        parts.append(_t("cleanup.old", lang, days=params["older_than_days"]))
    if not row.get("execute"):
        action = "cleanup.dry_run"
    else:
        action = "cleanup.delete" if params.get("delete") else "cleanup.resolve"
    parts.append(_t(action, lang))
    return ", ".join(parts)


def worker_lines(answer: dict[str, Any], now: datetime, lang: Language) -> list[str]:
    """The worker's part: workers and their queues, running tasks, recent runs, the outbox."""
    workers = answer.get("workers") or []
    lines = []
    if workers:
        items = [f"{w['name']} [{','.join(w.get('queues') or ())}]" for w in workers]
        lines.append(_t("workers", lang, count=len(workers), items=_items(items, lang)))
    else:
        lines.append(_t("workers_silent", lang))
    running: dict[str, int] = {}
    for task in answer.get("running") or []:
        running[str(task.get("task"))] = running.get(str(task.get("task")), 0) + 1
    lines.append(_t("running", lang, items=_items([f"{name} ×{n}" for name, n in sorted(running.items())], lang)))
    if answer.get("database_error"):
        lines.append(_t("database_error", lang, error=answer["database_error"]))
        return lines
    scans = [
        f"#{s['id']} {s['game']}/{s['level']} {MARKS.get(s['status'], '⏳')} {s['status']}"
        + (f" ({s['failure']})" if s.get("failure") else "")
        + f" {_ago(s.get('at'), now, lang)}".rstrip()
        for s in answer.get("scans") or []
    ]
    lines.append(_t("scans", lang, items=_items(scans, lang, "; ")))
    cleanups = [
        f"#{c['id']} {c['trigger']} ({_cleanup_kind(c, lang)}) {MARKS.get(c['status'], '⏳')} {c['status']}"
        + f" {_ago(c.get('at'), now, lang)}".rstrip()
        for c in answer.get("cleanups") or []
    ]
    lines.append(_t("cleanups", lang, items=_items(cleanups, lang, "; ")))
    lines.append(_t("outbox", lang, count=answer.get("outbox_pending", 0)))
    return lines


def render_status(
    depths: Sequence[QueueDepth] | BrokerDown,
    worker: dict[str, Any] | WorkersSilent | None,
    runs: Sequence[tuple[str, datetime]],
    sentry_on: bool,
    now: datetime,
    lang: Language,
) -> str:
    """The one /status message."""
    lines = [_t("title", lang)]
    if isinstance(depths, BrokerDown):
        lines.append(_t("broker_down", lang, error=depths.error))
    else:
        if isinstance(worker, WorkersSilent):
            lines.append(
                _t(
                    worker.reason,
                    lang,
                    timeout=translator(lang).timeout(worker.timeout_s),
                    event_id=worker.event_id or "-",
                )
            )
        elif worker is not None:
            lines += worker_lines(worker, now, lang)
        lines.append(queue_line(depths, lang))
    lines.append(beat_line(runs, now, lang))
    lines.append(_t("sentry.on" if sentry_on else "sentry.off", lang))
    return "\n".join(lines)
