"""Watch subscriptions end to end: a real prefork worker, the DMarket and Telegram sandboxes, Redis, the database."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select, update

from common.contract import ScanTask, WatchBandTask, WatchCommandTask, WatchSweepTask
from common.db.database import Database
from common.db.models import WatchNotification, WatchSweep, utcnow
from common.markets import GAME_IDS, LEVELS
from common.settings import Settings
from tests.conftest import WorkerProcess
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.bot import running_bot
from tests.support.settings import make_settings
from tests.support.tasks import app as celery_app  # noqa: F401 - configures the app before the tasks import
from tests.support.waiting import wait_until
from worker.resources import rate_limit_key
from worker.tasks.arbitrage import arbitrage_scan
from worker.tasks.watch import watch_command, watch_sweep, watch_sweep_band
from worker.watch import subscriptions
from worker.watch.sweep import period_of

BASE = 7_000_000 + os.getpid() % 1_000_000 * 10
USERS = (BASE + 1, BASE + 2, BASE + 3)
TIMEOUT_S = 60


@pytest.fixture
def watch_env(
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
    redis_client: redis.Redis,
    sqlite_database_url: str,
) -> Settings:
    key = rate_limit_key(dmarket_sandbox.public_key_hex)
    redis_client.delete(key, *redis_client.scan_iter(f"{key}:*"), *redis_client.scan_iter("arbitrage:valuation:*"))
    for user in USERS:  # each subscriber has talked to the bot, so it may write to them
        telegram_sandbox.client.send_message(user, user, "/start")
    return make_settings(
        dmarket_api_url=dmarket_sandbox.url,
        dmarket_public_key=dmarket_sandbox.public_key_hex,
        dmarket_secret_key=dmarket_sandbox.secret_key_hex,
        telegram_bot_token=telegram_sandbox.token,
        telegram_api_base_url=telegram_sandbox.url,
        database_url=sqlite_database_url,
        bot_language="ru",
    )


def notifications(telegram: TelegramSandbox, user: int) -> list[dict[str, Any]]:
    return [m for m in telegram.client.bot_messages(user) if str(m["text"]).startswith("🔔")]


def band_requests(sandbox: DMarketSandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.client.requests() if r["endpoint"] == "market_items"]


def test_watch_commands_add_list_update_cap_and_remove(
    worker_process: Callable[..., WorkerProcess], watch_env: Settings, telegram_sandbox: TelegramSandbox
) -> None:
    worker_process(concurrency=1, settings=watch_env.model_copy(update={"watch_max_per_user": 2}))
    user = USERS[0]

    def command(**fields: Any) -> str:
        call = WatchCommandTask(user, user, None, **fields)  # no "queued" reply to edit: the answer is sent anew
        return str(watch_command.apply_async(kwargs=call.kwargs()).get(timeout=TIMEOUT_S)["status"])

    assert command(action="list") == "listed"
    assert command(action="add", game="dota2", level="pro", min_profit_bp=500) == "added"
    assert command(action="add", game="dota2", level="pro", min_profit_bp=700) == "updated"
    assert command(action="add", game="csgo", level="boost") == "added"
    assert command(action="add", game="rust", level="medium") == "cap"
    assert command(action="remove", index=3) == "no_such"
    assert command(action="remove", index=1) == "removed"
    texts = [m["text"] for m in telegram_sandbox.client.bot_messages(user)]
    assert texts[0].startswith("Подписок нет")
    assert texts[1].startswith("👀 Подписка #1: dota2/pro, прибыль от 5\u00a0%")
    assert "обновлена: прибыль от 7\u00a0%" in texts[2]
    assert "csgo/boost, прибыль от 10\u00a0%" in texts[3]  # the level's own threshold by default
    assert texts[4].startswith("⚠️ Уже 2 подписок")
    assert texts[5].startswith("⚠️ Подписки #3 нет")
    assert texts[6] == "🗑 Подписка #1 на dota2/pro удалена."


def test_one_sweep_per_band_serves_three_subscribers_once_and_redelivery_or_the_next_period_adds_nothing(
    worker_process: Callable[..., WorkerProcess],
    watch_env: Settings,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    database = Database(watch_env.database_url)
    thresholds = (300, 300, 2_000)  # the third subscriber wants 20 %: fewer deals
    for user, bp in zip(USERS, thresholds, strict=True):
        subscriptions.add(database, user, user, "dota2", "pro", bp, cap=5)
    worker_process(concurrency=2, settings=watch_env)

    queued = watch_sweep.apply_async(kwargs=WatchSweepTask().kwargs()).get(timeout=TIMEOUT_S)["queued"]
    period = period_of(utcnow().timestamp(), watch_env.watch_period_min)
    assert queued in ([f"dota2:pro:{period}"], [f"dota2:pro:{period - 1}"])  # the one watched band, once
    key = queued[0]

    def swept() -> bool:
        with database.session() as session:
            return session.scalar(select(WatchSweep.status).where(WatchSweep.sweep_key == key)) == "done"

    wait_until(swept, timeout_s=TIMEOUT_S, what="the band's sweep")
    wait_until(lambda: all(notifications(telegram_sandbox, u) for u in USERS[:2]), timeout_s=10, what="messages")

    # One scan served all three: the band's pages were read once.
    in_band = [i for i in dmarket_sandbox.market[GAME_IDS["dota2"]] if LEVELS["pro"].contains(i.price_cents)]
    assert len(band_requests(dmarket_sandbox)) == math.ceil(len(in_band) / 100)
    told = {u: len(notifications(telegram_sandbox, u)) for u in USERS}
    assert told[USERS[0]] == told[USERS[1]] == 1  # one grouped message each
    first = notifications(telegram_sandbox, USERS[0])[0]["text"]
    assert "🔔 <b>dota2/pro</b>" in first or "dota2/pro" in first
    assert "продажа в заявку" in first or "медиана" in first
    with database.session() as session:
        per_user = dict(
            session.execute(select(WatchNotification.user_id, func.count()).group_by(WatchNotification.user_id)).all()
        )
        high = session.scalars(select(WatchNotification.profit_bp).where(WatchNotification.user_id == USERS[2])).all()
    assert per_user[USERS[0]] == per_user[USERS[1]] > per_user.get(USERS[2], 0)
    assert all(bp >= 2_000 for bp in high)

    # The same period again (a duplicate send): nothing is scanned, nothing sent.
    game, level, number = key.split(":")
    again = watch_sweep_band.apply_async(kwargs=WatchBandTask(game, level, int(number)).kwargs()).get(timeout=TIMEOUT_S)
    assert again["status"] == "skipped"

    # A redelivery of the sweep after its worker died (the row left running): same messages, edited, none new.
    with database.session() as session:
        session.execute(
            update(WatchSweep)
            .where(WatchSweep.sweep_key == key)
            .values(status="running", started_at=utcnow() - timedelta(hours=1))
        )
    redone = watch_sweep_band.apply_async(kwargs=WatchBandTask(game, level, int(number)).kwargs()).get(
        timeout=TIMEOUT_S
    )
    assert redone["status"] == "done"
    assert {u: len(notifications(telegram_sandbox, u)) for u in USERS} == told
    with database.session() as session:
        assert (
            dict(
                session.execute(
                    select(WatchNotification.user_id, func.count()).group_by(WatchNotification.user_id)
                ).all()
            )
            == per_user
        )

    # The next period: the same deals are within the cooldown, so nobody hears of them again.
    following = watch_sweep_band.apply_async(kwargs=WatchBandTask(game, level, int(number) + 1).kwargs()).get(
        timeout=TIMEOUT_S
    )
    assert following["status"] == "done"
    assert following["notified"] == {}
    assert {u: len(notifications(telegram_sandbox, u)) for u in USERS} == told
    database.dispose()


def test_the_watch_commands_through_the_bot_edit_its_one_moment_reply(
    worker_thread: None,
    worker_resources: Callable[[Settings], object],
    watch_env: Settings,
    telegram_sandbox: TelegramSandbox,
) -> None:
    worker_resources(watch_env)
    user = USERS[1]

    def answer(command: str, marker: str) -> str:
        telegram_sandbox.client.send_message(user, user, command)
        [message] = telegram_sandbox.client.wait_for_bot_messages(
            user, 1, TIMEOUT_S, predicate=lambda m: str(m["text"]).startswith(marker)
        )
        assert any(v["text"] == "⏳ Секунду…" for v in message["history"])  # the bot answered at once
        return str(message["text"])

    with running_bot(watch_env):
        added = answer("/watch dota2 pro 4.5", "👀 Подписка #1")
        assert added.endswith("прибыль от 4,5\u00a0%. Проверяю каждые 10 мин.")
        assert "1. dota2/pro, прибыль от 4,5\u00a0%" in answer("/watch", "👀 Ваши подписки")
        assert answer("/unwatch 1", "🗑") == "🗑 Подписка #1 на dota2/pro удалена."
        telegram_sandbox.client.send_message(user, user, "/watch dota2 pro lots")
        [usage_reply] = telegram_sandbox.client.wait_for_bot_messages(
            user, 1, TIMEOUT_S, predicate=lambda m: "Использование: /watch" in str(m["text"])
        )
        assert "«lots»" in usage_reply["text"]


def test_an_interactive_scan_during_sweeps_keeps_at_least_half_of_every_budget(
    worker_process: Callable[..., WorkerProcess],
    watch_env: Settings,
    dmarket_sandbox: DMarketSandbox,
    redis_client: redis.Redis,
) -> None:
    database = Database(watch_env.database_url)
    for game in ("csgo", "rust"):
        subscriptions.add(database, USERS[0], USERS[0], game, "pro", 300, cap=5)
    database.dispose()
    worker_process(concurrency=3, settings=watch_env)

    def interactive() -> float:
        redis_client.delete(*redis_client.scan_iter("arbitrage:valuation:*"), "arbitrage:valuation:none")
        call = ScanTask(USERS[2], USERS[2], None, "dota2", "pro")
        started = time.monotonic()
        assert arbitrage_scan.apply_async(kwargs=call.kwargs()).get(timeout=TIMEOUT_S)["status"] == "completed"
        return time.monotonic() - started

    alone_s = interactive()
    sweeps = [watch_sweep_band.apply_async(kwargs=WatchBandTask(game, "pro", 1).kwargs()) for game in ("csgo", "rust")]
    wait_until(
        lambda: any(r["endpoint"] == "last_sales" for r in dmarket_sandbox.client.requests()),
        timeout_s=TIMEOUT_S,
        what="the sweeps to reach their valuation",
    )
    crowded_s = interactive()
    assert all(s.get(timeout=TIMEOUT_S)["status"] == "done" for s in sweeps)
    # Sweeps hold at most half of each budget (the gates): the scan may take up to about twice as long, not
    # the three times that an equal share among three scans would give. Slack for a loaded machine.
    assert crowded_s <= 2 * alone_s + 3.0, (alone_s, crowded_s)
