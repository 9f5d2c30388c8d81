"""Sentry cleanup benchmark: ``python -m bench.bench_cleanup``.

10,000 issues in the Sentry sandbox, its Web API limited to 5 requests/s per endpoint (Sentry's limit on
issue lists). Measures API calls and wall time of ``--test-only --execute`` (the same runner as the CLI)
against a naive baseline that lists the same issues and then resolves them one call per issue, as the
script operators used before did. The baseline is run on a sample and extrapolated (at 5 requests/s it
would take minutes); the table says so.
"""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from common.db.database import Database
from common.db.migrate import upgrade
from sandbox.sentry import SandboxOptions, SentrySandboxClient, build_app
from sandbox.server import running
from worker.cleanup.policy import TEST_TAG_QUERY
from worker.cleanup.runner import CleanupContext, CleanupRequest, run_cleanup
from worker.sentry_api import PAGE_SIZE, SentryApi

ISSUES = 10_000
RATE_PER_S = 5
BASELINE_SAMPLE = 60
SEED = 6
# The benchmarks' Redis database (the cleanup's project lock lives there), never the app's /0.
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14"


def issue_specs(now: datetime) -> list[dict[str, Any]]:
    """20% /test_sentry issues (tagged), 1% legacy untagged "Test Error"/"Test Critical", the rest real."""
    rng = random.Random(SEED)
    specs = []
    for i in range(ISSUES):
        roll = rng.random()
        if roll < 0.20:
            title, tags = (
                rng.choice(["ValueError: Test error: boom", "ZeroDivisionError: division by zero"]),
                {"test": "true"},
            )
        elif roll < 0.21:
            title, tags = rng.choice(["Test Error", "Test Critical"]), {}
        else:
            title, tags = f"KeyError: 'field_{i % 500}'", {"component": "trading"}
        specs.append(
            {
                "title": title,
                "tags": tags,
                "status": rng.choice(["unresolved", "unresolved", "resolved", "ignored"]),
                "environment": rng.choice(["production", "staging"]),
                "numComments": 1 if rng.random() < 0.05 else 0,
                "lastSeen": (now - timedelta(minutes=rng.randrange(60 * 24 * 60))).isoformat(),
            }
        )
    return specs


def naive_baseline(api: SentryApi, sample: int) -> dict[str, float]:
    """List the test issues, then one PUT per issue; only ``sample`` PUTs are made, the per-issue cost is measured."""
    started = time.monotonic()
    # The listing production uses (cursor pagination, de-duplicated); only the acting differs.
    listed = {str(i["id"]): i for page in api.iter_issue_pages(TEST_TAG_QUERY) for i in page}
    issues = [i for i in listed.values() if i["status"] != "resolved" and not i["numComments"]]
    list_calls, list_s = api.stats.requests, time.monotonic() - started
    act_started = time.monotonic()
    for issue in issues[:sample]:
        # What the old script did: the single-issue endpoint, once per issue.
        api._request("PUT", f"/api/0/issues/{issue['id']}/", json={"status": "resolved"})
    return {"list_calls": list_calls, "list_s": list_s, "per_issue_s": (time.monotonic() - act_started) / sample}


def floor_s(calls: int) -> float:
    """The least wall time ``calls`` requests can take under fixed one-second windows of RATE_PER_S."""
    return float(max(0, math.ceil(calls / RATE_PER_S) - 1))


@dataclass
class CallKinds:
    """The Web API calls one run made, by kind, as the sandbox logged them."""

    searches: set[tuple[str, ...]] = field(default_factory=set)  # distinct (query, environments...)
    search_pages: int = 0
    rereads: int = 0
    mutations: int = 0
    lookups: int = 0
    other: int = 0


def call_kinds(log: list[dict[str, Any]], issues_path: str) -> CallKinds:
    kinds = CallKinds()
    for entry in log:
        params = dict(entry["params"])
        if entry["path"] == issues_path and entry["method"] == "GET":
            if "group" in params:
                kinds.rereads += 1
            else:
                kinds.search_pages += 1
                environments = sorted(value for name, value in entry["params"] if name == "environment")
                kinds.searches.add((params.get("query", ""), *environments))
        elif entry["path"] == issues_path and entry["method"] in ("PUT", "DELETE"):
            kinds.mutations += 1
        elif entry["method"] == "GET" and entry["path"].startswith("/api/0/projects/"):
            kinds.lookups += 1
        else:
            kinds.other += 1
    return kinds


def print_rows(rows: Sequence[Sequence[object]]) -> None:
    """A plain table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = zip(row, widths, strict=True)
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(cells)))


def main() -> int:
    options = SandboxOptions(rate_limits={"*": RATE_PER_S})
    redis_client = redis.Redis.from_url(REDIS_URL)
    with tempfile.TemporaryDirectory() as tmp, running(build_app(options)) as server:
        database_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(database_url)
        database = Database(database_url)
        control = SentrySandboxClient(server.url, timeout_s=120)
        specs = issue_specs(datetime.now(UTC))

        def api() -> SentryApi:
            return SentryApi(server.url, options.token, options.org, str(options.project_id))

        print(f"Seeding {ISSUES:,} issues; the sandbox allows {RATE_PER_S} requests/s per endpoint…", file=sys.stderr)
        control.seed_issues(specs)
        with api() as client:
            baseline = naive_baseline(client, BASELINE_SAMPLE)

        control.reset()
        control.configure(rate_limits={"*": RATE_PER_S})
        control.seed_issues(specs)
        with api() as client:
            ctx = CleanupContext(client, database, redis_client, 600, ["production"])
            started = time.monotonic()
            report = run_cleanup(
                CleanupRequest(test_only=True, execute=True), ctx, run_key=f"bench-{uuid.uuid4().hex}", trigger="bench"
            )
            seconds = time.monotonic() - started
        log = control.requests_log()
        control.close()
        database.dispose()
    redis_client.close()

    calls, retries = report.api.requests, report.api.retries
    listed, acted, to_act = report.counts["listed"], report.counts["done"], report.counts["to_act"]
    kinds = call_kinds(log, f"/api/0/organizations/{options.org}/issues/")
    searches = len(kinds.searches)
    chunks = math.ceil(to_act / PAGE_SIZE)
    # The least each kind of call can cost: every search pays its own partial last page; each chunk of up to
    # 100 ids is read again by id and then acted on in one bulk call.
    least = {
        "search pages": (searches, listed // PAGE_SIZE + searches),
        "re-reads by id": (chunks, chunks),
        "bulk PUTs": (0, chunks),
        # The project's environments once (which are production), the project's id once when given a slug.
        "lookups (environments, project)": (0, 2),
    }
    goal_calls = sum(high for _, high in least.values()) + retries
    naive_calls = int(baseline["list_calls"]) + acted
    naive_s = baseline["list_s"] + baseline["per_issue_s"] * acted
    rows = [
        ("", "API calls", "wall s", "floor s", "issues resolved"),
        ("cleanup --test-only --execute", calls, f"{seconds:.1f}", f"{floor_s(calls):.0f}", acted),
        ("naive, one call per issue (*)", naive_calls, f"{naive_s:.1f}", f"{floor_s(naive_calls):.0f}", acted),
    ]
    print_rows(rows)
    print(
        f"(*) extrapolated: the naive listing ran in full, then {BASELINE_SAMPLE} single-issue PUTs were timed; "
        f"all {acted} would take about {naive_s / 60:.0f} minutes."
    )
    print(f"{ISSUES:,} issues in the project; {listed:,} listed by {searches} searches; retries {retries}")
    print("\ncalls by kind (from the sandbox's request log)")
    measured = {
        "search pages": kinds.search_pages,
        "re-reads by id": kinds.rereads,
        "bulk PUTs": kinds.mutations,
        "lookups (environments, project)": kinds.lookups,
    }
    print_rows(
        [("kind", "calls", "least", "most")]
        + [(kind, measured[kind], low, high) for kind, (low, high) in least.items()]
        + [("other", kinds.other, 0, 0)]
    )
    print(
        f"calls: {calls}; goal: searches' pages (ceil each) + 2 x ceil(to act/100) + lookups + retries = "
        f"{goal_calls} at most"
    )
    ratio = seconds / max(floor_s(calls), 1.0)
    print(f"time / rate-limit floor = {ratio:.2f} (goal <= 1.2); {naive_s / seconds:.0f}x faster than naive")
    ok = report.status == "done" and calls <= goal_calls and kinds.other == 0 and ratio <= 1.2
    print(f"goals: {'met' if ok else 'NOT met'} (status {report.status})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
