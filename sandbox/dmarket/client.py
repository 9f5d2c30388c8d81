"""Synchronous client for the sandbox's ``/_sandbox/`` control API (tests and scripts)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from sandbox.dmarket.state import LoggedRequest


class DMarketSandboxClient:
    """Drive a running DMarket sandbox: faults, limits, accepted keys, request log, stats and truth."""

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

    def fail_next(self, count: int, status: int = 503, endpoint: str | None = None) -> None:
        """The next ``count`` API requests (to ``endpoint``, or any) get HTTP ``status``."""
        self.configure(fail_next={"count": count, "status": status, "endpoint": endpoint})

    def hold_next(self, count: int, hold_ms: int, endpoint: str | None = None) -> None:
        """The next ``count`` API requests are held ``hold_ms`` before an answer (client timeouts)."""
        self.configure(hold_next={"count": count, "hold_ms": hold_ms, "endpoint": endpoint})

    def throttle_next(self, count: int, retry_after_s: int = 1, endpoint: str | None = None) -> None:
        """The next ``count`` API requests get 429 with ``Retry-After: retry_after_s``."""
        self.configure(throttle_next={"count": count, "retry_after_s": retry_after_s, "endpoint": endpoint})

    def hang_next(self, count: int, hang_ms: int, endpoint: str | None = None) -> None:
        """The next ``count`` API requests get no answer for ``hang_ms``, then the gateway's 504."""
        self.configure(hang_next={"count": count, "hang_ms": hang_ms, "endpoint": endpoint})

    def drip_next(self, count: int, interval_ms: int, chunk_bytes: int = 1, endpoint: str | None = None) -> None:
        """The next ``count`` API responses send their body ``chunk_bytes`` every ``interval_ms``."""
        self.configure(
            drip_next={"count": count, "interval_ms": interval_ms, "chunk_bytes": chunk_bytes, "endpoint": endpoint}
        )

    def corrupt_next(self, kind: str, count: int = 1, endpoint: str | None = None) -> None:
        """The next ``count`` 200 responses of ``endpoint`` get the hostile body ``kind``."""
        self.configure(corrupt_next={"kind": kind, "count": count, "endpoint": endpoint})

    def set_rate_limit(self, family: str, signed: int | None = None, keyless: int | None = None) -> None:
        """Requests/second for one family (``market_items``, ``last_sales``, ``other``); 0 = unlimited."""
        limits: dict[str, int] = {}
        if signed is not None:
            limits["signed"] = signed
        if keyless is not None:
            limits["keyless"] = keyless
        self.configure(rate_limits={family: limits})

    def set_latency(self, latency_ms: int) -> None:
        """Add ``latency_ms`` to every API request until changed or reset."""
        self.configure(latency_ms=latency_ms)

    def set_sales_anchor(self, sales_anchor: int) -> None:
        """Date sales back from ``sales_anchor`` (unix seconds) instead of the server's start."""
        self.configure(sales_anchor=sales_anchor)

    def faults(self) -> list[dict[str, Any]]:
        """Every hostile body kind: name, endpoints, whether it is a listing kind, description."""
        result: list[dict[str, Any]] = self._json("GET", "/_sandbox/faults")["hostile_kinds"]
        return result

    def truth(self, game_id: str, item_id: str | None = None, title: str | None = None) -> dict[str, Any]:
        """The hidden truth of one item, one title, or (neither given) every title of a game."""
        params = {"gameId": game_id} | ({"itemId": item_id} if item_id else {}) | ({"title": title} if title else {})
        response = self._http.get("/_sandbox/truth", params=params)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
