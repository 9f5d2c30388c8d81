"""Synchronous client for the sandbox's ``/_sandbox/`` control API (tests and scripts)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from sandbox.dmarket.state import LoggedRequest


class DMarketSandboxClient:
    """Drive a running DMarket sandbox: faults, limits, accepted keys, request log and stats."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def config(self) -> dict[str, Any]:
        """The current runtime config, including pending faults."""
        result: dict[str, Any] = self._json("GET", "/_sandbox/config")
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change only the given fields (see ``ConfigPatch``); returns the new config."""
        result: dict[str, Any] = self._json("POST", "/_sandbox/config", changes)
        return result

    def reset(self) -> None:
        """Back to start-up config; clears faults, rate-limit windows, the request log and stats."""
        self._json("POST", "/_sandbox/reset")

    def requests(self) -> list[LoggedRequest]:
        result: list[LoggedRequest] = self._json("GET", "/_sandbox/requests")["requests"]
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/_sandbox/stats")
        return result

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` API requests get HTTP ``status``."""
        self.configure(fail_next={"count": count, "status": status})

    def hold_next(self, count: int, hold_ms: int) -> None:
        """The next ``count`` API requests are held ``hold_ms`` before an answer (client timeouts)."""
        self.configure(hold_next={"count": count, "hold_ms": hold_ms})

    def throttle_next(self, count: int, retry_after_s: int = 1) -> None:
        """The next ``count`` API requests get 429 with ``Retry-After: retry_after_s``."""
        self.configure(throttle_next={"count": count, "retry_after_s": retry_after_s})

    def set_latency(self, latency_ms: int) -> None:
        """Add ``latency_ms`` to every API request until changed or reset."""
        self.configure(latency_ms=latency_ms)
