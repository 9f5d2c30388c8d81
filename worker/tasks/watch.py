"""Watch subscriptions: the command (queue `default`), the beat's fan-out and the band sweeps (`maintenance`).

Thin adapters over worker.watch: the command edits the bot's "queued" reply with its answer; the beat task
(a Crons monitor, every minute) queues one sweep per watched band whose period is due; a band sweep scans at
background priority (worker/dmarket/client.py Budgets) and tells every subscriber once.
"""

from __future__ import annotations

import logging
from typing import Any

from common.contract import WatchBandTask, WatchCommandTask, WatchSweepTask
from worker.app import BaseTask, app
from worker.arbitrage.messages import percent
from worker.telegram import outbox
from worker.telegram.sender import TelegramNotConfigured
from worker.watch import messages, subscriptions
from worker.watch.sweep import due_bands, sweep_band

log = logging.getLogger(__name__)


@app.task(
    bind=True, name=WatchCommandTask.NAME, acks_late=True, reject_on_worker_lost=True, soft_time_limit=30, time_limit=40
)
def watch_command(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Add, list or remove a subscription and put the answer into the user's "queued" message."""
    call = WatchCommandTask.from_kwargs(kwargs)
    resources = self.resources
    settings = resources.settings
    lang = settings.bot_language
    database = resources.database
    status: str
    if call.action == "add":
        assert call.game is not None  # the contract checked both
        assert call.level is not None
        threshold = settings.arbitrage_min_profit_bp(call.level) if call.min_profit_bp is None else call.min_profit_bp
        added = subscriptions.add(
            database, call.user_id, call.chat_id, call.game, call.level, threshold, settings.watch_max_per_user
        )
        status = added.status
        if added.subscription is None:
            answer = messages.text(lang, "cap", count=added.count)
        else:
            sub = added.subscription
            answer = messages.text(
                lang,
                status,
                n=sub.n,
                game=sub.game,
                level=sub.level,
                min_profit=percent(sub.min_profit_bp, lang),
                period=settings.watch_period_min,
            )
    elif call.action == "remove":
        assert call.index is not None
        removed, count = subscriptions.remove(database, call.user_id, call.index)
        status = "removed" if removed is not None else "no_such"
        if removed is None:
            answer = messages.text(lang, "no_such", n=call.index, count=count)
        else:
            answer = messages.text(lang, "removed", n=call.index, game=removed.game, level=removed.level)
    else:
        listed = subscriptions.of_user(database, call.user_id)
        status = "listed"
        if not listed:
            answer = messages.text(lang, "list_empty")
        else:
            lines = [
                messages.text(
                    lang, "list_line", n=s.n, game=s.game, level=s.level, min_profit=percent(s.min_profit_bp, lang)
                )
                for s in listed
            ]
            answer = "\n".join([messages.text(lang, "list_header"), *lines])
    try:
        sender = resources.telegram()
    except TelegramNotConfigured:
        return {"status": status}
    key = f"watch:command:{self.request.id}"
    outbox.deliver(sender, database, key, call.chat_id, answer, call.message_id)
    return {"status": status}


@app.task(bind=True, name=WatchSweepTask.NAME, acks_late=False, soft_time_limit=50, time_limit=58)
def watch_sweep(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Queue a sweep of every watched band whose period is due (a duplicate is refused by the sweep itself)."""
    WatchSweepTask.from_kwargs(kwargs)
    due = due_bands(self.resources)
    for game, level, period in due:
        call = WatchBandTask(game, level, period)
        watch_sweep_band.apply_async(kwargs=call.kwargs(), queue=WatchBandTask.QUEUE)
    return {"queued": [f"{g}:{lv}:{p}" for g, lv, p in due]}


# A band sweep reads the band and values it at background priority: minutes at worst, well inside the
# maintenance pool's 35-minute visibility timeout.
@app.task(
    bind=True,
    name=WatchBandTask.NAME,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=20 * 60,
    time_limit=25 * 60,
)
def watch_sweep_band(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Sweep one band for one period and tell its subscribers."""
    call = WatchBandTask.from_kwargs(kwargs)
    outcome = sweep_band(self.resources, call.game, call.level, call.period)
    return {
        "sweep_key": outcome.sweep_key,
        "status": outcome.status,
        "opportunities": outcome.opportunities,
        "notified": {str(k): v for k, v in outcome.notified.items()},
    }
