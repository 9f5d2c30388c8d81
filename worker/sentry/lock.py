"""A Redis lock with a TTL and token-checked refresh/release: one acting cleanup per Sentry project."""

from __future__ import annotations

import uuid
from types import TracebackType

import redis

# Compare-and-act in one server-side step, so a lock that expired and was taken by another run is
# never extended or deleted by the run that lost it.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_REFRESH = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class LockHeld(RuntimeError):
    """Another run holds the lock; ``holder`` is its owner label (the run key)."""

    def __init__(self, key: str, holder: str | None) -> None:
        who = f"run {holder}" if holder else "another run"
        super().__init__(f"{who} is already acting on this Sentry project (lock {key}); try again when it has finished")
        self.holder = holder


class LockLost(RuntimeError):
    """The lock expired (the run outlived its TTL without refreshing) or was taken over."""


class ProjectLock:
    """``SET key owner:token NX PX ttl``; ``owner`` (a run key) tells a refused run who holds the lock."""

    def __init__(self, client: redis.Redis, key: str, ttl_s: int, owner: str) -> None:
        self._client = client
        self.key = key
        self._ttl_ms = ttl_s * 1000
        self._value = f"{owner}|{uuid.uuid4().hex}"
        self._release = client.register_script(_RELEASE)
        self._refresh = client.register_script(_REFRESH)

    def acquire(self) -> None:
        if not self._client.set(self.key, self._value, nx=True, px=self._ttl_ms):
            holder = self._client.get(self.key)
            text = holder.decode() if isinstance(holder, bytes) else holder
            raise LockHeld(self.key, str(text).split("|", 1)[0] if text else None)

    def refresh(self) -> None:
        """Extend the TTL; raise LockLost if the lock is no longer ours."""
        if not self._refresh(keys=[self.key], args=[self._value, self._ttl_ms]):
            raise LockLost(f"lost the lock {self.key}: it expired or another run took it")

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
