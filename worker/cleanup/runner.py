"""The Sentry cleanup run shared by the CLI, the beat task and the bot: search, decide, audit, act.

Dry-run unless ``execute``. An acting run holds the project's Redis lock for its whole duration, writes
its plan to the audit before the first API call, and marks each chunk done/failed after its call.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from common.db.database import Database
from worker.cleanup import audit
from worker.cleanup.lock import LockHeld, ProjectLock, lock_key
from worker.cleanup.policy import (
    Action,
    Criteria,
    Decision,
    Protection,
    check_environment,
    decide,
    facts_from_api,
    plan,
)
from worker.cleanup.selection import gather
from worker.sentry_api import BULK_CHUNK_SIZE, ApiStats, SentryApi, SentryApiError

log = logging.getLogger(__name__)

__all__ = ["CleanupContext", "CleanupReport", "CleanupRequest", "LockHeld", "Progress", "run_cleanup"]


@dataclass(frozen=True)
class CleanupRequest:
    """A cleanup as plain values: what the CLI flags, the beat entry and the bot command all produce."""

    test_only: bool = False
    older_than_days: int | None = None
    delete: bool = False
    execute: bool = False
    environment: str | None = None
    max_actions: int | None = None

    def criteria(self) -> Criteria:
        """The policy's criteria; PolicyError (a usage error) if the combination is invalid."""
        check_environment(self.environment)
        return Criteria(self.test_only, self.older_than_days, self.delete, self.max_actions)

    def as_params(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Progress:
    """A progress report for long runs: ``phase`` is 'listing' or 'acting'."""

    phase: str
    done: int
    total: int | None
    message: str


ProgressCallback = Callable[[Progress], None]


@dataclass
class CleanupContext:
    """What a run needs from the outside world, built once by its caller (CLI or task)."""

    api: SentryApi
    database: Database
    redis_client: redis.Redis | None
    lock_ttl_s: int
    production_environments: Sequence[str]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class CleanupReport:
    """The outcome of one run, as the CLI, the task and the Telegram summary present it."""

    run_id: int
    run_key: str
    organization: str
    project: str
    request: CleanupRequest
    status: str
    decisions: list[Decision]
    counts: dict[str, Any]
    api: ApiStats
    duration_s: float
    error: str | None = None
    states: dict[str, str] = field(default_factory=dict)  # issue id -> audit state, for acting runs
    cause: BaseException | None = field(default=None, repr=False, compare=False)  # what failed, for Sentry

    @property
    def failed(self) -> bool:
        return self.status not in (audit.DONE, audit.PREVIEW)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_key": self.run_key,
            "organization": self.organization,
            "project": self.project,
            "request": self.request.as_params(),
            "status": self.status,
            "dry_run": not self.request.execute,
            "error": self.error,
            "counts": self.counts,
            "api": self.api.as_dict(),
            "duration_s": round(self.duration_s, 3),
            "issues": [
                {
                    "id": d.issue.id,
                    "title": d.issue.title,
                    "status": d.issue.status,
                    "last_seen": d.issue.last_seen.isoformat() if d.issue.last_seen else None,
                    "num_comments": d.issue.num_comments,
                    "test_issue": d.issue.is_test,
                    "action": d.action.value if d.action else None,
                    "protected_by": d.protected_by.value if d.protected_by else None,
                    "state": self.states.get(d.issue.id),
                }
                for d in self.decisions
            ],
        }


def _counts(decisions: Sequence[Decision], listed: int, states: dict[str, str], api: ApiStats) -> dict[str, Any]:
    protected = Counter(str(d.protected_by) for d in decisions if d.protected_by)
    state_counts = Counter(states.values())
    return {
        "listed": listed,
        "found": len(decisions),
        "to_act": sum(1 for d in decisions if d.acts),
        "protected": dict(sorted(protected.items())),
        # Planned, but changed in Sentry before the run acted (re-read right before each call).
        "skipped_on_recheck": sum(1 for d in decisions if d.acts and states.get(d.issue.id) == audit.SKIPPED),
        **{
            state: state_counts.get(state, 0)
            for state in (audit.ACTION_DONE, audit.ACTION_FAILED, audit.UNKNOWN, audit.NOT_ATTEMPTED, audit.PLANNED)
        },
        "api_calls": api.requests,
    }


class _Executor:
    """Acts on the planned decisions chunk by chunk, keeping the audit one step ahead of Sentry.

    Right before each chunk's call it reads those issues again by id and re-runs the policy on what Sentry
    says now: a listing can be minutes old, and an issue that got a comment, regressed, was deleted or was
    seen again meanwhile is skipped (and the skip audited) instead of acted on. What remains is the
    milliseconds between that read and the call, which no Sentry API can close.
    """

    def __init__(
        self,
        ctx: CleanupContext,
        run_id: int,
        lock: ProjectLock,
        progress: ProgressCallback | None,
        criteria: Criteria,
    ) -> None:
        self.ctx, self.run_id, self.lock, self.progress, self.criteria = ctx, run_id, lock, progress, criteria
        self.states: dict[str, str] = {}
        self.rechecked: dict[str, Protection] = {}  # issue id -> why it was skipped when looked at again
        self.error: str | None = None
        self.cause: SentryApiError | None = None

    def _mark(self, ids: Sequence[str], state: str, error: str | None = None) -> None:
        audit.mark_actions(self.ctx.database, self.run_id, ids, state, error)
        self.states.update(dict.fromkeys(ids, state))

    def _recheck(self, chunk: Sequence[str], planned: dict[str, Decision]) -> list[str]:
        """The ids of ``chunk`` the policy still acts on, by Sentry's facts now; the others audited as skipped."""
        fresh = self.ctx.api.issues_by_id(chunk)
        now = self.ctx.clock()
        still: list[str] = []
        skipped: dict[str, Protection] = {}
        for issue_id in chunk:
            current = fresh.get(issue_id)
            if current is None:
                skipped[issue_id] = Protection.GONE
                continue
            listed = planned[issue_id].issue
            # The tag and production facts came from searches, and an event can only add to them: a new
            # production event regresses a resolved issue, which the status check below catches.
            facts = facts_from_api(current, tagged_test=listed.tagged_test, in_production=listed.in_production)
            decision = decide(facts, self.criteria, now)
            if decision is None:
                skipped[issue_id] = Protection.NO_LONGER_SELECTED
            elif decision.protected_by is not None:
                skipped[issue_id] = decision.protected_by
            else:
                still.append(issue_id)
        if skipped:
            audit.mark_skipped(self.ctx.database, self.run_id, {i: f"recheck:{rule}" for i, rule in skipped.items()})
            self.states.update(dict.fromkeys(skipped, audit.SKIPPED))
            self.rechecked.update(skipped)
            log.info("Sentry cleanup run %s: %d issues changed since listing, left alone", self.run_id, len(skipped))
        return still

    def run(self, acting: Sequence[Decision], action: Action) -> None:
        planned = {d.issue.id: d for d in acting}
        ids = list(planned)
        self.states.update(dict.fromkeys(ids, audit.PLANNED))
        call = self.ctx.api.delete_issues if action is Action.DELETE else self.ctx.api.resolve_issues
        chunks = [ids[i : i + BULK_CHUNK_SIZE] for i in range(0, len(ids), BULK_CHUNK_SIZE)]
        position, calling = 0, False
        try:
            for position, chunk in enumerate(chunks):
                self.lock.check()  # raises LockLost before acting without the lock
                if self.progress:
                    self.progress(Progress("checking", position * BULK_CHUNK_SIZE, len(ids), "checking again"))
                try:
                    targets = self._recheck(chunk, planned)
                    self.lock.check()
                    calling = True
                    if targets:
                        call(targets)
                except SentryApiError as exc:
                    self.error, self.cause = str(exc), exc
                    pending = [i for i in chunk if self.states.get(i) == audit.PLANNED]
                    outcome = (
                        audit.NOT_ATTEMPTED
                        if not calling
                        else (audit.ACTION_FAILED if exc.outcome_known else audit.UNKNOWN)
                    )
                    self._mark(pending, outcome, self.error)
                    self._mark([i for c in chunks[position + 1 :] for i in c], audit.NOT_ATTEMPTED)
                    # WARNING, not ERROR: the caller reports the failed run (the task raises CleanupFailed,
                    # which Sentry records); an ERROR log here would become a second Sentry event.
                    log.warning("Sentry cleanup run %s stopped: %s", self.run_id, exc)
                    return
                self._mark(targets, audit.ACTION_DONE)
                calling = False  # not in a `finally`: an exception escaping the call must find it True
                done = sum(len(c) for c in chunks[: position + 1])
                message = f"{action.value}d {done}/{len(ids)} issues"
                log.info("Sentry cleanup run %s: %s", self.run_id, message)
                if self.progress:
                    self.progress(Progress("acting", done, len(ids), message))
        except BaseException as exc:
            # Interrupted (time limit, lost lock, Ctrl-C): a chunk whose call was in flight may have been
            # applied; the chunks after it were not attempted. Record exactly that, then let it propagate.
            self.error = f"interrupted: {type(exc).__name__}: {exc}"
            pending = [i for c in chunks[position:] for i in c if self.states.get(i) == audit.PLANNED]
            in_flight = set(chunks[position]) if calling else set()
            self._mark([i for i in pending if i in in_flight], audit.UNKNOWN, self.error)
            self._mark([i for i in pending if i not in in_flight], audit.NOT_ATTEMPTED, self.error)
            raise


def run_cleanup(
    request: CleanupRequest,
    ctx: CleanupContext,
    *,
    run_key: str,
    trigger: str,
    progress: ProgressCallback | None = None,
    lock_owner: str | None = None,
) -> CleanupReport:
    """Run one cleanup; LockHeld if another run is acting on the project (the refusal is audited too).

    ``lock_owner`` (default ``run_key``) labels the project lock. A task passes its stable task id, so a
    redelivered attempt (``<id>#2``) takes the lock over from its own dead predecessor instead of being
    refused by it for the lock's TTL.
    """
    criteria = request.criteria()
    started = time.monotonic()
    stats_before = ctx.api.stats.copy()
    org, project = ctx.api.organization, ctx.api.project
    run_id = audit.start_run(
        ctx.database,
        run_key=run_key,
        trigger=trigger,
        organization=org,
        project=project,
        params=request.as_params(),
        execute=request.execute,
    )
    lock: ProjectLock | None = None
    decisions: list[Decision] = []
    listed = 0
    executor: _Executor | None = None

    def finish(status: str, error: str | None = None, cause: BaseException | None = None) -> CleanupReport:
        api = ctx.api.stats.since(stats_before)
        states = executor.states if executor else {}
        counts = _counts(decisions, listed, states, api)
        audit.finish_run(ctx.database, run_id, status, counts, error)
        report = CleanupReport(
            run_id, run_key, org, project, request, status, decisions, counts, api, time.monotonic() - started, error
        )
        report.states = dict(states)
        report.cause = cause
        return report

    keep_alive = contextlib.ExitStack()
    try:
        if request.execute:
            if ctx.redis_client is None:
                raise RuntimeError("an acting cleanup needs Redis for its project lock (REDIS_URL)")
            key = lock_key(ctx.api.host, org, project)
            lock = ProjectLock(ctx.redis_client, key, ctx.lock_ttl_s, lock_owner or run_key)
            lock.acquire()
            keep_alive.enter_context(lock.keep_alive())
            if lock.took_over:
                log.warning("Sentry cleanup %s took over the lock %s left by its previous attempt", run_key, key)
            audit.mark_abandoned_runs(ctx.database, org, project, run_id)

        def listing_progress(search: str, found: int) -> None:
            if lock is not None:
                lock.refresh()
            if progress:
                progress(Progress("listing", found, None, f"search {search!r}: {found} issues"))

        listing = gather(
            ctx.api,
            criteria,
            environment=request.environment,
            production_environments=ctx.production_environments,
            progress=listing_progress,
        )
        listed = listing.listed
        decisions = plan(listing.facts, criteria, ctx.clock())
        if not request.execute or lock is None:
            return finish(audit.PREVIEW)

        audit.record_plan(ctx.database, run_id, decisions, listing.snapshots)
        acting = [d for d in decisions if d.acts]
        executor = _Executor(ctx, run_id, lock, progress, criteria)
        if acting:  # an empty selection makes no mutating call at all
            executor.run(acting, criteria.action)
        return finish(audit.FAILED if executor.error else audit.DONE, executor.error, executor.cause)
    except LockHeld as exc:
        finish(audit.REFUSED, str(exc))
        raise
    except SentryApiError as exc:  # while listing: nothing was changed
        return finish(audit.FAILED, str(exc), exc)
    except BaseException as exc:
        finish(audit.INTERRUPTED, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        keep_alive.close()
        if lock is not None:
            lock.release()
