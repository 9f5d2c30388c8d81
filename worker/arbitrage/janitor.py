"""End scans nobody will finish: a row still `running` long after any worker could still be on it.

Every way a scan can stop without ending (its worker killed and the message lost with Redis, a database that
was down when the failure was to be recorded) leaves the row `running` and the user at "scanning…". No live
scan can be that old: a run ends within the hard time limit (4.5 min), a dead worker's message is handed out
again within the interactive visibility timeout (6 min), and database retries add at most 2.6 min. After
STALE_AFTER the scan is ended as `interrupted`: one Sentry event, the failure text in the user's message, the
slot released. Taking the row is one conditional UPDATE, so two janitors, or a run that resumes at that
moment, cannot both end it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from common.db.models import Scan, utcnow
from worker.arbitrage import store
from worker.arbitrage.model import ScanRequest
from worker.arbitrage.workflow import Attempt, ScanInterrupted, fail_scan, release_slot
from worker.resources import Resources

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=20)
BATCH = 50


def end_abandoned_scans(resources: Resources, now: datetime | None = None) -> int:
    """End every abandoned scan (see the module); how many were ended."""
    now = now or utcnow()
    database = resources.database
    with database.session() as session:
        stale = session.scalars(
            select(Scan)
            .where(Scan.status == store.RUNNING, Scan.started_at < now - STALE_AFTER)
            .order_by(Scan.started_at)
            .limit(BATCH)
        ).all()
        found = [(s.id, s.started_at, s.task_id, s.user_id, s.chat_id, s.message_id, s.game, s.level) for s in stale]
    ended = 0
    for scan_id, started_at, task_id, user_id, chat_id, message_id, game, level in found:
        with database.session() as session:
            taken = session.execute(
                update(Scan)
                .where(Scan.id == scan_id, Scan.status == store.RUNNING, Scan.started_at == started_at)
                .values(status=store.FAILED, failure="interrupted", finished_at=now)
            )
            if not cast("CursorResult[Any]", taken).rowcount:
                continue  # resumed or ended by someone else meanwhile
        request = ScanRequest(task_id, user_id, chat_id, message_id, game, level)
        age = f"{(now - started_at).total_seconds() / 60:.0f} minutes" if started_at else "long"
        error = ScanInterrupted(f"scan {scan_id} was still running {age} after it started; no worker finished it")
        fail_scan(resources, request, Attempt(scan_id), error)
        release_slot(resources.redis, request)
        log.warning("Ended abandoned scan %s (task %s) of user %s", scan_id, task_id, user_id)
        ended += 1
    return ended
