"""The six alert rules of DESIGN.md §7 in the Sentry project, as code (docs/alerts.md).

    python scripts/sentry_alerts.py            # preview: a per-rule diff, changes nothing
    python scripts/sentry_alerts.py --apply    # create or update them (idempotent: a second run changes nothing)
    python scripts/sentry_alerts.py --json     # the same, machine-readable

Exit codes: 0 done (or previewed), 1 failures, 2 usage or configuration errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python scripts/sentry_alerts.py`: the project root is not on sys.path yet.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import logging
from collections.abc import Sequence
from typing import Any

from common.settings import ConfigError, Settings, installation_uuid, load_settings
from scripts.cli import guarded
from worker.alerts.rules import LIMITATION, RuleChange, desired_rules, plan
from worker.sentry_api import SentryApi, SentryApiError, SentryApiNotConfigured, sentry_api_from_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SYMBOLS = {"create": "+", "update": "~", "unchanged": "="}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python scripts/sentry_alerts.py",
        description=(
            "Create or update the six issue alert rules of the operators' guide (Bot crashed, Trading failed, "
            "Auth failed, Database down, Rate limit, API errors spike) in the project set by "
            "SENTRY_ORGANIZATION and SENTRY_PROJECT, matched by name. Without --apply nothing is changed."
        ),
        epilog="Exit codes: 0 done, 1 failures, 2 usage or configuration errors. See docs/alerts.md.",
    )
    parser.add_argument("--apply", action="store_true", help="create or update the rules (default: preview)")
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON report on stdout")
    parser.add_argument(
        "--installation-uuid",
        metavar="UUID",
        help="the internal integration's installation UUID (default: SENTRY_ALERT_INSTALLATION_UUID)",
    )
    return parser


def _lines(changes: Sequence[RuleChange], target: str, applied: bool) -> list[str]:
    mode = "applied" if applied else "preview; --apply to change"
    lines = [f"Sentry alert rules in {target} ({mode}):"]
    for change in changes:
        what = {"create": "create", "update": "update " + ", ".join(change.fields), "unchanged": "no changes"}
        lines.append(f"  {SYMBOLS[change.change]} {change.name}: {what[change.change]}")
    if all(change.change == "unchanged" for change in changes):
        lines.append("No changes: every rule is as desired.")
    lines.append(f"Note: {LIMITATION}")
    return lines


def _apply(api: SentryApi, changes: Sequence[RuleChange]) -> list[str]:
    """Create or PUT (the whole rule) what differs; the failures, one sentence each."""
    failures = []
    for change in changes:
        try:
            if change.change == "create":
                api.create_rule(change.body)
            elif change.change == "update" and change.rule_id is not None:
                api.update_rule(change.rule_id, change.body)
        except SentryApiError as exc:
            failures.append(f"{change.name}: {exc}")
    return failures


def sync_rules(api: SentryApi, installation: str, *, apply: bool) -> tuple[list[RuleChange], list[str]]:
    """The plan against the project's rules and, with ``apply``, the failures of carrying it out."""
    changes = plan(desired_rules(installation), api.list_rules())
    return changes, (_apply(api, changes) if apply else [])


def _installation(args: argparse.Namespace, settings: Settings) -> str | None:
    if args.installation_uuid:
        try:
            return installation_uuid(args.installation_uuid)
        except ValueError:
            return None
    return settings.sentry_alert_installation_uuid


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    installation = _installation(args, settings)
    if installation is None:
        print(
            "sentry_alerts: set SENTRY_ALERT_INSTALLATION_UUID (or --installation-uuid) to the internal "
            "integration's installation UUID, e.g. 5f6a2e1c-7b3d-4c8e-9a10-2b4c6d8e0f12",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        api = sentry_api_from_settings(settings)
    except SentryApiNotConfigured as exc:
        print(f"sentry_alerts: {exc}; the rules need the alerts:write (or project:write) scope", file=sys.stderr)
        return EXIT_USAGE
    with api:
        try:
            changes, failures = sync_rules(api, installation, apply=args.apply)
        except SentryApiError as exc:
            print(f"sentry_alerts: {exc}", file=sys.stderr)
            return EXIT_FAILED
    target = f"{api.organization}/{api.project}"
    report: dict[str, Any] = {
        "project": target,
        "applied": args.apply,
        "rules": [change.as_json() for change in changes],
        "changes": sum(change.change != "unchanged" for change in changes),
        "failures": failures,
        "limitation": LIMITATION,
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print("\n".join(_lines(changes, target, args.apply)))
    for failure in failures:
        print(f"sentry_alerts: {failure}", file=sys.stderr)
    return EXIT_FAILED if failures else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Never a traceback for the operator: every failure becomes a sentence and an exit code."""
    return guarded("sentry_alerts", run, argv)


if __name__ == "__main__":
    sys.exit(main())
