"""The part of /status only a worker can see: which workers answer, what they consume and run, recent runs.

The bot asks through a task (``OpsStatusTask``) and waits on a reply list with a short timeout; this side
keeps within it: one remote-control broadcast (``ops_overview``, worker/tasks/system.py) that every live
worker answers with its queues and running tasks, and three small queries.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Celery
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from common.contract import OpsStatusTask
from common.db.database import Database
from common.db.models import CleanupRun, Scan
from worker.telegram.outbox import pending_count

log = logging.getLogger(__name__)

CONTROL_TIMEOUT_S = 0.5
RECENT_SCANS = 3
RECENT_CLEANUPS = 3


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def workers_view(app: Celery, timeout_s: float = CONTROL_TIMEOUT_S) -> dict[str, Any]:
    """Every worker that answers within ``timeout_s``: its queues and the tasks it runs now (not this one)."""
    replies = app.control.broadcast("ops_overview", reply=True, timeout=timeout_s) or []
    overview = {name: answer for reply in replies for name, answer in reply.items() if isinstance(answer, dict)}
    workers = [{"name": name, "queues": overview[name].get("queues") or []} for name in sorted(overview)]
    running = [
        {"worker": name, "task": str(task.get("task")), "started": task.get("started")}
        for name in sorted(overview)
        for task in overview[name].get("running") or ()
        if task.get("task") != OpsStatusTask.NAME
    ]
    return {"workers": workers, "running": running}


def recent_runs(database: Database) -> dict[str, Any]:
    """The last scans and cleanup runs with their outcome, and what waits in the Telegram outbox."""
    try:
        with database.session() as session:
            scans = session.scalars(select(Scan).order_by(Scan.created_at.desc(), Scan.id.desc()).limit(RECENT_SCANS))
            scan_rows = [
                {
                    "id": scan.id,
                    "game": scan.game,
                    "level": scan.level,
                    "status": scan.status,
                    "failure": scan.failure,
                    "opportunities": scan.opportunities_found,
                    "at": _iso(scan.finished_at or scan.started_at or scan.created_at),
                }
                for scan in scans
            ]
            runs = session.scalars(
                select(CleanupRun).order_by(CleanupRun.started_at.desc(), CleanupRun.id.desc()).limit(RECENT_CLEANUPS)
            )
            cleanup_rows = [
                {
                    "id": run.id,
                    "trigger": run.trigger,
                    "status": run.status,
                    "execute": run.execute,
                    "params": {
                        k: v for k, v in (run.params or {}).items() if k in ("test_only", "older_than_days", "delete")
                    },
                    "at": _iso(run.finished_at or run.started_at),
                }
                for run in runs
            ]
        outbox = pending_count(database)
    except SQLAlchemyError as exc:
        log.warning("/status could not read the database: %r", exc)
        return {"database_error": type(exc).__name__}
    return {"scans": scan_rows, "cleanups": cleanup_rows, "outbox_pending": outbox}
