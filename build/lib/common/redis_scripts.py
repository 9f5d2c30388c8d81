"""Server-side Redis scripts shared by every lock-like key (scan guard, cleanup lock)."""

from __future__ import annotations

# Compare-and-act in one server-side step, so a key that expired and was taken by someone else is never
# extended or deleted by the holder that lost it.
RELEASE_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
REFRESH_IF_OWNER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
