"""A Redis lock with a TTL and token-checked refresh/release: one acting cleanup per Sentry project."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import redis

from common.redis_scripts import REFRESH_IF_OWNER, RELEASE_IF_OWNER

# Take the lock if it is free, or if its holder has the same owner label (a dead attempt of the same task,
# redelivered): SET NX PX, or replace `owner|other-token` by `owner|our-token`, in one server-side step.
_ACQUIRE_OR_TAKE_OVER = """
local current = redis.call('get', KEYS[1])
if (not current) or string.sub(current, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '|' then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
    if current then return 2 end
    return 1
end
return 0
"""


class LockHeld(RuntimeError):
    """Another run holds the lock; ``holder`` is its owner label (the run key)."""

    def __init__(self, key: str, holder: str | None) -> None:
        who = f"run {holder}" if holder else "another run"
        super().__init__(f"{who} is already acting on this Sentry project (lock {key}); try again when it has finished")
        self.holder = holder


class LockLost(RuntimeError):
    """The lock expired (the run outlived its TTL without refreshing) or was taken over."""


class ProjectLock:
    """``owner|token`` under ``key`` with a TTL; ``owner`` (a task id or CLI run key) tells a refused run who
    holds the lock, and lets a redelivered attempt of the same task take over from its dead predecessor."""

    def __init__(self, client: redis.Redis, key: str, ttl_s: int, owner: str) -> None:
        if "|" in owner:
            raise ValueError(f"a lock owner may not contain '|': {owner!r}")
        self._client = client
        self.key = key
        self.owner = owner
        self._ttl_ms = ttl_s * 1000
        self._value = f"{owner}|{uuid.uuid4().hex}"
        self._acquire = client.register_script(_ACQUIRE_OR_TAKE_OVER)
        self._release = client.register_script(RELEASE_IF_OWNER)
        self._refresh = client.register_script(REFRESH_IF_OWNER)
        self.took_over = False
        self._lost: str | None = None

    def acquire(self) -> None:
        """Take the lock; LockHeld if another owner holds it. A lock of the same owner is taken over."""
        taken = int(self._acquire(keys=[self.key], args=[self._value, self.owner, self._ttl_ms]))
        if not taken:
            holder = self._client.get(self.key)
            text = holder.decode() if isinstance(holder, bytes) else holder
            raise LockHeld(self.key, str(text).split("|", 1)[0] if text else None)
        self.took_over = taken == 2

    def refresh(self) -> None:
        """Extend the TTL; raise LockLost if the lock is no longer ours."""
        if not self._refresh(keys=[self.key], args=[self._value, self._ttl_ms]):
            raise LockLost(f"lost the lock {self.key}: it expired or another run took it")

    def check(self) -> None:
        """Before acting: LockLost if the keep-alive saw the lock go, else refresh it once more now."""
        if self._lost is not None:
            raise LockLost(self._lost)
        self.refresh()

    @contextmanager
    def keep_alive(self) -> Iterator[ProjectLock]:
        """Refresh the lock every third of its TTL from a thread while the block runs.

        One Sentry call can spend minutes waiting out 429s; refreshing only between calls would let the
        lock expire mid-call and a second acting run start. A refresh that fails is remembered, and the next
        :meth:`check` (before every mutating call) raises LockLost.
        """
        stop = threading.Event()
        interval_s = self._ttl_ms / 1000 / 3

        def refresh_until_stopped() -> None:
            while not stop.wait(interval_s):
                try:
                    self.refresh()
                except (LockLost, redis.RedisError) as exc:
                    self._lost = f"lost the lock {self.key} while a call was in flight: {exc}"
                    return

        thread = threading.Thread(target=refresh_until_stopped, name=f"lock-keep-alive:{self.owner}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self._value]))

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def lock_key(api_host: str, organization: str, project: str) -> str:
    return f"sentry-cleanup:lock:{api_host}:{organization}:{project}"
