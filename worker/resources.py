"""What a worker process holds: one client of each outside service, built once from one Settings, closed at exit.

Tasks get it from their app (``self.resources``) and pass it explicitly to the feature code, the way arq hands
every job its ``ctx``. Tests build one from explicit settings. Optional clients (DMarket, the Sentry Web API,
Telegram) are made on first use, so a worker without DMarket keys still runs every other task, and the error
a task gets names the missing variables.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import TypeVar

from common.db.database import Database
from common.redis_client import sync_client
from common.settings import Settings
from worker.dmarket.client import LAST_SALES, MARKET_ITEMS, OTHER, Budgets, DMarketClient
from worker.dmarket.errors import DMarketNotConfigured
from worker.dmarket.signing import InvalidKeyError, Signer
from worker.ratelimit import SharedRateLimiter
from worker.sentry_api import SentryApi, sentry_api_from_settings
from worker.telegram.flood import FloodControl
from worker.telegram.sender import TelegramNotConfigured, TelegramSender

log = logging.getLogger(__name__)

# A dead Redis must become an error within seconds, not hang a task for its whole time limit.
REDIS_SOCKET_TIMEOUT_S = 5.0

T = TypeVar("T")


RATE_LIMIT_PREFIX = "dmarket:ratelimit:"


def rate_limit_key(public_key_hex: str) -> str:
    """The shared limiter's Redis key for one DMarket API key.

    DMarket counts requests per key, so two keys are two budgets; the key itself is not in the name (it
    identifies the account, and Redis keys end up in logs, frame locals and Sentry events), only a digest.
    """
    digest = hashlib.sha256(public_key_hex.lower().encode()).hexdigest()[:16]
    return f"{RATE_LIMIT_PREFIX}{digest}"


def signer_from_settings(settings: Settings) -> Signer:
    """The signer for the configured keys; DMarketNotConfigured says what is missing or wrong."""
    if settings.dmarket_public_key is None or settings.dmarket_secret_key is None:
        raise DMarketNotConfigured("DMARKET_PUBLIC_KEY and DMARKET_SECRET_KEY must both be set to scan DMarket")
    try:
        return Signer(settings.dmarket_public_key.get_secret_value(), settings.dmarket_secret_key.get_secret_value())
    except InvalidKeyError as exc:
        raise DMarketNotConfigured(str(exc)) from None


class Resources:
    """The per-process clients. Thread-safe: a threads pool shares one instance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # One Redis, or the Sentinel group's current master (followed through a failover).
        self.redis = sync_client(
            settings.redis_url,
            settings.redis_sentinel_master,
            socket_timeout=REDIS_SOCKET_TIMEOUT_S,
            socket_connect_timeout=REDIS_SOCKET_TIMEOUT_S,
            health_check_interval=30,
        )
        self.database = Database(settings.database_url)
        # One limiter for every shared budget this process spends: DMarket's, Telegram's flood limits.
        self.limiter = SharedRateLimiter(self.redis)
        self._lock = threading.Lock()
        self._dmarket: DMarketClient | None = None
        self._sentry_api: SentryApi | None = None
        self._telegram: TelegramSender | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Resources(database={self.database!r})"

    def dmarket(self) -> DMarketClient:
        """The DMarket client (one connection pool, the shared rate limit); DMarketNotConfigured without keys."""
        with self._lock:
            if self._dmarket is None:
                signer = signer_from_settings(self.settings)
                settings = self.settings
                budgets = Budgets.of(
                    rate_limit_key(signer.public_key_hex),
                    {
                        MARKET_ITEMS: settings.dmarket_rate_limit_rps,
                        LAST_SALES: settings.dmarket_last_sales_rps,
                        OTHER: settings.dmarket_other_rps,
                    },
                    background_share=settings.watch_budget_share_percent / 100,
                )
                self._dmarket = DMarketClient(
                    self.settings.dmarket_api_url,
                    signer,
                    self.limiter,
                    budgets,
                    timeout_s=self.settings.dmarket_timeout_s,
                    max_attempts=self.settings.dmarket_max_attempts,
                )
            return self._dmarket

    def sentry_api(self) -> SentryApi:
        """The Sentry Web API client for the configured project; SentryApiNotConfigured names what is missing."""
        with self._lock:
            if self._sentry_api is None:
                self._sentry_api = sentry_api_from_settings(self.settings)
            return self._sentry_api

    def telegram(self) -> TelegramSender:
        """The Bot API sender; TelegramNotConfigured without TELEGRAM_BOT_TOKEN."""
        with self._lock:
            if self._telegram is None:
                if self.settings.telegram_bot_token is None:
                    raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set; cannot send Telegram messages")
                token = self.settings.telegram_bot_token.get_secret_value()
                flood = FloodControl(self.limiter, token)
                self._telegram = TelegramSender(token, self.settings.telegram_api_base_url, flood=flood)
            return self._telegram

    def close(self) -> None:
        """Close every client (pooled connections); safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for client in (self._dmarket, self._sentry_api, self._telegram):
                if client is not None:
                    try:
                        client.close()
                    except Exception:  # shutting down: one client's failure must not keep the others open
                        log.warning("Could not close %r", client, exc_info=True)
            self.redis.close()
            self.database.dispose()
