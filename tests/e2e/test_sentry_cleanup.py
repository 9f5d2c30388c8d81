"""The Sentry cleanup end to end: the real client over HTTP against the Sentry sandbox, real Redis for the
lock, real SQLite/PostgreSQL for the audit, and the CLI as operators run it (a subprocess)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.db.database import Database
from common.db.migrate import upgrade
from common.retry import RetryPolicy
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.support.waiting import wait_until
from worker.cleanup import audit
from worker.cleanup.lock import ProjectLock, lock_key
from worker.cleanup.runner import CleanupContext, CleanupReport, CleanupRequest, LockHeld, Progress, run_cleanup
from worker.selftest.report import ERROR_MESSAGE, LEGACY_API_ERROR_MESSAGE
from worker.sentry_api import EmptyIdListError, SentryApi, SentryApiError, SentryAuthError

ROOT = Path(__file__).resolve().parents[2]
TEST_TITLES = [
    "Test Error",
    "Test Critical",
    f"ValueError: {ERROR_MESSAGE}",
    f"RuntimeError: {LEGACY_API_ERROR_MESSAGE}",
]
REAL_TITLES = [
    "KeyError: 'price'",
    "ZeroDivisionError: division by zero",
    "TimeoutError: DMarket did not answer",
    # Test words inside a real bug's title: never a test issue (matched as a whole title only).
    "AssertionError: Test Critical path lock not released",
]
ENVIRONMENTS = ["production", "staging", "development"]
MUTATING = {"PUT", "DELETE"}


@dataclass(frozen=True)
class Seeded:
    """A seeded issue and what the test knows about it independently of the code under test."""

    id: str
    title: str
    status: str
    environment: str
    tagged: bool
    comments: int
    age_days: int

    @property
    def is_test(self) -> bool:
        # A title alone is proof only outside production (DESIGN notes: docs/sentry-cleanup.md).
        return self.tagged or (self.title in TEST_TITLES and self.environment != "production")

    def may_be_touched(self, request: CleanupRequest) -> bool:
        """The oracle: DESIGN.md §6 written out directly."""
        if request.test_only and not self.is_test:
            return False
        if request.older_than_days is not None and self.age_days <= request.older_than_days:
            return False
        if request.environment and self.environment != request.environment:
            return False
        if self.comments > 0:
            return False
        if not self.is_test and (self.status != "resolved" or self.environment == "production"):
            return False
        return request.delete or self.status != "resolved"


def spec(
    title: str, status: str, environment: str, tagged: bool, comments: int, age_days: int, now: datetime
) -> dict[str, Any]:
    seen = now - timedelta(days=age_days, hours=1)
    return {
        "title": title,
        "status": status,
        "environment": environment,
        "tags": {"test": "true", "source": "test_sentry"} if tagged else {"component": "trading"},
        "numComments": comments,
        "firstSeen": (seen - timedelta(days=1)).isoformat(),
        "lastSeen": seen.isoformat(),
    }


def seed(sandbox: SentrySandbox, rows: list[tuple[str, str, str, bool, int, int]]) -> list[Seeded]:
    now = datetime.now(UTC)
    ids = sandbox.client.seed_issues([spec(*row, now=now) for row in rows])
    return [Seeded(i, *row) for i, row in zip(ids, rows, strict=True)]


def random_rows(n: int, rng: random.Random) -> list[tuple[str, str, str, bool, int, int]]:
    rows = []
    for _ in range(n):
        tagged = rng.random() < 0.3
        title = rng.choice(TEST_TITLES if rng.random() < 0.3 else REAL_TITLES)
        rows.append(
            (
                title,
                rng.choice(["unresolved", "unresolved", "resolved", "ignored"]),
                rng.choice(ENVIRONMENTS),
                tagged,
                rng.choice([0, 0, 0, 0, 1, 3]),
                rng.choice([0, 2, 10, 29, 31, 45, 90]),
            )
        )
    return rows


def statuses(sandbox: SentrySandbox) -> dict[str, str]:
    return {issue["id"]: issue["status"] for issue in sandbox.client.issues()}


def mutating_calls(sandbox: SentrySandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.client.requests_log() if r["method"] in MUTATING]


# Fast backoff: the policy's arithmetic is tested in unit tests; here the retries themselves are under test.
FAST_RETRIES = RetryPolicy(max_attempts=10, deadline_s=300.0, base_s=0.01, max_backoff_s=0.05)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    upgrade(url)
    return url


@dataclass
class Runner:
    sandbox: SentrySandbox
    database: Database
    redis_client: redis.Redis

    def api(self, token: str | None = None) -> SentryApi:
        sb = self.sandbox
        return SentryApi(sb.url, token or sb.token, sb.org, str(sb.project_id), retry_policy=FAST_RETRIES)

    def run(
        self, request: CleanupRequest, progress: Callable[[Progress], None] | None = None, token: str | None = None
    ) -> CleanupReport:
        with self.api(token) as api:
            ctx = CleanupContext(api, self.database, self.redis_client, 60, ["production"])
            return run_cleanup(request, ctx, run_key=f"test-{uuid.uuid4().hex}", trigger="test", progress=progress)


@pytest.fixture
def make_runner(redis_client: redis.Redis) -> Iterator[Callable[[SentrySandbox, str], Runner]]:
    made: list[Runner] = []

    def make(sandbox: SentrySandbox, database_url: str) -> Runner:
        made.append(Runner(sandbox, Database(database_url), redis_client))
        return made[-1]

    yield make
    for runner in made:
        runner.database.dispose()


@pytest.fixture
def runner(
    sentry_sandbox: SentrySandbox, sqlite_url: str, make_runner: Callable[[SentrySandbox, str], Runner]
) -> Runner:
    return make_runner(sentry_sandbox, sqlite_url)


# ---- the big mixed project -------------------------------------------------------------------------


@pytest.fixture
def big_project(sentry_sandbox: SentrySandbox) -> list[Seeded]:
    """2,400 issues: every status, environment, comment count and age, test and real, over many pages."""
    return seed(sentry_sandbox, random_rows(2400, random.Random(6)))


def test_the_preview_changes_nothing_and_explains_every_issue(runner: Runner, big_project: list[Seeded]) -> None:
    before = statuses(runner.sandbox)
    for request in (CleanupRequest(test_only=True), CleanupRequest(older_than_days=30, delete=True)):
        report = runner.run(request)
        expected = {s.id for s in big_project if s.may_be_touched(request)}
        assert {d.issue.id for d in report.decisions if d.acts} == expected
        assert all(d.acts or d.protected_by for d in report.decisions)
        assert report.status == "preview"
        assert not report.failed
    assert statuses(runner.sandbox) == before
    assert mutating_calls(runner.sandbox) == []
    # Thousands of issues means many pages: the listing followed the cursors to the end.
    cursors = [r for r in runner.sandbox.client.requests_log() if "cursor=" in r["query"]]
    assert len(cursors) > 10


def test_execute_resolves_exactly_the_test_issues(runner: Runner, big_project: list[Seeded]) -> None:
    request = CleanupRequest(test_only=True, execute=True)
    expected = {s.id for s in big_project if s.may_be_touched(request)}
    before = statuses(runner.sandbox)

    report = runner.run(request)

    after = statuses(runner.sandbox)
    assert {i for i in after if after[i] != before[i]} == expected
    assert all(after[i] == "resolved" for i in expected)
    assert report.status == "done"
    assert report.counts["done"] == len(expected) > 100
    assert {i for i, (action, state) in audit.action_states(runner.database, report.run_id).items()
            if state == "done"} == expected  # fmt: skip
    # Bulk calls by explicit id, at most 100 per call: never one call per issue, never a call without ids.
    puts = mutating_calls(runner.sandbox)
    assert len(puts) == -(-len(expected) // 100)
    assert all(0 < sum(1 for k, _ in p["params"] if k == "id") <= 100 for p in puts)


def test_delete_deletes_exactly_the_old_issues_it_may(runner: Runner, big_project: list[Seeded]) -> None:
    request = CleanupRequest(older_than_days=30, delete=True, execute=True)
    expected = {s.id for s in big_project if s.may_be_touched(request)}

    report = runner.run(request)

    remaining = set(statuses(runner.sandbox))
    assert {s.id for s in big_project} - remaining == expected
    assert report.counts["done"] == len(expected) > 50
    # A deleted issue is not lost without trace: its full JSON is in the audit.
    from common.db.models import CleanupAction

    with runner.database.session() as session:
        snapshot = session.query(CleanupAction).filter_by(run_id=report.run_id, state="done").first()
        assert snapshot is not None
        assert snapshot.snapshot["id"] in expected
        assert "lastSeen" in snapshot.snapshot


def test_environment_and_max_narrow_the_run(runner: Runner, big_project: list[Seeded]) -> None:
    request = CleanupRequest(test_only=True, delete=True, execute=True, environment="staging", max_actions=7)
    allowed = {s.id for s in big_project if s.may_be_touched(request)}

    report = runner.run(request)

    deleted = {s.id for s in big_project} - set(statuses(runner.sandbox))
    assert len(deleted) == 7
    assert deleted <= allowed
    assert report.counts["protected"]["over_max"] == len(allowed) - 7


# ---- protected issues survive every flag combination ----------------------------------------------------

rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(TEST_TITLES + REAL_TITLES),
        st.sampled_from(["unresolved", "resolved", "ignored"]),
        st.sampled_from(ENVIRONMENTS),
        st.booleans(),
        st.sampled_from([0, 0, 2]),
        st.sampled_from([1, 20, 45]),
    ),
    min_size=1,
    max_size=25,
)
requests_strategy = st.builds(
    CleanupRequest,
    test_only=st.booleans(),
    older_than_days=st.sampled_from([None, 30]),
    delete=st.booleans(),
    execute=st.just(True),
    environment=st.sampled_from([None, "staging", "production"]),
).filter(lambda r: r.test_only or r.older_than_days is not None)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, request=requests_strategy)
def test_protected_issues_survive_any_flags_end_to_end(
    runner: Runner, rows: list[tuple[str, str, str, bool, int, int]], request: CleanupRequest
) -> None:
    runner.sandbox.client.reset()
    seeded = seed(runner.sandbox, rows)
    before = statuses(runner.sandbox)

    runner.run(request)

    after = statuses(runner.sandbox)
    for issue in seeded:
        if not issue.may_be_touched(request):
            assert after.get(issue.id) == before[issue.id], f"{issue} was touched by {request}"
        else:
            assert after.get(issue.id) == (None if request.delete else "resolved")


# ---- failures part-way, rate limits, empty selections, locks ----------------------------------------------


def test_a_run_interrupted_part_way_leaves_an_audit_that_matches_sentry(
    sentry_sandbox: SentrySandbox, database_url: str, make_runner: Callable[[SentrySandbox, str], Runner]
) -> None:
    runner = make_runner(sentry_sandbox, database_url)
    seed(sentry_sandbox, [("Test Error", "unresolved", "staging", True, 0, 1)] * 450)

    def revoke_writing_after_first_chunk(update: Progress) -> None:
        if update.phase == "acting" and update.done == 100:
            # Ours may still read (the re-read before each call works) but no longer resolve: 403.
            sentry_sandbox.client.configure(tokens={sentry_sandbox.token: ["event:read"]})

    report = runner.run(CleanupRequest(test_only=True, execute=True), progress=revoke_writing_after_first_chunk)

    assert report.status == "failed"
    assert "SENTRY_AUTH_TOKEN" in (report.error or "")
    states = audit.action_states(runner.database, report.run_id)
    resolved = {i for i, s in statuses(sentry_sandbox).items() if s == "resolved"}
    assert {i for i, (_, state) in states.items() if state == "done"} == resolved
    assert len(resolved) == 100
    assert sum(state == "failed" for _, state in states.values()) == 100
    assert sum(state == "not_attempted" for _, state in states.values()) == 250
    run = audit.get_run(runner.database, report.run_id)
    assert run is not None
    assert run.status == "failed"
    assert run.counts["done"] == 100


def test_a_run_stopped_by_its_time_limit_says_what_was_not_attempted(runner: Runner) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    seed(runner.sandbox, [("Test Error", "unresolved", "staging", True, 0, 1)] * 250)

    def time_is_up(update: Progress) -> None:
        if update.phase == "acting":
            raise SoftTimeLimitExceeded()

    with pytest.raises(SoftTimeLimitExceeded):
        runner.run(CleanupRequest(test_only=True, execute=True), progress=time_is_up)

    [run] = audit.recent_runs(runner.database)
    states = sorted(state for _, state in audit.action_states(runner.database, run.id).values())
    assert run.status == "interrupted"
    assert "SoftTimeLimitExceeded" in (run.error or "")
    assert states == ["done"] * 100 + ["not_attempted"] * 150
    assert sum(s == "resolved" for s in statuses(runner.sandbox).values()) == 100


def test_server_errors_are_retried_and_429s_waited_out(runner: Runner) -> None:
    seeded = seed(runner.sandbox, [("Test Critical", "unresolved", "staging", True, 0, 1)] * 150)
    runner.sandbox.client.configure(
        faults=[
            {"endpoint": "org-issues", "status": 429, "count": 2, "retry_after": 1},
            {"endpoint": "org-issues", "status": 503, "count": 1, "retry_after": 0},
            {"endpoint": "org-issues", "status": 500, "count": 1},
        ]
    )

    report = runner.run(CleanupRequest(test_only=True, execute=True))

    assert report.status == "done"
    assert report.counts["done"] == 150
    assert report.api.rate_limited == 2
    assert report.api.retries == 4
    assert report.api.waited_s >= 2
    assert set(statuses(runner.sandbox).values()) == {"resolved"}
    assert len(seeded) == 150


def test_a_429_without_a_wait_still_waits_and_the_number_of_429s_is_capped(runner: Runner) -> None:
    """`Retry-After: 0` (the sandbox sends it as given, no clamping) must not become a busy loop."""
    seed(runner.sandbox, [("Test Error", "unresolved", "staging", True, 0, 1)] * 3)
    waits: list[float] = []
    sb = runner.sandbox
    sb.client.configure(faults=[{"endpoint": "org-issues", "status": 429, "count": 1000, "retry_after": 0}])

    with (
        SentryApi(
            sb.url, sb.token, sb.org, str(sb.project_id), sleep=waits.append, retry_policy=RetryPolicy(8, 300.0)
        ) as api,
        pytest.raises(SentryApiError, match="kept rate-limiting") as caught,
    ):
        next(api.iter_issue_pages("test:true"))

    assert caught.value.status == 429
    assert len(waits) == 7
    assert all(w >= 1.0 for w in waits)
    served = [r for r in sb.client.requests_log() if r["endpoint"] == "org-issues"]
    assert [r["status"] for r in served] == [429] * 8


def test_429s_with_retry_after_zero_are_waited_out_and_the_run_completes(runner: Runner) -> None:
    seed(runner.sandbox, [("Test Critical", "unresolved", "staging", True, 0, 1)] * 5)
    runner.sandbox.client.configure(faults=[{"endpoint": "org-issues", "status": 429, "count": 2, "retry_after": 0}])

    report = runner.run(CleanupRequest(test_only=True, execute=True))

    assert report.status == "done"
    assert report.counts["done"] == 5
    assert report.api.rate_limited == 2
    assert report.api.waited_s >= 2.0


def test_an_empty_selection_makes_no_mutating_call(runner: Runner) -> None:
    seed(runner.sandbox, [(t, "unresolved", "production", False, 0, 60) for t in REAL_TITLES])
    for request in (
        CleanupRequest(test_only=True, execute=True),
        CleanupRequest(older_than_days=30, delete=True, execute=True),
    ):
        report = runner.run(request)
        assert report.status == "done"
        assert report.counts["to_act"] == 0
    assert mutating_calls(runner.sandbox) == []


def test_the_client_refuses_a_bulk_call_without_ids_before_any_request(runner: Runner) -> None:
    with runner.api() as api:
        with pytest.raises(EmptyIdListError, match="every matching issue"):
            api.resolve_issues([])
        with pytest.raises(EmptyIdListError):
            api.delete_issues([])
        with pytest.raises(ValueError, match="positive decimal strings"):
            api.delete_issues(["12", ""])
        for bare in ("4567", b"4567"):  # a string is a sequence too: "4567" would become ids 4, 5, 6, 7
            with pytest.raises(TypeError, match="a list of strings"):
                api.resolve_issues(bare)  # type: ignore[arg-type]
    assert runner.sandbox.client.requests_log() == []


def test_a_project_slug_is_resolved_to_its_id_once(runner: Runner, sentry_sandbox: SentrySandbox) -> None:
    with SentryApi(sentry_sandbox.url, sentry_sandbox.token, sentry_sandbox.org, sentry_sandbox.project) as api:
        assert api.project_id() == str(sentry_sandbox.project_id)
        assert api.project_id() == str(sentry_sandbox.project_id)
    lookups = [r for r in sentry_sandbox.client.requests_log() if r["endpoint"] == "project"]
    assert len(lookups) == 1


def test_a_slug_lookup_without_project_read_names_that_scope(sentry_sandbox: SentrySandbox) -> None:
    sentry_sandbox.client.configure(tokens={"events-only": ["event:read", "event:write", "event:admin"]})
    with (
        SentryApi(sentry_sandbox.url, "events-only", sentry_sandbox.org, sentry_sandbox.project) as api,
        pytest.raises(SentryAuthError) as caught,
    ):
        api.project_id()
    assert caught.value.scope == "project:read"
    assert "numeric id" in str(caught.value)


def test_a_second_run_on_the_same_project_is_refused_while_one_acts(runner: Runner) -> None:
    seed(runner.sandbox, [("Test Error", "unresolved", "staging", True, 0, 1)])
    key = lock_key(httpx.URL(runner.sandbox.url).netloc.decode(), runner.sandbox.org, str(runner.sandbox.project_id))
    with ProjectLock(runner.redis_client, key, 60, owner="weekly-run-42"):
        with pytest.raises(LockHeld, match="run weekly-run-42 is already acting"):
            runner.run(CleanupRequest(test_only=True, execute=True))
        assert runner.run(CleanupRequest(test_only=True)).status == "preview"  # a preview needs no lock
    assert mutating_calls(runner.sandbox) == []
    assert [r.status for r in audit.recent_runs(runner.database)] == ["preview", "refused"]
    assert runner.run(CleanupRequest(test_only=True, execute=True)).status == "done"  # released


# ---- the CLI, as operators run it ---------------------------------------------------------------------


@pytest.fixture
def cli_env(sentry_sandbox: SentrySandbox, sqlite_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SENTRY_API_URL": sentry_sandbox.url,
        "SENTRY_AUTH_TOKEN": sentry_sandbox.token,
        "SENTRY_ORGANIZATION": sentry_sandbox.org,
        "SENTRY_PROJECT": str(sentry_sandbox.project_id),
        "DATABASE_URL": sqlite_url,
        "REDIS_URL": redis_url,
    }


def cli(env: dict[str, str], *args: str, as_module: bool = False) -> subprocess.CompletedProcess[str]:
    entry = ["-m", "scripts.sentry_cleanup"] if as_module else [str(ROOT / "scripts" / "sentry_cleanup.py")]
    # From another directory: the script must find the project by itself.
    cwd = ROOT if as_module else ROOT / "docs"
    return subprocess.run(
        [sys.executable, *entry, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_preview_then_execute_with_json_report(sentry_sandbox: SentrySandbox, cli_env: dict[str, str]) -> None:
    seeded = seed(
        sentry_sandbox,
        [
            ("ValueError: Test error: boom", "unresolved", "production", True, 0, 1),
            ("Test Critical", "unresolved", "staging", False, 2, 1),
            ("KeyError: 'price'", "unresolved", "production", False, 0, 1),
        ],
    )
    preview = cli(cli_env, "--test-only")
    assert preview.returncode == 0, preview.stderr
    assert re.search(rf"RESOLVE\s+{seeded[0].id}\s", preview.stdout)
    assert re.search(rf"KEEP\s+{seeded[1].id}\s.*\(has comments\)", preview.stdout)
    assert "Totals: 2 found, 1 to resolve, 1 kept (has comments: 1)" in preview.stdout
    assert "Traceback" not in preview.stderr
    assert mutating_calls(sentry_sandbox) == []

    done = cli(cli_env, "--test-only", "--execute", "--json", as_module=True)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "done"
    assert body["counts"]["done"] == 1
    assert body["dry_run"] is False
    assert statuses(sentry_sandbox)[seeded[0].id] == "resolved"

    report = cli(cli_env, "--report")
    assert report.returncode == 0
    assert "--test-only --execute" in report.stdout
    assert "preview" in report.stdout


@pytest.mark.parametrize(
    ("args", "env_changes", "code", "message"),
    [
        (["--delete", "--execute"], {}, 2, "--delete needs --test-only or --old N"),
        (["--execute"], {}, 2, "choose which issues to clean"),
        (["--old", "zero"], {}, 2, "expected a whole number"),
        (["--report", "--test-only"], {}, 2, "cannot be combined"),
        (["--old", "3651"], {}, 2, "--old takes a number of days from 1 to 3650"),
        (["--test-only", "--environment", ""], {}, 2, "--environment takes the name of a Sentry environment"),
        (["--test-only", "--environment", "  "], {}, 2, "--environment takes the name of a Sentry environment"),
        (["--test-only"], {"SENTRY_AUTH_TOKEN": "", "SENTRY_PROJECT": ""}, 2, "set SENTRY_AUTH_TOKEN, SENTRY_PROJECT"),
        (["--test-only"], {"SENTRY_API_URL": "ftp://x"}, 2, "SENTRY_API_URL"),
        (["--test-only"], {"SENTRY_AUTH_TOKEN": "wrong"}, 1, "Sentry rejected SENTRY_AUTH_TOKEN (401"),
    ],
)
def test_cli_exit_codes_and_messages(
    cli_env: dict[str, str], args: list[str], env_changes: dict[str, str], code: int, message: str
) -> None:
    result = cli({**cli_env, **env_changes}, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_on_a_database_that_was_never_migrated_says_how_to_migrate(cli_env: dict[str, str], tmp_path: Path) -> None:
    for args in (["--test-only"], ["--report"]):
        result = cli({**cli_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}, *args)
        assert result.returncode == 2, result.stderr
        assert "make migrate" in result.stderr
        assert "python -m common.db.migrate upgrade" in result.stderr
        assert "Traceback" not in result.stderr


def test_cli_names_missing_credentials_before_anything_about_the_database(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """From another directory, with no token and a database never migrated: the credentials come first."""
    env = {**cli_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    env.pop("SENTRY_AUTH_TOKEN")
    result = cli(env, "--test-only")
    assert result.returncode == 2, result.stderr
    assert "SENTRY_AUTH_TOKEN" in result.stderr
    assert "audit tables" not in result.stderr


def test_a_non_numeric_project_id_from_the_slug_lookup_is_refused() -> None:
    """It would become the `project=` filter of every search and bulk call."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from sandbox.server import running

    async def project(_: object) -> JSONResponse:
        return JSONResponse({"id": "sandbox-project", "slug": "sandbox-project"})

    app = Starlette(routes=[Route("/api/0/projects/org/sandbox-project/", project)])
    with running(app) as server, SentryApi(server.url, "token", "org", "sandbox-project") as api:
        with pytest.raises(SentryApiError, match="answered id 'sandbox-project'; expected the numeric project id"):
            api.project_id()
        with pytest.raises(SentryApiError):
            next(api.iter_issue_pages("test:true"))


def test_cli_names_the_missing_scope_when_the_token_may_not_delete(
    sentry_sandbox: SentrySandbox, cli_env: dict[str, str]
) -> None:
    seed(sentry_sandbox, [("Test Error", "unresolved", "staging", True, 0, 1)])
    sentry_sandbox.client.configure(tokens={"writer": ["event:read", "event:write"]})
    result = cli({**cli_env, "SENTRY_AUTH_TOKEN": "writer"}, "--test-only", "--delete", "--execute")
    assert result.returncode == 1
    assert "needs the event:admin scope" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(statuses(sentry_sandbox)) == 1


def test_cli_help_lists_the_operators_flags(cli_env: dict[str, str]) -> None:
    result = cli(cli_env, "--help")
    assert result.returncode == 0
    for flag in ("--test-only", "--old N", "--execute", "--delete", "--environment", "--max N", "--json", "--report"):
        assert flag in result.stdout


# ---- acting on what Sentry says now, not on what the listing said -------------------------------------------


def test_issues_that_changed_after_listing_are_left_alone_and_the_skip_is_audited(runner: Runner) -> None:
    """DESIGN.md §6 checked at the moment of acting: a comment, a regression or a deletion between the listing
    and the call (here: right before the run looks again) keeps the issue out of the bulk call."""
    seeded = seed(runner.sandbox, [("Test Error", "unresolved", "staging", True, 0, 1)] * 3)
    commented, deleted, untouched = (s.id for s in seeded)

    def meddle(update: Progress) -> None:
        if update.phase == "checking" and update.done == 0:
            runner.sandbox.client.add_comment(commented, "wait, I am looking at this one")
            with runner.api() as api:
                api.delete_issues([deleted])

    report = runner.run(CleanupRequest(test_only=True, execute=True), progress=meddle)

    assert report.status == "done"
    assert statuses(runner.sandbox) == {commented: "unresolved", untouched: "resolved"}
    [put] = [r for r in mutating_calls(runner.sandbox) if r["method"] == "PUT"]
    assert _ids(put) == [untouched]
    states = audit.action_states(runner.database, report.run_id)
    assert states[commented] == ("resolve", "skipped")
    assert states[deleted] == ("resolve", "skipped")
    assert states[untouched] == ("resolve", "done")
    reasons = _reasons(runner.database, report.run_id)
    assert reasons[commented] == "recheck:has_comments"
    assert reasons[deleted] == "recheck:gone"
    assert report.counts["skipped_on_recheck"] == 2
    assert report.counts["done"] == 1


def test_an_old_issue_that_regressed_after_listing_is_not_deleted(runner: Runner) -> None:
    [old_resolved] = seed(runner.sandbox, [("KeyError: 'price'", "resolved", "staging", False, 0, 60)])

    def regress(update: Progress) -> None:
        if update.phase == "checking":
            runner.sandbox.client.update_issue(old_resolved.id, status="unresolved")

    report = runner.run(CleanupRequest(older_than_days=30, delete=True, execute=True), progress=regress)

    assert statuses(runner.sandbox) == {old_resolved.id: "unresolved"}
    assert [r for r in mutating_calls(runner.sandbox) if r["method"] == "DELETE"] == []
    assert _reasons(runner.database, report.run_id)[old_resolved.id] == "recheck:unresolved_not_test"


def _ids(request: dict[str, Any]) -> list[str]:
    return [value for key, value in request["params"] if key == "id"]


def _reasons(database: Database, run_id: int) -> dict[str, str]:
    from common.db.models import CleanupAction

    with database.session() as session:
        return {a.issue_id: a.reason for a in session.query(CleanupAction).filter_by(run_id=run_id)}


def test_a_test_title_is_not_enough_in_production(runner: Runner) -> None:
    """An untagged production issue titled like a test one may be a real bug that shares the words."""
    in_production, in_staging, tagged_in_production = seed(
        runner.sandbox,
        [
            ("Test Critical", "unresolved", "production", False, 0, 1),
            ("Test Critical", "unresolved", "staging", False, 0, 1),
            ("Test Error", "unresolved", "production", True, 0, 1),
        ],
    )
    report = runner.run(CleanupRequest(test_only=True, delete=True, execute=True))

    assert set(statuses(runner.sandbox)) == {in_production.id}
    decisions = {d.issue.id: d for d in report.decisions}
    assert in_production.id not in decisions  # not a test issue there, so not selected by --test-only at all
    assert decisions[in_staging.id].acts
    assert decisions[tagged_in_production.id].acts


@pytest.mark.parametrize("spelling", ["Production", "PRODUCTION", "production"])
def test_production_environments_compare_case_insensitively(runner: Runner, spelling: str) -> None:
    [real] = seed(runner.sandbox, [("KeyError: 'price'", "resolved", spelling, False, 0, 60)])
    [staging] = seed(runner.sandbox, [("KeyError: 'price'", "resolved", "staging", False, 0, 60)])

    report = runner.run(CleanupRequest(older_than_days=30, delete=True, execute=True))

    assert set(statuses(runner.sandbox)) == {real.id}  # the staging one was deleted, the production one kept
    decisions = {d.issue.id: d for d in report.decisions}
    assert decisions[real.id].protected_by is not None
    assert decisions[real.id].protected_by.value == "production_not_test"
    assert decisions[staging.id].acts


def test_the_lock_is_kept_alive_while_one_call_takes_longer_than_its_ttl(
    sentry_sandbox: SentrySandbox, sqlite_url: str, redis_client: redis.Redis
) -> None:
    """A 2 s lock and a resolve call held for 5 s: a second acting run must still be refused mid-call."""
    seed(sentry_sandbox, [("Test Error", "unresolved", "staging", True, 0, 1)])
    sentry_sandbox.client.configure(faults=[{"endpoint": "org-issues", "method": "PUT", "delay_s": 5, "count": 1}])
    database = Database(sqlite_url)
    outcome: list[CleanupReport] = []

    def acting_run() -> None:
        sb = sentry_sandbox
        with SentryApi(sb.url, sb.token, sb.org, str(sb.project_id), retry_policy=FAST_RETRIES) as api:
            ctx = CleanupContext(api, database, redis_client, 2, ["production"])
            request = CleanupRequest(test_only=True, execute=True)
            outcome.append(run_cleanup(request, ctx, run_key="slow", trigger="test"))

    thread = threading.Thread(target=acting_run)
    thread.start()
    try:
        # The PUT is being held once its fault is no longer listed in the sandbox's config.
        wait_until(lambda: not sentry_sandbox.client.config()["faults"], timeout_s=10, what="the PUT to be held")
        time.sleep(3)  # the hold is the point: past the 2 s TTL with the call still in flight
        host = httpx.URL(sentry_sandbox.url).netloc.decode()
        key = lock_key(host, sentry_sandbox.org, str(sentry_sandbox.project_id))
        with pytest.raises(LockHeld):
            ProjectLock(redis_client, key, 60, owner="second-run").acquire()
    finally:
        thread.join(20)
        database.dispose()
    assert outcome[0].status == "done"
