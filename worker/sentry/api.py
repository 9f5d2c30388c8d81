"""A small synchronous client for the parts of Sentry's Web API the cleanup needs (DESIGN.md §9).

Lists a project's issues through the organization issues endpoint, following ``Link`` cursors, and
resolves or deletes issues in bulk by explicit id. Paces itself on Sentry's rate-limit headers, waits
out 429s, retries 5xx and transport errors a bounded number of times, and turns 401/403 into a sentence
that names the token scope the call needs.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from common.http import parse_retry_after_s
from common.settings import Settings

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Sentry's maximum for issue lists
# Sentry accepts up to 1,000 ids per bulk mutation, but every id travels in the query string:
# 100 ids keep the URL near 1.5 KB, well under the 8 KB that nginx (self-hosted Sentry's front) allows
# for a request line, and bound what one failed call leaves uncertain in the audit.
BULK_CHUNK_SIZE = 100
# A scope that grants the call; Sentry also accepts the stronger ones (event:admin covers everything).
REQUIRED_SCOPE = {"GET": "event:read", "PUT": "event:write", "DELETE": "event:admin"}
_WHAT = {"GET": "list issues", "PUT": "resolve issues", "DELETE": "delete issues"}
_LINK_RE = re.compile(
    r'<(?P<url>[^>]*)>;\s*rel="(?P<rel>\w+)";\s*results="(?P<results>\w+)";\s*cursor="(?P<cursor>[^"]*)"'
)
_ISSUE_ID_RE = re.compile(r"^[1-9]\d{0,19}$")
# Every 429 waits at least this long (plus jitter), whatever the headers say: `Retry-After: 0` or a reset
# time in the past would otherwise retry at once, again and again, without ever filling the time budget.
MIN_RATE_LIMIT_WAIT_S = 1.0
RATE_LIMIT_JITTER_S = 0.25
MAX_RATE_LIMITED_PER_CALL = 30

Issue = dict[str, Any]


class SentryApiError(Exception):
    """A Web API call failed for good (after the retries it deserved)."""

    def __init__(self, message: str, status: int | None = None, outcome_known: bool = True) -> None:
        super().__init__(message)
        self.status = status
        # False when a mutation may have been applied although we saw no answer (timeout, dropped connection).
        self.outcome_known = outcome_known


class SentryAuthError(SentryApiError):
    """401/403: the token is wrong or lacks the scope the call needs."""

    def __init__(self, message: str, status: int, scope: str) -> None:
        super().__init__(message, status)
        self.scope = scope


class EmptyIdListError(ValueError):
    """A bulk call without ids would act on every issue the search matches; we never send one."""


@dataclass
class ApiStats:
    """What a client has spent: every HTTP request, retries among them, and time waited for rate limits."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "waited_s": round(self.waited_s, 3)}

    def copy(self) -> ApiStats:
        return ApiStats(self.requests, self.retries, self.rate_limited, self.waited_s)

    def since(self, before: ApiStats) -> ApiStats:
        """What was spent after ``before`` was taken (a shared client serves many runs)."""
        return ApiStats(
            self.requests - before.requests,
            self.retries - before.retries,
            self.rate_limited - before.rate_limited,
            self.waited_s - before.waited_s,
        )


def parse_link_header(value: str) -> dict[str, tuple[bool, str]]:
    """Sentry's ``Link`` header as rel -> (results, cursor)."""
    return {m["rel"]: (m["results"] == "true", m["cursor"]) for m in _LINK_RE.finditer(value)}


def check_issue_ids(ids: Sequence[str]) -> list[str]:
    """The ids as Sentry's bulk endpoints need them: non-empty, numeric, unique (order kept)."""
    if isinstance(ids, str | bytes):
        # A bare string is a sequence of characters: "4567" would become the ids "4", "5", "6", "7".
        raise TypeError(f"issue ids must be a list of strings, got a single {type(ids).__name__}: {ids[:40]!r}")
    if not ids:
        raise EmptyIdListError("refusing a bulk call with no issue ids: Sentry would apply it to every matching issue")
    bad = [i for i in ids if not isinstance(i, str) or not _ISSUE_ID_RE.match(i)]
    if bad:
        raise ValueError(f"issue ids must be positive decimal strings such as '4567', got {bad[:5]!r}")
    return list(dict.fromkeys(ids))


class SentryApi:
    """One organization/project on one Sentry host. Create once per process; :meth:`close` on shutdown."""

    def __init__(
        self,
        api_url: str,
        token: str,
        organization: str,
        project: str,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        max_rate_limit_wait_s: float = 300.0,
        max_rate_limited: int = MAX_RATE_LIMITED_PER_CALL,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Sentry auth token is required (SENTRY_AUTH_TOKEN)")
        if not organization or not project:
            raise ValueError(
                "both the organization and the project slug are required (SENTRY_ORGANIZATION, SENTRY_PROJECT)"
            )
        self.organization = organization
        self.project = project
        self.host = urlsplit(api_url).netloc
        self.stats = ApiStats()
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_rate_limit_wait_s = max_rate_limit_wait_s
        self._max_rate_limited = max_rate_limited
        self._sleep = sleep
        self._clock = clock
        self._project_id: str | None = project if project.isdigit() else None
        # path -> epoch second before which the endpoint's window is spent (from X-Sentry-Rate-Limit-*).
        self._not_before: dict[str, float] = {}
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )

    def __enter__(self) -> SentryApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- public calls ------------------------------------------------------------------------------

    @property
    def issues_path(self) -> str:
        return f"/api/0/organizations/{self.organization}/issues/"

    def project_id(self) -> str:
        """The numeric project id the organization endpoints filter on (resolved from the slug once)."""
        if self._project_id is None:
            body = self._request("GET", f"/api/0/projects/{self.organization}/{self.project}/").json()
            self._project_id = str(body["id"])
        return self._project_id

    def iter_issue_pages(self, query: str, environments: Sequence[str] = ()) -> Iterator[list[Issue]]:
        """Every page of issues matching ``query`` (all statuses unless the query says otherwise)."""
        # `query` is always sent, even empty: without it Sentry searches `is:unresolved` only.
        params: list[tuple[str, str]] = [
            ("project", self.project_id()),
            ("query", query),
            ("limit", str(PAGE_SIZE)),
            *(("environment", env) for env in environments),
        ]
        cursor: str | None = None
        while True:
            page_params = [*params, ("cursor", cursor)] if cursor else params
            response = self._request("GET", self.issues_path, params=page_params)
            body = response.json()
            if not isinstance(body, list):
                raise SentryApiError(
                    f"expected a JSON list of issues from {self.issues_path}, got {type(body).__name__}"
                )
            yield body
            has_next, next_cursor = parse_link_header(response.headers.get("Link", "")).get("next", (False, ""))
            if not has_next or not next_cursor or next_cursor == cursor:
                return
            cursor = next_cursor

    def resolve_issues(self, ids: Sequence[str]) -> None:
        """Set status=resolved on exactly these issues (one PUT per chunk of ids)."""
        self._bulk("PUT", ids, json={"status": "resolved"})

    def delete_issues(self, ids: Sequence[str]) -> None:
        """Delete exactly these issues (Sentry deletes asynchronously after answering)."""
        self._bulk("DELETE", ids)

    # ---- internals ---------------------------------------------------------------------------------

    def _bulk(self, method: str, ids: Sequence[str], json: dict[str, Any] | None = None) -> None:
        checked = check_issue_ids(ids)  # before any I/O, including the project lookup
        project_id = self.project_id()
        for start in range(0, len(checked), BULK_CHUNK_SIZE):
            chunk = checked[start : start + BULK_CHUNK_SIZE]
            # Repeated `id=` is the only form Sentry reads; `id[]=` would be ignored and the call would
            # fall back to the search and hit every unresolved issue.
            params = [("project", project_id), *(("id", issue_id) for issue_id in chunk)]
            self._request(method, self.issues_path, params=params, json=json)

    def _request(
        self, method: str, path: str, params: Sequence[tuple[str, str]] | None = None, json: Any = None
    ) -> httpx.Response:
        rate_limit_waited_s = 0.0
        rate_limited = 0
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_window(path)
            self.stats.requests += 1
            try:
                response = self._http.request(method, path, params=list(params or ()), json=json)
            except httpx.TransportError as exc:
                if attempt >= self._max_attempts:
                    raise SentryApiError(
                        f"Sentry {method} {path} failed after {attempt} attempts: {type(exc).__name__}: {exc}",
                        outcome_known=method == "GET" or isinstance(exc, httpx.ConnectError),
                    ) from None
                self._retry_pause(attempt, None)
                continue
            self._remember_window(path, response)
            status = response.status_code
            if status < 400:
                return response
            if status == 429:
                rate_limited += 1
                wait_s = self._rate_limit_wait_s(response)
                if rate_limited > self._max_rate_limited or rate_limit_waited_s + wait_s > self._max_rate_limit_wait_s:
                    raise SentryApiError(
                        f"Sentry kept rate-limiting {method} {path}: {rate_limited} answers 429 in "
                        f"{rate_limit_waited_s:.0f}s (limits {self._max_rate_limited} answers, "
                        f"{self._max_rate_limit_wait_s:.0f}s): {_detail(response)}",
                        status,
                    )
                log.info("Sentry rate limit on %s %s, waiting %.2fs", method, path, wait_s)
                self.stats.rate_limited += 1
                self.stats.retries += 1
                rate_limit_waited_s += wait_s
                self._pause(wait_s)
                attempt -= 1  # a 429 was not processed at all; it does not use up an attempt
                continue
            if status in (401, 403):
                raise _auth_error(method, path, response)
            if status >= 500 and attempt < self._max_attempts:
                self._retry_pause(attempt, response)
                continue
            raise SentryApiError(f"Sentry {method} {path} answered {status}: {_detail(response)}", status)

    def _retry_pause(self, attempt: int, response: httpx.Response | None) -> None:
        self.stats.retries += 1
        retry_after = self._retry_after_s(response) if response is not None else None
        # Exponential backoff with full jitter, so several clients do not retry in step.
        pause_s = retry_after if retry_after is not None else random.uniform(0, self._backoff_s * 2 ** (attempt - 1))  # noqa: S311
        log.warning("Sentry %s, retrying in %.2fs", response.status_code if response else "unreachable", pause_s)
        self._pause(min(pause_s, 30.0))

    def _retry_after_s(self, response: httpx.Response) -> float | None:
        return parse_retry_after_s(response.headers.get("Retry-After"), now_s=self._clock())

    def _rate_limit_wait_s(self, response: httpx.Response) -> float:
        """What the 429 asks for, but never less than MIN_RATE_LIMIT_WAIT_S, plus jitter."""
        hint = self._retry_after_s(response)
        if hint is None:
            reset = _float_header(response, "X-Sentry-Rate-Limit-Reset")
            hint = reset - self._clock() if reset is not None else None
        # Jitter, so clients rate-limited together do not come back in step.
        jitter = random.uniform(0, RATE_LIMIT_JITTER_S)  # noqa: S311 - jitter, not cryptography
        return max(MIN_RATE_LIMIT_WAIT_S, hint or 0.0) + jitter

    def _remember_window(self, path: str, response: httpx.Response) -> None:
        remaining = _float_header(response, "X-Sentry-Rate-Limit-Remaining")
        reset = _float_header(response, "X-Sentry-Rate-Limit-Reset")
        with self._lock:
            if remaining is not None and remaining <= 0 and reset is not None:
                self._not_before[path] = reset
            else:
                self._not_before.pop(path, None)

    def _wait_for_window(self, path: str) -> None:
        with self._lock:
            not_before = self._not_before.pop(path, None)
        if not_before is not None:
            # The window is spent: asking now would only earn a 429. Capped in case the clocks disagree.
            self._pause(min(max(0.0, not_before - self._clock()), 60.0))

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited_s += seconds
            self._sleep(seconds)


def _float_header(response: httpx.Response, name: str) -> float | None:
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:200]


def _auth_error(method: str, path: str, response: httpx.Response) -> SentryAuthError:
    scope = REQUIRED_SCOPE.get(method, "event:read")
    what = _WHAT.get(method, f"call {method} {path}")
    if path.startswith("/api/0/projects/") and not path.endswith("/issues/"):
        # Only a project slug needs this lookup; the issue endpoints themselves want event:* scopes.
        scope, what = "project:read", "look up the project id (or set SENTRY_PROJECT to the numeric id)"
    if response.status_code == 401:
        message = (
            f"Sentry rejected SENTRY_AUTH_TOKEN (401: {_detail(response)}). Create a token with scope {scope} "
            f"(needed to {what}) and set SENTRY_AUTH_TOKEN."
        )
    else:
        message = (
            f"SENTRY_AUTH_TOKEN may not {what} (403: {_detail(response)}): it needs the {scope} scope"
            f"{' (event:admin also covers resolve and list)' if scope != 'event:admin' else ''}."
        )
    return SentryAuthError(message, response.status_code, scope)


def api_from_settings(settings: Settings, **options: Any) -> SentryApi:
    """A client for the configured project; ValueError names what is missing."""
    missing = [
        name
        for name, value in (
            ("SENTRY_AUTH_TOKEN", settings.sentry_auth_token),
            ("SENTRY_ORGANIZATION", settings.sentry_organization),
            ("SENTRY_PROJECT", settings.sentry_project),
        )
        if not value
    ]
    if missing:
        raise ValueError(
            f"set {', '.join(missing)} to use the Sentry Web API "
            "(token scopes: event:read to list, event:write to resolve, event:admin to delete)"
        )
    assert settings.sentry_auth_token is not None
    return SentryApi(
        settings.sentry_api_url,
        settings.sentry_auth_token.get_secret_value(),
        str(settings.sentry_organization),
        str(settings.sentry_project),
        **options,
    )


_clients: dict[tuple[str, str, str, str], SentryApi] = {}
_clients_lock = threading.Lock()


def get_sentry_api(settings: Settings) -> SentryApi:
    """The process's client for the configured project (one connection pool), created on first use."""
    key = (
        settings.sentry_api_url,
        settings.sentry_auth_token.get_secret_value() if settings.sentry_auth_token else "",
        settings.sentry_organization or "",
        settings.sentry_project or "",
    )
    with _clients_lock:
        if key not in _clients:
            _clients[key] = api_from_settings(settings)
        return _clients[key]


def close_sentry_apis() -> None:
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
