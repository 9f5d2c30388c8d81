"""Clean test and old issues out of the Sentry project: the command operators know (docs/sentry-cleanup.md).

    python scripts/sentry_cleanup.py --test-only                     # preview, changes nothing
    python scripts/sentry_cleanup.py --test-only --execute           # resolve
    python scripts/sentry_cleanup.py --test-only --delete --execute  # delete
    python scripts/sentry_cleanup.py --old 30 --delete --execute     # delete issues older than 30 days

Exit codes: 0 done (or previewed), 1 failures, 2 usage or configuration errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python scripts/sentry_cleanup.py`: the project root is not on sys.path yet.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import logging
import uuid
from collections.abc import Sequence

import redis

from common.db.database import Database
from common.settings import ConfigError, load_settings
from scripts.cli import guarded
from worker.cleanup import audit
from worker.cleanup.policy import Criteria, PolicyError, check_environment
from worker.cleanup.report import preview_lines, run_lines
from worker.cleanup.runner import CleanupContext, CleanupRequest, LockHeld, Progress, run_cleanup
from worker.resources import Resources
from worker.sentry_api import SentryApiNotConfigured

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
REPORT_RUNS = 20

log = logging.getLogger("sentry_cleanup")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python scripts/sentry_cleanup.py",
        description=(
            "Resolve or delete test and old issues in the Sentry project set by SENTRY_ORGANIZATION and "
            "SENTRY_PROJECT. Without --execute nothing is changed: the preview shows, for every issue found, "
            "the action or the rule that protects it. Issues with comments, unresolved non-test issues and "
            "production non-test issues are never touched."
        ),
        epilog=(
            "Exit codes: 0 done, 1 failures, 2 usage or configuration errors (including a database without "
            "the audit tables: run `make migrate`). See docs/sentry-cleanup.md."
        ),
    )
    select = parser.add_argument_group("which issues")
    select.add_argument(
        "--test-only",
        action="store_true",
        help="test issues: tag test=true (every /test_sentry event) or a known test title",
    )
    select.add_argument("--old", type=_positive_int, metavar="N", help="issues last seen more than N days ago")
    select.add_argument("--environment", metavar="ENV", help="only issues seen in this Sentry environment")
    act = parser.add_argument_group("what to do")
    act.add_argument("--execute", action="store_true", help="act (default: dry run, nothing is changed)")
    act.add_argument("--delete", action="store_true", help="delete instead of resolving (needs --test-only or --old)")
    act.add_argument(
        "--max", type=_positive_int, metavar="N", help="act on at most N issues in this run (oldest first)"
    )
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print a machine-readable JSON report on stdout")
    out.add_argument(
        "--report",
        nargs="?",
        const=0,
        type=int,
        metavar="RUN_ID",
        help=f"show the last {REPORT_RUNS} runs from the audit (or one run's actions) and exit",
    )
    return parser


def _usage_checks(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.report is not None:
        acting = [f for f in ("test_only", "old", "environment", "execute", "delete", "max") if getattr(args, f)]
        if acting:
            parser.error("--report shows past runs; it cannot be combined with " + ", ".join(f"--{f}" for f in acting))
        return
    if not args.test_only and args.old is None:
        if args.delete:
            parser.error("--delete needs --test-only or --old N: say which issues to delete")
        parser.error("choose which issues to clean: --test-only, --old N, or both")


def _request(args: argparse.Namespace) -> CleanupRequest:
    return CleanupRequest(
        test_only=args.test_only,
        older_than_days=args.old,
        delete=args.delete,
        execute=args.execute,
        environment=args.environment,
        max_actions=args.max,
    )


def _print_report(database: Database, run_id: int, as_json: bool) -> int:
    if run_id:
        run = audit.get_run(database, run_id)
        if run is None:
            print(f"No cleanup run {run_id} in the audit.", file=sys.stderr)
            return EXIT_FAILED
        actions = audit.action_states(database, run_id)
        if as_json:
            print(json.dumps({"run": run.as_json(), "actions": actions}, indent=2))
            return EXIT_OK
        print("\n".join(run_lines([run])))
        for issue_id, (action, state) in sorted(actions.items(), key=lambda item: int(item[0])):
            print(f"  {issue_id:>10}  {action:<7}  {state}")
        return EXIT_OK
    runs = audit.recent_runs(database, REPORT_RUNS)
    if as_json:
        print(json.dumps([run.as_json() for run in runs], indent=2))
    elif not runs:
        print("No cleanup runs recorded yet.")
    else:
        print("\n".join(run_lines(runs)))
    return EXIT_OK


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _usage_checks(parser, args)
    if args.report is None:
        # The bounds (--old at most MAX_OLD_DAYS, a non-empty --environment) live with the policy, in one place.
        try:
            check_environment(args.environment)
            Criteria(args.test_only, args.old, args.delete, args.max)
        except PolicyError as exc:
            parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    # The client's own request logs would drown the progress lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    resources = Resources(settings)
    try:
        return _run(args, resources)
    finally:
        resources.close()


def _run(args: argparse.Namespace, resources: Resources) -> int:
    database = resources.database
    if args.report is None:
        # Credentials first: without them nothing else matters, and the message names them.
        try:
            api = resources.sentry_api()
        except SentryApiNotConfigured as exc:
            print(f"sentry_cleanup: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        audit.ensure_schema(database)
    except audit.AuditUnavailable as exc:  # configuration: the database was never migrated
        print(f"Cannot record the audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.report is not None:
        return _print_report(database, args.report, args.json)

    request = _request(args)

    def progress(update: Progress) -> None:
        log.info("%s: %s", update.phase, update.message)

    ctx = CleanupContext(
        api=api,
        database=database,
        redis_client=resources.redis if request.execute else None,
        lock_ttl_s=resources.settings.sentry_cleanup_lock_ttl_s,
        production_environments=sorted(resources.settings.sentry_cleanup_production_environments),
    )
    try:
        report = run_cleanup(request, ctx, run_key=f"cli-{uuid.uuid4().hex}", trigger="cli", progress=progress)
    except LockHeld as exc:
        print(f"Not started: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except redis.RedisError as exc:
        print(f"Cannot take the cleanup lock: Redis at REDIS_URL is unreachable ({exc})", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(preview_lines(report)))
    if report.error:
        print(f"sentry_cleanup: {report.error}", file=sys.stderr)
    return EXIT_FAILED if report.failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Never a traceback for the operator: every failure becomes a sentence and an exit code."""
    return guarded(
        "sentry_cleanup", run, argv, interrupted="Interrupted; the audit records what was done (see --report)."
    )


if __name__ == "__main__":
    sys.exit(main())
