"""Scans valued from buy orders and recent sales, through a real worker and the DMarket sandbox over HTTP,
checked against the sandbox's hidden truth: no fake deal, where the suggestedPrice method reports some."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from common.contract import ScanTask
from common.db.database import Database
from common.db.models import ScanOpportunity
from common.markets import GAME_IDS
from common.settings import Settings
from tests.e2e.test_scans import CHAT, TASK_TIMEOUT_S, USER, post_queued_message, scan_env  # noqa: F401
from tests.plugins.sandbox_dmarket import DMarketSandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from worker.tasks.arbitrage import arbitrage_scan

LEVELS_CHECKED = ("medium", "advanced", "pro")


def run(message_id: int, game: str, level: str, method: str) -> int:
    call = ScanTask(USER, CHAT, message_id, game, level, method)
    result = arbitrage_scan.apply_async(kwargs=call.kwargs(), task_id=str(uuid.uuid4())).get(timeout=TASK_TIMEOUT_S)
    assert result["status"] == "completed"
    return int(result["scan_id"])


def result_text(telegram: TelegramSandbox, message_id: int) -> str:
    def is_result(message: dict[str, Any]) -> bool:
        return message["message_id"] == message_id and str(message["text"]).startswith("✅")

    [message] = telegram.client.wait_for_bot_messages(CHAT, 1, TASK_TIMEOUT_S, is_result)
    return str(message["text"])


def reported(database_url: str, scan_id: int) -> list[ScanOpportunity]:
    database = Database(database_url)
    try:
        with database.session() as session:
            rows = session.scalars(select(ScanOpportunity).where(ScanOpportunity.scan_id == scan_id)).all()
            session.expunge_all()
            return list(rows)
    finally:
        database.dispose()


def test_valued_scans_report_no_fake_deal_where_suggested_price_scans_do(
    worker_thread: None,
    scan_env: Callable[..., Settings],  # noqa: F811
    sqlite_database_url: str,
    dmarket_sandbox: DMarketSandbox,
    telegram_sandbox: TelegramSandbox,
) -> None:
    settings = scan_env(sqlite_database_url)
    dmarket_sandbox.client.configure(rate_limit_rps=0)
    fee_bp = settings.arbitrage_fee_bp("dota2")
    game_id = GAME_IDS["dota2"]
    counts = {"valued": 0, "valued_fake": 0, "suggested": 0, "suggested_fake": 0}
    for level in LEVELS_CHECKED:
        for method in ("valuation", "suggested"):
            message_id = post_queued_message(settings, telegram_sandbox)
            rows = reported(sqlite_database_url, run(message_id, "dota2", level, method))
            # Against the truth, as the sandbox's control API tells it (independent of our model code).
            truths = {r.title: dmarket_sandbox.client.truth(game_id, title=r.title) for r in rows}
            fakes = [
                r for r in rows if truths[r.title]["true_value_cents"] * (10_000 - fee_bp) // 10_000 < r.price_cents
            ]
            prefix = "valued" if method == "valuation" else "suggested"
            counts[prefix] += len(rows)
            counts[f"{prefix}_fake"] += len(fakes)
            text = result_text(telegram_sandbox, message_id)
            if method == "suggested":
                assert {r.basis for r in rows} <= {"suggested"}
                assert "suggestedPrice" in text  # labelled as DMarket's own estimate
            else:
                assert {r.basis for r in rows} <= {"instant", "listing"}
                if rows:
                    assert "продажа в заявку" in text or "медиана" in text
    assert counts["valued"] > 0
    assert counts["valued_fake"] == 0
    assert counts["suggested_fake"] > 0, counts
