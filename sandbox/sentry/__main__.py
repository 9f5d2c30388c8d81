"""``python -m sandbox.sentry``: serve the Sentry sandbox in the foreground."""

from __future__ import annotations

import argparse
import sys

from starlette.types import ASGIApp

from sandbox.server import cli_main

from . import DEFAULT_PORT, SandboxOptions, build_app
from .store import WEBHOOK_SECRET

ISSUE_LIST_ENDPOINTS = ("org-issues", "project-issues")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", default="sandbox-org", help="organization slug (default: %(default)s)")
    parser.add_argument("--project", default="sandbox-project", help="project slug (default: %(default)s)")
    parser.add_argument(
        "--project-id", type=int, default=1, help="numeric project id in the DSN (default: %(default)s)"
    )
    parser.add_argument(
        "--token", default="sandbox-token", help="Web API bearer token, all scopes (default: %(default)s)"
    )
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        help="accept only this DSN public key (repeatable); default: accept any key and record it",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        metavar="RPS",
        help="requests/s per Web API endpoint; 0 = unlimited (default: %(default)s)",
    )
    parser.add_argument(
        "--issues-rate-limit",
        type=int,
        default=0,
        metavar="RPS",
        help="requests/s for the issue lists (sentry.io: 5); 0 = as --rate-limit (default: %(default)s)",
    )
    parser.add_argument(
        "--webhook-url",
        default=None,
        metavar="URL",
        help="send the internal integration's webhooks (issue, event_alert) to URL (default: none)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=WEBHOOK_SECRET,
        metavar="SECRET",
        help="the integration's client secret that signs webhooks (default: %(default)s)",
    )


def options_from_args(args: argparse.Namespace) -> SandboxOptions:
    if args.rate_limit < 0 or args.issues_rate_limit < 0:
        raise SystemExit("rate limits must be >= 0 (0 = unlimited)")
    if args.webhook_url is not None and not args.webhook_url.startswith(("http://", "https://")):
        raise SystemExit("--webhook-url must be an http(s) URL")
    if not args.webhook_secret:
        raise SystemExit("--webhook-secret must not be empty")
    limits = {"*": args.rate_limit} if args.rate_limit else {}
    if args.issues_rate_limit:
        limits |= dict.fromkeys(ISSUE_LIST_ENDPOINTS, args.issues_rate_limit)
    return SandboxOptions(
        org=args.org,
        project_slug=args.project,
        project_id=args.project_id,
        token=args.token,
        public_keys=frozenset(args.public_key),
        rate_limits=limits,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )


def build_from_args(args: argparse.Namespace) -> ASGIApp:
    return build_app(options_from_args(args))


if __name__ == "__main__":
    sys.exit(cli_main("sentry", DEFAULT_PORT, build_from_args, add_arguments))
