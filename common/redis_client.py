"""Redis clients for REDIS_URL, which names either one Redis or a Redis Sentinel set.

``redis://host:6379/0`` (or ``rediss://``, ``unix://``) is one server. ``sentinel://[:password@]host:26379/0``
names the Sentinels of a master group (several separated by ``;``, as kombu's transport reads them, e.g.
``sentinel://s1:26379/0;sentinel://s2:26379/0``); REDIS_SENTINEL_MASTER names the group. The clients made
here ask the Sentinels for the current master and follow it through a failover: the broker (kombu's
``sentinel://`` transport), the result backend, and every limiter, lock and guard on redis-py's Sentinel
client. The password, when given, is the master's; the Sentinels themselves are reached without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelUrl:
    """The Sentinels' addresses, the master's password and the database number of a ``sentinel://`` URL."""

    sentinels: list[tuple[str, int]]
    password: str | None
    db: int


def is_sentinel(url: str) -> bool:
    return urlsplit(url.split(";", 1)[0].strip()).scheme == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelUrl:
    """ValueError naming what is wrong, e.g. a part that is not ``sentinel://host:port``."""
    sentinels: list[tuple[str, int]] = []
    password: str | None = None
    db = 0
    for part in filter(None, (piece.strip() for piece in url.split(";"))):
        parts = urlsplit(part)
        if parts.scheme != SENTINEL_SCHEME or not parts.hostname:
            raise ValueError(f"each part must be sentinel://[:password@]host:port[/db], got {part.split('@')[-1]!r}")
        sentinels.append((parts.hostname, parts.port or DEFAULT_SENTINEL_PORT))
        password = password or parts.password
        path = parts.path.strip("/")
        if path:
            if not path.isdigit():
                raise ValueError(f"the database must be a number, got {path!r}")
            db = int(path)
    if not sentinels:
        raise ValueError("name at least one Sentinel: sentinel://host:26379/0")
    return SentinelUrl(sentinels, password, db)


def sync_client(url: str, master: str | None, **options: Any) -> redis.Redis:
    """A client of the one Redis, or of the Sentinel group's current master (re-discovered after a failover)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    parsed = parse_sentinel_url(url)
    timeouts = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
    sentinel = redis.sentinel.Sentinel(parsed.sentinels, sentinel_kwargs=timeouts)  # type: ignore[no-untyped-call]
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        str(master), password=parsed.password, db=parsed.db, **options
    )
    return client


def async_client(url: str, master: str | None, **options: Any) -> redis.asyncio.Redis:
    """:func:`sync_client` for asyncio (the bot)."""
    if not is_sentinel(url):
        single: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url, **options)
        return single
    parsed = parse_sentinel_url(url)
    timeouts = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
    sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        parsed.sentinels, sentinel_kwargs=timeouts
    )
    client: redis.asyncio.Redis = sentinel.master_for(str(master), password=parsed.password, db=parsed.db, **options)
    return client


def transport_options(url: str, master: str | None) -> dict[str, Any]:
    """What kombu's transport and Celery's result backend need besides the URL: the master group's name."""
    return {"master_name": master} if is_sentinel(url) else {}
