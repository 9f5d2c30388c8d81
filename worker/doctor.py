"""`python -m worker doctor`: the operators' production checklist, every item a program can check, checked.

Each item ends ✅ (holds), ❌ (does not: the reason and the fix) or ➖ (cannot be checked from here, and why).
The configuration items are pure functions of the settings (the same judgement /sentry_info makes, from
common/observability/checklist.py); the rest asks the running system: Redis, the workers (a remote-control
broadcast every worker answers), and Sentry itself through its Web API (worker/sentry_api.py): a test event
sent now must show up with its breadcrumbs, and is resolved by its explicit issue id afterwards.

Nothing printed holds a secret: the lines name variables, hosts, counts and ids, and the whole output goes
through the same scrubber as the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import redis
import sentry_sdk
from celery import Celery

import beat_schedule
from common.contract import QUEUES, CleanupTask
from common.i18n import N_, translator
from common.observability.checklist import (
    MAX_PRODUCTION_SAMPLE_RATE,
    PRODUCTION,
    CheckState,
    production_checklist,
)
from common.observability.scrubbing import Scrubber
from common.redis_client import sync_client
from common.settings import Settings
from common.texts import Catalogue, Language, translate
from worker.cleanup.policy import Criteria
from worker.cleanup.selection import gather
from worker.selftest import events
from worker.selftest.report import Delivery
from worker.sentry_api import SentryApi, SentryApiError, SentryApiNotConfigured, SentryAuthError
from worker.status import workers_view

log = logging.getLogger(__name__)

WORKER_TIMEOUT_S = 2.0
REDIS_TIMEOUT_S = 2.0
# The doctor's test event: the breadcrumbs test (level info, so it pages nobody) with the scan's trail.
TEST_EVENT = "breadcrumbs"
DOCTOR_USER_ID = 0
UNHEALTHY_MONITOR_STATUSES = frozenset({"error", "missed_checkin", "timeout"})


class Verdict(Enum):
    OK = "ok"
    FAIL = "fail"
    SKIP = "skip"  # cannot be checked here; the reason says why


MARKS = {Verdict.OK: "✅", Verdict.FAIL: "❌", Verdict.SKIP: "➖"}


@dataclass(frozen=True)
class Check:
    """One checklist item: its key, the verdict, why, and (for a ❌) what to do."""

    key: str
    verdict: Verdict
    reason: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "state": self.verdict.value, "reason": self.reason, "fix": self.fix}


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.verdict is not Verdict.FAIL for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [check.as_dict() for check in self.checks]}


TEXTS: Catalogue = {
    "title": N_("Production checklist"),
    "fix": N_("fix: {fix}"),
    "summary.ok": N_("Ready for production: no ❌."),
    "summary.fail": N_("Not ready: {count} ❌."),
    # configuration
    "config.fail": N_("the configuration is invalid: {error}"),
    "config.fix": N_("correct the variables named above in .env (see .env.example)"),
    "sentry_dsn.ok": N_("SENTRY_DSN is set: {host}, project {project}"),
    "sentry_dsn.fail": N_("SENTRY_DSN is not set: events go nowhere"),
    "sentry_dsn.fix": N_(
        "SENTRY_DSN=https://KEY@oXXXX.ingest.sentry.io/PROJECT (Sentry → Project Settings → Client Keys)"
    ),
    "sentry_environment.ok": N_("SENTRY_ENVIRONMENT=production"),
    "sentry_environment.fail": N_("SENTRY_ENVIRONMENT is {value}, not production"),
    "sentry_environment.fix": N_("SENTRY_ENVIRONMENT=production"),
    "sentry_traces_sample_rate.ok": N_("SENTRY_TRACES_SAMPLE_RATE={value} ≤ {limit}"),
    "sentry_traces_sample_rate.fail": N_("SENTRY_TRACES_SAMPLE_RATE={value} > {limit}: quota and overhead wasted"),
    "sentry_traces_sample_rate.fix": N_("SENTRY_TRACES_SAMPLE_RATE=0.1 (one transaction in ten)"),
    "sdk_version.ok": N_("sentry-sdk {value} ≥ 1.40"),
    "sdk_version.fail": N_("sentry-sdk {value} < 1.40: breadcrumbs do not work"),
    "sdk_version.fix": N_("make lock and rebuild the image"),
    # the running system
    "redis.ok": N_("Redis answers ({host})"),
    "redis.fail": N_("Redis ({host}) does not answer: {error}"),
    "redis.fix": N_("start Redis or correct REDIS_URL"),
    "workers.ok": N_("workers answer, Sentry is initialised in each: {names}"),
    "workers.none": N_("no worker answered within {timeout}"),
    "workers.none.fix": N_("start the workers: celery -A worker worker (docker compose up -d worker)"),
    "workers.sentry_off": N_("Sentry is not initialised in the workers: {names}"),
    "workers.sentry_off.fix": N_("give the workers SENTRY_DSN and restart them; /sentry_info then shows ✅"),
    "workers.checklist": N_("workers fail the checklist: {names}"),
    "workers.checklist.fix": N_(
        "the workers must run with the same Sentry configuration; /sentry_info shows what is missing"
    ),
    "queues.ok": N_("every queue has a worker: {queues}"),
    "queues.fail": N_("queues no worker consumes: {queues}"),
    "queues.fix": N_("start a worker with -Q {queues} (or --scale worker=N in compose)"),
    "skip.redis": N_("needs Redis (see above)"),
    "skip.workers": N_("no workers (see above)"),
    # Sentry's Web API
    "sentry_api.ok": N_("Sentry's Web API answers: {host}, {organization}/{project}"),
    "sentry_api.fail": N_("Sentry's Web API: {error}"),
    "sentry_api.fix": N_(
        "SENTRY_AUTH_TOKEN (project:read, event:read, event:write, alerts:read), "
        "SENTRY_ORGANIZATION, SENTRY_PROJECT, SENTRY_API_URL"
    ),
    "skip.api": N_("needs Sentry's Web API (see above)"),
    "skip.dsn": N_("needs SENTRY_DSN (see above)"),
    "test_event.ok": N_(
        "test event {event_id} reached Sentry with its breadcrumbs ({crumbs}), issue {issue_id} resolved"
    ),
    "test_event.not_sent": N_("the test event was not sent: {reason}"),
    "test_event.lost": N_("test event {event_id} did not show up in Sentry within {timeout}"),
    "test_event.no_breadcrumbs": N_("test event {event_id} arrived without its breadcrumbs"),
    "test_event.unresolved": N_("test event {event_id} arrived, but its issue was not resolved: {error}"),
    "test_event.fix": N_(
        "check SENTRY_DSN, that Sentry is reachable from here and the project's limits; then /test_sentry all"
    ),
    "alert_rules.skip": N_("the alert rules of DESIGN.md §7 are checked once scripts/sentry_alerts.py lands"),
    "test_issues.ok": N_("no unresolved test issues"),
    "test_issues.fail": N_("unresolved test issues: {count} ({ids})"),
    "test_issues.fix": N_("python scripts/sentry_cleanup.py --test-only --execute"),
    "beat_schedule.ok": N_("beat's schedule holds the weekly and the monthly cleanup: {entries}"),
    "beat_schedule.fail": N_("beat's schedule lacks: {missing}"),
    "beat_schedule.fix": N_("put the cleanup entries back into beat_schedule.py (docs/sentry-cleanup.md)"),
    "weekly": N_("the weekly cleanup of test issues"),
    "monthly": N_("the monthly deletion of old issues"),
    "crons.ok": N_("the Crons monitors have checked in: {monitors}"),
    "crons.fail": N_("Crons monitors: {problems}"),
    "crons.fix": N_("beat must run with SENTRY_DSN; a monitor appears at its entry's first run"),
    "crons.missing": N_("{slug} has never checked in"),
    "crons.unhealthy": N_("{slug}: the last run is {status}"),
    "crons.no_environment": N_("{slug} has not checked in in environment {environment}"),
}


def _t(key: str, lang: Language, **values: object) -> str:
    return translate(TEXTS, key, lang, **values)


def _check(key: str, verdict: Verdict, lang: Language, reason_key: str, fix_key: str = "", **values: object) -> Check:
    fix = _t(fix_key, lang, **values) if fix_key and verdict is Verdict.FAIL else ""
    return Check(key, verdict, _t(reason_key, lang, **values), fix)


# ---- pure: the configuration and the schedule -------------------------------------------------------------


def config_checks(settings: Settings, lang: Language) -> list[Check]:
    """SENTRY_DSN, SENTRY_ENVIRONMENT, SENTRY_TRACES_SAMPLE_RATE and the SDK version, SENTRY_DSN first.

    The verdicts are /sentry_info's (``production_checklist``), judged for production: a staging
    environment is "not applicable" to /sentry_info, but it is a ❌ on the way to production.
    """
    status: dict[str, Any] = {
        "enabled": settings.sentry_enabled,
        "environment": settings.sentry_environment,
        "traces_sample_rate": settings.sentry_traces_sample_rate,
        "sdk_version": sentry_sdk.VERSION,
    }
    items = {item.key: item for item in production_checklist(status)}
    checks = []
    if settings.sentry_dsn is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(settings.sentry_dsn.get_secret_value())
        project = parts.path.rstrip("/").rsplit("/", 1)[-1]
        checks.append(_check("sentry_dsn", Verdict.OK, lang, "sentry_dsn.ok", host=parts.hostname, project=project))
    else:
        checks.append(_check("sentry_dsn", Verdict.FAIL, lang, "sentry_dsn.fail", "sentry_dsn.fix"))

    in_production = items["environment"].state is CheckState.OK
    verdict = Verdict.OK if in_production else Verdict.FAIL
    state = "ok" if in_production else "fail"
    env = settings.sentry_environment
    checks.append(
        _check("sentry_environment", verdict, lang, f"sentry_environment.{state}", "sentry_environment.fix", value=env)
    )

    rate = settings.sentry_traces_sample_rate
    rate_ok = rate <= MAX_PRODUCTION_SAMPLE_RATE
    checks.append(
        _check(
            "sentry_traces_sample_rate",
            Verdict.OK if rate_ok else Verdict.FAIL,
            lang,
            f"sentry_traces_sample_rate.{'ok' if rate_ok else 'fail'}",
            "sentry_traces_sample_rate.fix",
            value=f"{rate:g}",
            limit=f"{MAX_PRODUCTION_SAMPLE_RATE:g}",
        )
    )
    sdk_ok = items["sdk_version"].state is CheckState.OK
    checks.append(
        _check(
            "sdk_version",
            Verdict.OK if sdk_ok else Verdict.FAIL,
            lang,
            f"sdk_version.{'ok' if sdk_ok else 'fail'}",
            "sdk_version.fix",
            value=sentry_sdk.VERSION,
        )
    )
    return checks


@dataclass(frozen=True)
class CleanupEntries:
    """beat_schedule.py's weekly test-issue cleanup and monthly old-issue deletion (entry names, or None)."""

    weekly: str | None
    monthly: str | None

    @property
    def names(self) -> list[str]:
        return [name for name in (self.weekly, self.monthly) if name]


def cleanup_entries(schedule: dict[str, dict[str, Any]]) -> CleanupEntries:
    """Find the guide's two maintenance routines in beat's schedule (by what they do, not by their names)."""
    weekly = monthly = None
    for name, entry in schedule.items():
        if entry.get("task") != CleanupTask.NAME:
            continue
        kwargs, cron = entry.get("kwargs") or {}, entry.get("crontab") or {}
        if not kwargs.get("execute"):
            continue
        if kwargs.get("test_only") and "day_of_week" in cron:
            weekly = weekly or name
        elif kwargs.get("older_than_days") and kwargs.get("delete") and "day_of_month" in cron:
            monthly = monthly or name
    return CleanupEntries(weekly, monthly)


def schedule_check(entries: CleanupEntries, lang: Language) -> Check:
    missing = [_t(kind, lang) for kind, name in (("weekly", entries.weekly), ("monthly", entries.monthly)) if not name]
    if missing:
        return _check(
            "beat_schedule", Verdict.FAIL, lang, "beat_schedule.fail", "beat_schedule.fix", missing="; ".join(missing)
        )
    return _check("beat_schedule", Verdict.OK, lang, "beat_schedule.ok", entries=", ".join(entries.names))


def worker_verdict(answers: dict[str, dict[str, Any]], lang: Language, timeout_s: float) -> Check:
    """Judge the workers' Sentry statuses (node name -> ``SentryStatus.as_dict()``) as /sentry_info does."""
    if not answers:
        return _check(
            "workers",
            Verdict.FAIL,
            lang,
            "workers.none",
            "workers.none.fix",
            timeout=translator(lang).timeout(timeout_s),
        )
    off = sorted(name for name, status in answers.items() if not status.get("enabled"))
    if off:
        return _check(
            "workers", Verdict.FAIL, lang, "workers.sentry_off", "workers.sentry_off.fix", names=", ".join(off)
        )
    failing = sorted(
        name
        for name, status in answers.items()
        if any(item.state is CheckState.FAIL for item in production_checklist(status))
        or status.get("environment") != PRODUCTION
    )
    if failing:
        return _check(
            "workers", Verdict.FAIL, lang, "workers.checklist", "workers.checklist.fix", names=", ".join(failing)
        )
    return _check("workers", Verdict.OK, lang, "workers.ok", names=", ".join(sorted(answers)))


def queue_verdict(consumed: set[str], lang: Language) -> Check:
    missing = [queue for queue in QUEUES if queue not in consumed]
    if missing:
        return _check("queues", Verdict.FAIL, lang, "queues.fail", "queues.fix", queues=",".join(missing))
    return _check("queues", Verdict.OK, lang, "queues.ok", queues=", ".join(QUEUES))


def monitor_problem(slug: str, monitor: dict[str, Any] | None, environment: str, lang: Language) -> str | None:
    """Why the Crons monitor ``slug`` is not healthy in ``environment``; None when it has checked in fine."""
    if monitor is None:
        return _t("crons.missing", lang, slug=slug)
    for env in monitor.get("environments") or ():
        if env.get("name") == environment and env.get("lastCheckIn"):
            status = str(env.get("status") or "")
            return (
                _t("crons.unhealthy", lang, slug=slug, status=status) if status in UNHEALTHY_MONITOR_STATUSES else None
            )
    return _t("crons.no_environment", lang, slug=slug, environment=environment)


def _has_breadcrumbs(event: dict[str, Any]) -> int:
    """How many breadcrumbs the stored event shows."""
    for entry in event.get("entries") or ():
        if isinstance(entry, dict) and entry.get("type") == "breadcrumbs":
            return len((entry.get("data") or {}).get("values") or ())
    return 0


# ---- I/O: the running system ------------------------------------------------------------------------------


def redis_check(settings: Settings, lang: Language) -> Check:
    from urllib.parse import urlsplit

    host = f"{urlsplit(settings.redis_url).hostname}:{urlsplit(settings.redis_url).port or 6379}"
    client = sync_client(
        settings.redis_url,
        settings.redis_sentinel_master,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return _check("redis", Verdict.FAIL, lang, "redis.fail", "redis.fix", host=host, error=type(exc).__name__)
    finally:
        client.close()
    return _check("redis", Verdict.OK, lang, "redis.ok", host=host)


def worker_checks(app: Celery, lang: Language, timeout_s: float = WORKER_TIMEOUT_S) -> list[Check]:
    """Ask every worker for its Sentry status and its queues (two broadcasts, each bounded by ``timeout_s``)."""
    replies = app.control.broadcast("sentry_status", reply=True, timeout=timeout_s) or []
    statuses = {name: answer for reply in replies for name, answer in reply.items() if isinstance(answer, dict)}
    view = workers_view(app, timeout_s)
    names = sorted({*statuses, *(worker["name"] for worker in view["workers"])})
    if not names:
        return [worker_verdict({}, lang, timeout_s), Check("queues", Verdict.SKIP, _t("skip.workers", lang))]
    # A worker that answered one command but not the other: its Sentry status is unknown, so it is not "on".
    answers = {name: statuses.get(name, {"enabled": False}) for name in names}
    consumed = {str(queue) for worker in view["workers"] for queue in worker["queues"]}
    return [worker_verdict(answers, lang, timeout_s), queue_verdict(consumed, lang)]


def _api_error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SentryApiError | SentryApiNotConfigured) else type(exc).__name__


def test_event_check(api: SentryApi, lang: Language, confirm_timeout_s: float) -> tuple[Check, str | None]:
    """Send the test event from this process, wait for Sentry to show it, check its breadcrumbs, resolve it.

    Returns the check and the id of the issue it resolved (so a later search that still lists it, Sentry's
    index lagging, does not count it as a leftover).
    """
    outcome = events.run_tests((TEST_EVENT,), DOCTOR_USER_ID)[0]
    if outcome.event_id is None:
        reason = (outcome.failure.value if outcome.failure else "not_sent").replace("_", " ")
        return _check("test_event", Verdict.FAIL, lang, "test_event.not_sent", "test_event.fix", reason=reason), None
    event_id = outcome.event_id
    confirmed = events.confirm_delivery([outcome], api.event_stored, timeout_s=confirm_timeout_s)[0]
    if confirmed.delivery is not Delivery.CONFIRMED:
        lost = _check(
            "test_event",
            Verdict.FAIL,
            lang,
            "test_event.lost",
            "test_event.fix",
            event_id=event_id,
            timeout=translator(lang).timeout(confirm_timeout_s),
        )
        return lost, None
    stored = api.event(event_id) or {}
    crumbs = _has_breadcrumbs(stored)
    issue_id = str(stored.get("groupID") or "")
    if issue_id:
        try:
            api.resolve_issues([issue_id])
        except (SentryApiError, ValueError) as exc:
            failed = _check(
                "test_event",
                Verdict.FAIL,
                lang,
                "test_event.unresolved",
                "test_event.fix",
                event_id=event_id,
                error=_api_error_text(exc),
            )
            return failed, None
    if not crumbs:
        return _check(
            "test_event", Verdict.FAIL, lang, "test_event.no_breadcrumbs", "test_event.fix", event_id=event_id
        ), issue_id
    ok = _check(
        "test_event", Verdict.OK, lang, "test_event.ok", event_id=event_id, crumbs=crumbs, issue_id=issue_id or "-"
    )
    return ok, issue_id


def test_issues_check(api: SentryApi, settings: Settings, lang: Language, resolved_now: Sequence[str]) -> Check:
    """The cleanup's own definition of a test issue (worker/cleanup/policy.py), among the unresolved ones."""
    listing = gather(
        api,
        Criteria(test_only=True),
        environment=None,
        production_environments=sorted(settings.sentry_cleanup_production_environments),
    )
    left = sorted(
        facts.id
        for facts in listing.facts
        if facts.is_test and facts.status == "unresolved" and facts.id not in resolved_now
    )
    if left:
        shown = ", ".join(left[:5]) + (", …" if len(left) > 5 else "")
        return _check(
            "test_issues", Verdict.FAIL, lang, "test_issues.fail", "test_issues.fix", count=len(left), ids=shown
        )
    return _check("test_issues", Verdict.OK, lang, "test_issues.ok")


def crons_check(api: SentryApi, entries: CleanupEntries, environment: str, lang: Language) -> Check:
    problems = [monitor_problem(slug, api.monitor(slug), environment, lang) for slug in entries.names]
    found = [problem for problem in problems if problem]
    if found:
        return _check("crons", Verdict.FAIL, lang, "crons.fail", "crons.fix", problems="; ".join(found))
    return _check("crons", Verdict.OK, lang, "crons.ok", monitors=", ".join(entries.names))


def sentry_checks(
    settings: Settings,
    lang: Language,
    api_factory: Callable[[], SentryApi],
    entries: CleanupEntries,
    confirm_timeout_s: float = events.CONFIRM_TIMEOUT_S,
) -> list[Check]:
    """The items that need Sentry's Web API: reachable, the test event, alert rules, test issues, Crons."""
    alert_rules = Check("alert_rules", Verdict.SKIP, _t("alert_rules.skip", lang))

    def unavailable(exc: BaseException) -> list[Check]:
        fail = _check("sentry_api", Verdict.FAIL, lang, "sentry_api.fail", "sentry_api.fix", error=_api_error_text(exc))
        skipped = [Check(key, Verdict.SKIP, _t("skip.api", lang)) for key in ("test_event", "test_issues", "crons")]
        return [fail, skipped[0], alert_rules, *skipped[1:]]

    try:
        api = api_factory()
    except (SentryApiNotConfigured, ValueError) as exc:
        return unavailable(exc)
    with api:
        try:
            api.project_id()
        except SentryApiError as exc:
            return unavailable(exc)
        checks = [
            _check(
                "sentry_api",
                Verdict.OK,
                lang,
                "sentry_api.ok",
                host=api.host,
                organization=api.organization,
                project=api.project,
            )
        ]
        resolved: list[str] = []
        if settings.sentry_dsn is None:
            checks.append(Check("test_event", Verdict.SKIP, _t("skip.dsn", lang)))
        else:
            check, issue_id = _guarded("test_event", lang, lambda: test_event_check(api, lang, confirm_timeout_s))
            checks.append(check)
            resolved += [issue_id] if issue_id else []
        checks.append(alert_rules)
        checks.append(
            _guarded("test_issues", lang, lambda: (test_issues_check(api, settings, lang, resolved), None))[0]
        )
        checks.append(
            _guarded("crons", lang, lambda: (crons_check(api, entries, settings.sentry_environment, lang), None))[0]
        )
    return checks


def _guarded(key: str, lang: Language, run: Callable[[], tuple[Check, str | None]]) -> tuple[Check, str | None]:
    """One Web API item; a failed call is that item's ❌ (e.g. a token without the scope), not a traceback."""
    try:
        return run()
    except SentryAuthError as exc:
        return _check(key, Verdict.FAIL, lang, "sentry_api.fail", "sentry_api.fix", error=str(exc)), None
    except SentryApiError as exc:
        return _check(key, Verdict.FAIL, lang, "sentry_api.fail", "sentry_api.fix", error=_api_error_text(exc)), None


def run_doctor(
    settings: Settings,
    app: Celery,
    lang: Language,
    api_factory: Callable[[], SentryApi],
    *,
    worker_timeout_s: float = WORKER_TIMEOUT_S,
    confirm_timeout_s: float = events.CONFIRM_TIMEOUT_S,
) -> Report:
    """Every checkable item of the guide's production checklist, in the guide's order (SENTRY_DSN first)."""
    report = Report(config_checks(settings, lang))
    redis_item = redis_check(settings, lang)
    report.checks.append(redis_item)
    if redis_item.verdict is Verdict.OK:
        report.checks += worker_checks(app, lang, worker_timeout_s)
    else:
        skip = _t("skip.redis", lang)
        report.checks += [Check("workers", Verdict.SKIP, skip), Check("queues", Verdict.SKIP, skip)]
    entries = cleanup_entries(beat_schedule.SCHEDULE)
    report.checks += sentry_checks(settings, lang, api_factory, entries, confirm_timeout_s)
    report.checks.append(schedule_check(entries, lang))
    return report


def format_report(report: Report, lang: Language) -> str:
    lines = [_t("title", lang)]
    for check in report.checks:
        lines.append(f"{MARKS[check.verdict]} {check.key}: {check.reason}")
        if check.fix:
            lines.append("   " + _t("fix", lang, fix=check.fix))
    failed = sum(check.verdict is Verdict.FAIL for check in report.checks)
    lines.append(_t("summary.fail", lang, count=failed) if failed else _t("summary.ok", lang))
    return "\n".join(lines)


def scrubbed(text: str, settings: Settings | None) -> str:
    """The output as the logs would show it: no configured secret can appear, whatever a server answered."""
    return Scrubber(settings.secret_values() if settings else ()).text(text)
