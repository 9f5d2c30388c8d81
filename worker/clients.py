"""Per-process clients built from settings: created on first use, shared by tasks, closed on shutdown."""

from __future__ import annotations

import threading

import redis

from common.settings import Settings
from worker.dmarket.client import DMarketClient
from worker.dmarket.errors import DMarketNotConfigured
from worker.dmarket.ratelimit import SharedRateLimiter
from worker.dmarket.signing import InvalidKeyError, Signer

# One limiter key per API key: DMarket counts per key, so two keys would be two separate budgets.
RATE_LIMIT_KEY = "dmarket:ratelimit:{public_key}"
REDIS_SOCKET_TIMEOUT_S = 5.0

_lock = threading.RLock()  # dmarket_client_for calls redis_for while holding it
_redis: dict[str, redis.Redis] = {}
_dmarket: dict[tuple[object, ...], DMarketClient] = {}


def redis_for(url: str) -> redis.Redis:
    """The process's Redis client for ``url`` (a connection pool)."""
    with _lock:
        if url not in _redis:
            _redis[url] = redis.Redis.from_url(
                url, socket_timeout=REDIS_SOCKET_TIMEOUT_S, socket_connect_timeout=REDIS_SOCKET_TIMEOUT_S
            )
        return _redis[url]


def signer_for(settings: Settings) -> Signer:
    """The signer for the configured keys; DMarketNotConfigured says what is missing or wrong."""
    if settings.dmarket_public_key is None or settings.dmarket_secret_key is None:
        raise DMarketNotConfigured("DMARKET_PUBLIC_KEY and DMARKET_SECRET_KEY must both be set to scan DMarket")
    try:
        return Signer(settings.dmarket_public_key.get_secret_value(), settings.dmarket_secret_key.get_secret_value())
    except InvalidKeyError as exc:
        raise DMarketNotConfigured(str(exc)) from None


def dmarket_client_for(settings: Settings) -> DMarketClient:
    """The process's DMarket client for these settings (one connection pool, one shared rate limit)."""
    signer = signer_for(settings)
    key = (
        settings.dmarket_api_url,
        signer.public_key_hex,
        settings.dmarket_secret_key,
        settings.redis_url,
        settings.dmarket_rate_limit_rps,
        settings.dmarket_timeout_s,
        settings.dmarket_max_attempts,
    )
    with _lock:
        if key not in _dmarket:
            limiter = SharedRateLimiter(
                redis_for(settings.redis_url),
                RATE_LIMIT_KEY.format(public_key=signer.public_key_hex),
                rate_per_s=settings.dmarket_rate_limit_rps,
            )
            _dmarket[key] = DMarketClient(
                settings.dmarket_api_url,
                signer,
                limiter,
                timeout_s=settings.dmarket_timeout_s,
                max_attempts=settings.dmarket_max_attempts,
            )
        return _dmarket[key]


def close_clients() -> None:
    with _lock:
        for client in _dmarket.values():
            client.close()
        _dmarket.clear()
        for connection in _redis.values():
            connection.close()
        _redis.clear()
