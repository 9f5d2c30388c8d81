"""The cleanup audit in the database: every run, and every action before and after its API call.

States of an action: ``planned`` (written before the call), then ``done``, ``failed`` (Sentry refused
it), ``unknown`` (no answer: it may have been applied), ``not_attempted`` (the run stopped first), or
``skipped`` (a protected issue, with the rule in ``reason``). A run killed mid-call leaves ``planned``
rows behind, which is the truth: the outcome of that call was never seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, inspect, select, update

from common.db.database import Database
from common.db.models import CleanupAction, CleanupRun, utcnow
from worker.cleanup.policy import Decision

RUNNING, DONE, FAILED, INTERRUPTED, PREVIEW, REFUSED = "running", "done", "failed", "interrupted", "preview", "refused"
PLANNED, ACTION_DONE, ACTION_FAILED, UNKNOWN, NOT_ATTEMPTED, SKIPPED = (
    "planned",
    "done",
    "failed",
    "unknown",
    "not_attempted",
    "skipped",
)
SKIP = "skip"
# Protected issues keep a short snapshot; acted-on issues the whole JSON, so a deleted one is not lost.
_SHORT_SNAPSHOT_KEYS = ("id", "shortId", "title", "status", "lastSeen", "numComments", "permalink")


class AuditUnavailable(RuntimeError):
    """The audit tables are missing: the database was never migrated."""


@dataclass(frozen=True)
class RunRecord:
    id: int
    run_key: str
    trigger: str
    organization: str
    project: str
    params: dict[str, Any]
    execute: bool
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def _record(run: CleanupRun) -> RunRecord:
    return RunRecord(
        run.id,
        run.run_key,
        run.trigger,
        run.organization,
        run.project,
        dict(run.params),
        run.execute,
        run.status,
        run.started_at,
        run.finished_at,
        dict(run.counts),
        run.error,
    )


def ensure_schema(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    if not {"cleanup_runs", "cleanup_actions"} <= tables:
        raise AuditUnavailable(
            "the cleanup audit tables do not exist in DATABASE_URL (the database is not migrated); "
            "run `make migrate` (or `python -m common.db.migrate upgrade`) first"
        )


def _attempts_of(run_key: str) -> ColumnElement[bool]:
    """``run_key`` and its redelivered attempts ``run_key#n`` (LIKE wildcards in the key escaped)."""
    escaped = run_key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return (CleanupRun.run_key == run_key) | CleanupRun.run_key.like(f"{escaped}#%", escape="\\")


def find_run(database: Database, run_key: str) -> RunRecord | None:
    """The latest attempt of ``run_key`` (``run_key`` itself or ``run_key#n``), or None."""
    with database.session() as session:
        run = session.scalar(select(CleanupRun).where(_attempts_of(run_key)).order_by(CleanupRun.id.desc()).limit(1))
        return _record(run) if run else None


def next_attempt_key(database: Database, run_key: str) -> str:
    """``run_key`` itself, or ``run_key#n`` for the n-th attempt of a redelivered task."""
    with database.session() as session:
        taken = session.scalar(select(func.count()).select_from(CleanupRun).where(_attempts_of(run_key)))
    return run_key if not taken else f"{run_key}#{int(taken) + 1}"


def start_run(
    database: Database,
    *,
    run_key: str,
    trigger: str,
    organization: str,
    project: str,
    params: dict[str, Any],
    execute: bool,
) -> int:
    with database.session() as session:
        run = CleanupRun(
            run_key=run_key,
            trigger=trigger,
            organization=organization,
            project=project,
            params=params,
            execute=execute,
            status=RUNNING,
            counts={},
        )
        session.add(run)
        session.flush()
        return run.id


def mark_abandoned_runs(database: Database, organization: str, project: str, current_run_id: int) -> int:
    """Runs of this project still 'running' while we hold its lock died without finishing: say so."""
    with database.session() as session:
        result = session.execute(
            update(CleanupRun)
            .where(
                CleanupRun.organization == organization,
                CleanupRun.project == project,
                CleanupRun.status == RUNNING,
                CleanupRun.execute.is_(True),
                CleanupRun.id != current_run_id,
            )
            .values(status=INTERRUPTED, finished_at=utcnow(), error="the run stopped without finishing (process lost)")
        )
        return int(getattr(result, "rowcount", 0) or 0)


def record_plan(database: Database, run_id: int, decisions: Sequence[Decision], snapshots: dict[str, Any]) -> None:
    """One row per selected issue, written before any API call: actions 'planned', the others 'skipped'."""
    rows = []
    now = utcnow()
    for decision in decisions:
        issue_id = decision.issue.id
        full = snapshots.get(issue_id, {"id": issue_id})
        rows.append(
            {
                "run_id": run_id,
                "issue_id": issue_id,
                "action": decision.action.value if decision.action else SKIP,
                "state": PLANNED if decision.action else SKIPPED,
                "reason": "" if decision.action else str(decision.protected_by),
                "snapshot": full if decision.action else {k: full.get(k) for k in _SHORT_SNAPSHOT_KEYS if k in full},
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        with database.session() as session:
            session.execute(insert(CleanupAction), rows)


def mark_actions(
    database: Database, run_id: int, issue_ids: Iterable[str], state: str, error: str | None = None
) -> None:
    ids = list(issue_ids)
    if not ids:
        return
    with database.session() as session:
        # Chunked so PostgreSQL and SQLite never see an over-long IN list.
        for start in range(0, len(ids), 500):
            session.execute(
                update(CleanupAction)
                .where(CleanupAction.run_id == run_id, CleanupAction.issue_id.in_(ids[start : start + 500]))
                .values(state=state, error=error, updated_at=utcnow())
            )


def mark_skipped(database: Database, run_id: int, reasons: dict[str, str]) -> None:
    """Planned actions left alone after all (the issue changed before the run acted), each with its reason."""
    if not reasons:
        return
    with database.session() as session:
        for issue_id, reason in reasons.items():
            session.execute(
                update(CleanupAction)
                .where(CleanupAction.run_id == run_id, CleanupAction.issue_id == issue_id)
                .values(state=SKIPPED, reason=reason[:255], updated_at=utcnow())
            )


def finish_run(database: Database, run_id: int, status: str, counts: dict[str, Any], error: str | None = None) -> None:
    with database.session() as session:
        session.execute(
            update(CleanupRun)
            .where(CleanupRun.id == run_id)
            .values(status=status, counts=counts, error=error, finished_at=utcnow())
        )


def recent_runs(database: Database, limit: int = 20) -> list[RunRecord]:
    with database.session() as session:
        runs = session.scalars(select(CleanupRun).order_by(CleanupRun.id.desc()).limit(limit))
        return [_record(run) for run in runs]


def get_run(database: Database, run_id: int) -> RunRecord | None:
    with database.session() as session:
        run = session.get(CleanupRun, run_id)
        return _record(run) if run else None


def action_states(database: Database, run_id: int) -> dict[str, tuple[str, str]]:
    """issue id -> (action, state) for one run."""
    with database.session() as session:
        rows = session.execute(
            select(CleanupAction.issue_id, CleanupAction.action, CleanupAction.state).where(
                CleanupAction.run_id == run_id
            )
        )
        return {issue_id: (action, state) for issue_id, action, state in rows}
