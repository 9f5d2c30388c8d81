"""Tier-2 sliding-window counters in Redis: one sorted set per rule, scored by the alert's arrival time.

Every worker process and host counts into the same sets, so "more than 5 an hour" means across all of them.
A member is ``<issue id>|<request id>``: a redelivered task counts once, and the digest can name the issues.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import cast

import redis

from common.contract import AlertTask
from worker.alerts.tiers import TierRule

KEY_PREFIX = "alerts:window:"
TITLES_PREFIX = "alerts:titles:"


def window_key(rule: TierRule) -> str:
    return f"{KEY_PREFIX}{rule.name}"


def titles_key(rule: TierRule) -> str:
    return f"{TITLES_PREFIX}{rule.name}"


def record(client: redis.Redis, rule: TierRule, alert: AlertTask, now_s: float) -> int:
    """Count ``alert`` under ``rule``; how many the window holds now."""
    issue = alert.issue_id or "-"
    pipe = client.pipeline(transaction=True)
    pipe.zadd(window_key(rule), {f"{issue}|{alert.request_id}": now_s})
    pipe.zremrangebyscore(window_key(rule), "-inf", now_s - rule.window_s)
    pipe.zcard(window_key(rule))
    pipe.expire(window_key(rule), rule.window_s + 60)
    pipe.hset(titles_key(rule), issue, alert.title[:300])
    pipe.expire(titles_key(rule), rule.window_s + 60)
    return int(pipe.execute()[2])


@dataclass(frozen=True)
class Window:
    count: int
    samples: list[tuple[str, int]]  # (title, alerts), most frequent first


def read(client: redis.Redis, rule: TierRule, now_s: float) -> Window:
    """The alerts counted under ``rule`` within its window ending ``now_s``."""
    members = cast("list[bytes | str]", client.zrangebyscore(window_key(rule), now_s - rule.window_s, "+inf"))
    issues = Counter(str(m.decode() if isinstance(m, bytes) else m).split("|", 1)[0] for m in members)
    raw_titles = cast("dict[bytes | str, bytes | str]", client.hgetall(titles_key(rule)))
    titles = {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in raw_titles.items()
    }
    samples = [(titles.get(issue, issue), count) for issue, count in issues.most_common()]
    return Window(len(members), samples)
