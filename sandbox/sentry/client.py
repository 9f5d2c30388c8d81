"""Synchronous client for the sandbox's control API (``/_sandbox/``), for tests and scripts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

Record = dict[str, Any]


def make_dsn(base_url: str, project_id: int = 1, public_key: str = "public") -> str:
    """``http://<key>@host:port/<project_id>`` for a sandbox at ``base_url``."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{public_key}@{parts.netloc}/{project_id}"


class SentrySandboxClient:
    """Seed, configure and inspect a running Sentry sandbox. Use as a context manager or call close()."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def __enter__(self) -> SentrySandboxClient:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: Any = None) -> httpx.Response:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return response

    # ---- reading ----------------------------------------------------------------------------------

    def events(self, type: str | None = None, issue_id: str | int | None = None) -> list[Record]:
        """Stored events (``type``: event | transaction); payloads, tags and request headers verbatim."""
        return list(self._get("/_sandbox/events", type=type, issue_id=issue_id))

    def check_ins(self) -> list[Record]:
        return list(self._get("/_sandbox/check-ins"))

    def issues(self) -> list[Record]:
        """Every issue in Web API form, by id, any status, no pagination."""
        return list(self._get("/_sandbox/issues"))

    def raw_envelopes(self) -> list[Record]:
        """Every decompressed ingestion body that arrived (``body`` as text), for leak checks."""
        return list(self._get("/_sandbox/raw"))

    def requests_log(self) -> list[Record]:
        """Every Web API request: method, path, query, params ([key, value] pairs), endpoint, status."""
        return list(self._get("/_sandbox/requests"))

    def stats(self) -> Record:
        return dict(self._get("/_sandbox/stats"))

    def config(self) -> Record:
        return dict(self._get("/_sandbox/config"))

    def webhooks(self) -> list[Record]:
        """Every finished webhook delivery: resource, action, url, status or error, request_headers, body, at."""
        return list(self._get("/_sandbox/webhooks"))

    def emails(self) -> list[Record]:
        """Every NotifyEmailAction a rule fired (recorded, never sent)."""
        return list(self._get("/_sandbox/emails"))

    def monitors(self) -> list[Record]:
        """Crons monitors in Sentry's Web API form, by name."""
        return list(self._get("/_sandbox/monitors"))

    def monitor_check_ins(self, slug: str) -> list[Record]:
        """A monitor's check-ins in Sentry's Web API form, newest first."""
        return list(self._get(f"/_sandbox/monitors/{slug}/check-ins"))

    def dsn(self, public_key: str = "public") -> str:
        return make_dsn(self.base_url, int(self.config()["project_id"]), public_key)

    # ---- changing ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all data and return configuration to the server's start-up options."""
        self._post("/_sandbox/reset")

    def seed_issues(self, issues: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create issues directly; fields as in docs/sandbox-sentry.md. Returns their ids in order."""
        return list(self._post("/_sandbox/issues", list(issues)).json()["ids"])

    def add_comment(self, issue_id: str | int, text: str, user: str | None = None) -> Record:
        """Add a note to an issue behind the client's back (``numComments`` grows); returns the comment."""
        body = {"text": text} if user is None else {"text": text, "user": user}
        return dict(self._post(f"/_sandbox/issues/{issue_id}/comments", body).json())

    def update_issue(self, issue_id: str | int, **fields: Any) -> Record:
        """Change an issue as Sentry itself would (``status``, ``substatus``, ``level``, ``title``,
        ``numComments``, ``lastSeen``, ``environment``, ``tags``); returns it in Web API form."""
        return dict(self._post(f"/_sandbox/issues/{issue_id}", fields).json())

    def configure(
        self,
        *,
        rate_limits: Mapping[str, int] | None = None,
        concurrent_limit: int | None = None,
        tokens: Mapping[str, Iterable[str] | None] | None = None,
        public_keys: Iterable[str] | None = None,
        faults: Iterable[Mapping[str, Any]] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> Record:
        """Change runtime config; only the arguments given are changed (faults are appended).

        ``webhook_url=""`` stops webhooks."""
        body: dict[str, Any] = {
            "rate_limits": None if rate_limits is None else dict(rate_limits),
            "concurrent_limit": concurrent_limit,
            "tokens": None if tokens is None else {t: None if s is None else list(s) for t, s in tokens.items()},
            "public_keys": None if public_keys is None else list(public_keys),
            "faults": None if faults is None else [dict(f) for f in faults],
            "webhook_url": webhook_url,
            "webhook_secret": webhook_secret,
        }
        return dict(self._post("/_sandbox/config", {k: v for k, v in body.items() if v is not None}).json())

    # ---- waiting ----------------------------------------------------------------------------------

    def wait_for_events(
        self,
        predicate: Callable[[Record], bool] | None = None,
        *,
        count: int = 1,
        type: str | None = None,
        timeout_s: float = 10.0,
    ) -> list[Record]:
        """Poll until at least ``count`` stored events satisfy ``predicate``; return those events."""
        return _poll(lambda: self.events(type=type), predicate, count, timeout_s, "events")

    def wait_for_check_ins(
        self, predicate: Callable[[Record], bool] | None = None, *, count: int = 1, timeout_s: float = 10.0
    ) -> list[Record]:
        return _poll(self.check_ins, predicate, count, timeout_s, "check-ins")

    def wait_for_webhooks(
        self, predicate: Callable[[Record], bool] | None = None, *, count: int = 1, timeout_s: float = 10.0
    ) -> list[Record]:
        """Poll until at least ``count`` finished deliveries satisfy ``predicate``; return those."""
        return _poll(self.webhooks, predicate, count, timeout_s, "webhook deliveries")


def _poll(
    fetch: Callable[[], list[Record]],
    predicate: Callable[[Record], bool] | None,
    count: int,
    timeout_s: float,
    what: str,
    interval_s: float = 0.02,
) -> list[Record]:
    deadline = time.monotonic() + timeout_s
    while True:
        matched = [r for r in fetch() if predicate is None or predicate(r)]
        if len(matched) >= count:
            return matched
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout_s}s for {count} {what}, have {len(matched)} matching")
        time.sleep(interval_s)  # polling interval of a deadline-bounded wait, not a fixed delay
