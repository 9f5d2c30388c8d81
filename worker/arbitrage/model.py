"""The plain values a scan passes between its steps: the request, what the market gave, the outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from common.contract import ScanTask
from common.i18n import Language
from worker.arbitrage.engine import Opportunity
from worker.dmarket.models import RequestStats


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """What the bot asked for, and the task that runs it. ``message_id``: the "queued" message to edit."""

    task_id: str
    user_id: int
    chat_id: int
    message_id: int | None
    game: str
    level: str
    method: str = "valuation"
    language: Language | None = None  # the user's reply language; None: BOT_LANGUAGE

    def __post_init__(self) -> None:
        if not self.task_id:
            raise ValueError("task_id must be the Celery task id, got an empty string")

    def reply_language(self, default: Language) -> Language:
        """The language to write to this user in: theirs when the bot sent it, else ``default`` (BOT_LANGUAGE)."""
        return self.language or default

    @classmethod
    def of(cls, task_id: str, call: ScanTask) -> ScanRequest:
        return cls(
            task_id, call.user_id, call.chat_id, call.message_id, call.game, call.level, call.method, call.language
        )


@dataclass
class MarketScan:
    """What reading the market found, before anything is stored."""

    opportunities: list[Opportunity] = field(default_factory=list)
    pages: int = 0
    items_seen: int = 0
    capped: bool = False  # stopped at the page cap with more of the range left
    stats: RequestStats = field(default_factory=RequestStats)
    method: str = "valuation"  # or "suggested": DMarket's estimate, only when the user asked for it
    candidates: int = 0  # offers the suggestedPrice pre-filter passed on to the valuation
    valued_titles: int = 0  # titles looked up (buy orders; recent sales where the instant flip fell short)
    unvalued_titles: int = 0  # candidate titles beyond ARBITRAGE_MAX_VALUED_TITLES, not looked up


@dataclass(frozen=True)
class ScanOutcome:
    """The task's result (JSON-serialisable through ``as_dict``)."""

    scan_id: int | None  # None: the database failed before the scan could be recorded
    status: str  # completed | failed
    pages: int
    items_seen: int
    opportunities: int
    capped: bool = False
    skipped_listings: int = 0
    requests: int = 0
    rate_limited: int = 0
    valued_titles: int = 0
    skipped_valuations: int = 0  # aggregated-price entries and sales DMarket sent malformed
    failure: str | None = None  # a messages failure kind
    sentry_event_id: str | None = None
    error: str | None = None  # a failed scan: "<kind>: <exception type>: <message>"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
