"""`python -m worker doctor [--json]` and `python -m worker healthcheck beat`: operator commands beside the
workers (the workers themselves run as `celery -A worker worker`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import sentry_sdk

from common.logs import configure_logging
from common.settings import ConfigError, load_settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
# Celery's beat writes its schedule file at least every 3 minutes while it ticks (and it ticks every minute
# here: the upkeep entry); three missed writes mean it is not running its loop.
BEAT_STALE_S = 10 * 60

DOCTOR_HELP = """Check every item of the operators' production checklist a program can check:
SENTRY_DSN, SENTRY_ENVIRONMENT=production, SENTRY_TRACES_SAMPLE_RATE <= 0.1, the sentry-sdk version,
Redis, the workers (answering, Sentry initialised in each, every queue consumed), Sentry's Web API,
a test event sent now that must reach Sentry with its breadcrumbs (its issue is then resolved), the
alert rules, no unresolved test issues, beat's weekly and monthly cleanup and their Crons monitors.

Prints ✅ (holds), ❌ (does not: the reason and the fix) or ➖ (cannot be checked here) per item and
exits 1 on any ❌, 2 on an invalid configuration, 0 otherwise. Never prints a secret."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser(
        "doctor",
        help="check the production checklist",
        description=DOCTOR_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("--json", action="store_true", help="one JSON object on stdout, for CI/CD")
    doctor.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for workers to answer (default: 2)",
    )
    health = commands.add_parser(
        "healthcheck",
        help="exit 0 if this container's process is healthy (compose healthchecks)",
        description="beat: with BEAT_SCHEDULER=celery its schedule file was written within the last "
        f"{BEAT_STALE_S // 60} minutes (beat writes it every 3 while it runs); with redbeat, Redis answers "
        "(a replica without the lock is healthy: it waits to take over).",
    )
    health.add_argument("process", choices=["beat"])
    health.add_argument(
        "--schedule",
        type=Path,
        default=Path("/app/var/celerybeat-schedule"),
        help="beat's --schedule file (default: %(default)s, as in docker-compose.yml)",
    )
    return parser


def beat_healthy(schedule: Path) -> tuple[bool, str]:
    """Whether beat is doing its job, and why not."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        return False, str(exc)
    if settings.beat_scheduler == "redbeat":
        import redis

        from common.redis_client import sync_client

        client = sync_client(
            settings.redis_url, settings.redis_sentinel_master, socket_timeout=3, socket_connect_timeout=3
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            return False, f"Redis does not answer: {type(exc).__name__}"
        finally:
            client.close()
        return True, "Redis answers"
    # The shelve may add a suffix (.db, .dat) depending on the dbm module.
    files = [path for path in schedule.parent.glob(schedule.name + "*") if path.is_file()]
    if not files:
        return False, f"no schedule file {schedule}* yet"
    age_s = time.time() - max(path.stat().st_mtime for path in files)
    if age_s > BEAT_STALE_S:
        return False, f"the schedule file was last written {age_s:.0f}s ago (beat is stuck or stopped)"
    return True, f"schedule written {age_s:.0f}s ago"


def doctor(as_json: bool, worker_timeout_s: float | None) -> int:
    from worker import doctor as checklist

    try:
        settings = load_settings()
    except ConfigError as exc:
        # The message names each variable and what it expects; it never repeats a value.
        check = checklist.Check("config", checklist.Verdict.FAIL, str(exc), "see .env.example")
        report = checklist.Report([check])
        print(json.dumps(report.as_dict(), ensure_ascii=False) if as_json else f"❌ {exc}")
        return EXIT_CONFIG
    configure_logging(settings)
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))

    from common.observability.sdk import init_sentry
    from worker.app import create_app
    from worker.sentry_api import sentry_api_from_settings

    init_sentry(settings, process="doctor")
    app = create_app(settings)
    try:
        report = checklist.run_doctor(
            settings,
            app,
            settings.bot_language,
            lambda: sentry_api_from_settings(settings, timeout_s=10.0),
            worker_timeout_s=worker_timeout_s or checklist.WORKER_TIMEOUT_S,
        )
    finally:
        app.close()
        sentry_sdk.flush(timeout=5)
    text = (
        json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
        if as_json
        else checklist.format_report(report, settings.bot_language)
    )
    print(checklist.scrubbed(text, settings))
    return EXIT_OK if report.ok else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "doctor" and args.timeout is not None and not 0 < args.timeout <= 60:
        _parser().error(f"--timeout takes seconds from 0 to 60, got {args.timeout:g}")
    if args.command == "healthcheck":
        healthy, reason = beat_healthy(args.schedule)
        print(reason)
        return EXIT_OK if healthy else EXIT_FAILED
    return doctor(args.json, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
