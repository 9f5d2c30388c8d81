"""The minute's upkeep (queue `default`, beat every minute): the Telegram outbox and abandoned scans."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from common.contract import UpkeepTask
from worker.app import BaseTask, app
from worker.arbitrage.janitor import end_abandoned_scans
from worker.telegram import outbox
from worker.telegram.sender import TelegramNotConfigured

log = logging.getLogger(__name__)


# Not acks_late: a lost run is redone by the next minute's; the work is idempotent (rows are leased).
@app.task(name=UpkeepTask.NAME, bind=True, acks_late=False, soft_time_limit=50, time_limit=58)
def upkeep(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    UpkeepTask.from_kwargs(kwargs)
    resources = self.resources
    result: dict[str, Any] = {"abandoned_scans": end_abandoned_scans(resources)}
    try:
        sender = resources.telegram()
    except TelegramNotConfigured:
        return result
    drained = outbox.drain(sender, resources.database)
    result["outbox"] = asdict(drained)
    if drained.sent or drained.refused or drained.expired:
        log.info("Telegram outbox: %s", result["outbox"])
    return result
