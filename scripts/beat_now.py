"""Run one celery beat entry now, the way beat does, and show its Sentry Crons check-in.

    python scripts/beat_now.py --list
    python scripts/beat_now.py sentry-cleanup-weekly-test-issues             # send it, print the check-in id
    python scripts/beat_now.py sentry-cleanup-weekly-test-issues --wait 120  # and wait for the run and check-in

The task goes to the broker with the monitor headers sentry-sdk adds in beat (a worker must be running to
run it), and the ``in_progress`` check-in goes to SENTRY_DSN; the worker sends ``ok`` or ``error``. With
``--wait`` it waits for the task's outcome and, when the Web API is configured (SENTRY_AUTH_TOKEN with
alerts:read or project:read, SENTRY_ORGANIZATION, SENTRY_PROJECT), for Sentry to show the closed check-in.
The running beat's schedule is not touched. Exit codes: 0 ran (and Sentry has the check-in when it could be
checked), 1 failed or not seen in time, 2 usage, configuration or broker errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python scripts/beat_now.py`: the project root is not on sys.path yet.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import importlib
import time
import uuid
from collections.abc import Sequence

import sentry_sdk
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from common.logs import configure_logging
from common.observability.sdk import init_sentry
from common.settings import Settings
from worker.crons import FiredEntry, NotSent, UnknownEntry, describe_monitor, entry_names, fire_entry
from worker.sentry_api import SentryApiError, SentryApiNotConfigured, sentry_api_from_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
POLL_INTERVAL_S = 0.5
BROKER_CHECK_RETRIES = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python scripts/beat_now.py",
        description="Send one beat entry now, exactly as celery beat does, with its Sentry Crons check-in.",
        epilog="Exit codes: 0 ran, 1 failed or not confirmed in time, 2 usage or configuration errors. "
        "See docs/observability.md (Crons).",
    )
    parser.add_argument("entry", nargs="?", help="the entry name (= the Crons monitor slug); see --list")
    parser.add_argument("--list", action="store_true", help="list the entries of beat_schedule.py and exit")
    parser.add_argument(
        "-A", "--app", default="worker", metavar="MODULE", help="the Celery app's module, as for celery -A (worker)"
    )
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for the run and its check-in"
    )
    return parser


def _wait_for_task(app: object, task_id: str, deadline: float) -> str | None:
    """The task's final state (SUCCESS, FAILURE, ...) from the result backend, or None at the deadline."""
    result = AsyncResult(task_id, app=app)
    while time.monotonic() < deadline:
        if result.state in ("SUCCESS", "FAILURE", "REVOKED", "REJECTED"):
            return str(result.state)
        time.sleep(POLL_INTERVAL_S)  # polling a remote state within a deadline
    return None


def _sentry_check_in(settings: Settings, fired: FiredEntry, deadline: float) -> str | None:
    """The check-in's status as Sentry shows it once it is closed (ok/error); None if not seen in time."""
    assert fired.check_in_id is not None
    wanted = uuid.UUID(fired.check_in_id)
    with sentry_api_from_settings(settings) as api:
        while True:
            for check_in in api.monitor_check_ins(fired.name):
                if _same_id(check_in.get("id"), wanted) and check_in.get("status") != "in_progress":
                    return str(check_in.get("status"))
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_INTERVAL_S)  # Sentry ingests check-ins asynchronously


def _same_id(raw: object, wanted: uuid.UUID) -> bool:
    try:
        return uuid.UUID(str(raw)) == wanted
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for name in entry_names():
            print(name)
        return EXIT_OK
    if not args.entry:
        print("give an entry name (python scripts/beat_now.py --list shows them)", file=sys.stderr)
        return EXIT_USAGE
    if args.entry not in entry_names():
        print(f"no beat entry {args.entry!r}; the entries are: {', '.join(entry_names())}", file=sys.stderr)
        return EXIT_USAGE
    if args.wait < 0:
        print(f"--wait must be 0 or more seconds, got {args.wait}", file=sys.stderr)
        return EXIT_USAGE
    # The production app (or a module around it, as `celery -A` takes); it loads and validates the settings on
    # first use, printing the named errors and exiting 2 when they are wrong, like every entry point.
    app = importlib.import_module(args.app).app
    settings: Settings = app.settings
    configure_logging(settings)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=BROKER_CHECK_RETRIES)
    except OperationalError as exc:
        print(f"cannot reach the broker (REDIS_URL): {exc}", file=sys.stderr)
        return EXIT_USAGE
    status = init_sentry(settings, process="beat")  # what beat_init does in beat
    try:
        fired = fire_entry(app, args.entry)
    except UnknownEntry as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except NotSent as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    finally:
        sentry_sdk.flush(timeout=5)  # the in_progress check-in leaves before anything else happens

    print(f"Sent {fired.name} ({fired.task}) to queue {fired.queue} as task {fired.task_id}")
    if fired.check_in_id is None:
        print("Crons: no check-in (Sentry is off: SENTRY_DSN is not set)")
    else:
        print(
            f"Crons: check-in {fired.check_in_id} in_progress, monitor {fired.name} "
            f"({describe_monitor(fired.monitor_config)}), sent to {status.dsn_host} project {status.project_id}"
        )
    if args.wait == 0:
        return EXIT_OK

    deadline = time.monotonic() + args.wait
    state = _wait_for_task(app, fired.task_id, deadline)
    if state is None:
        print(f"The task did not finish within {args.wait:g} s: is a worker consuming queue {fired.queue}?")
        return EXIT_FAILED
    expected = "ok" if state == "SUCCESS" else "error"
    print(f"Task {state}; the worker closes the check-in as {expected}")
    if fired.check_in_id is None:
        return EXIT_OK if state == "SUCCESS" else EXIT_FAILED
    try:
        seen = _sentry_check_in(settings, fired, deadline)
    except SentryApiNotConfigured as exc:
        print(f"Not confirmed in Sentry: {exc}")
        return EXIT_OK if state == "SUCCESS" else EXIT_FAILED
    except SentryApiError as exc:
        print(f"Not confirmed in Sentry: {exc}")
        return EXIT_FAILED
    if seen is None:
        print(f"Sentry does not show check-in {fired.check_in_id} closed yet ({args.wait:g} s)")
        return EXIT_FAILED
    print(f"Sentry shows check-in {fired.check_in_id} of monitor {fired.name}: {seen}")
    return EXIT_OK if state == "SUCCESS" and seen == "ok" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
