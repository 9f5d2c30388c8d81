"""A small synchronous client for the parts of Sentry's Web API this project uses (DESIGN.md §9).

One client for every feature that talks to the Web API: the cleanup, the alert buttons, the doctor.

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
from tenacity import RetryCallState

from common.http import parse_retry_after_s
from common.http_deadline import send_within
from common.retry import RetryPolicy
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
_EVENT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_PROJECT_ID_RE = _ISSUE_ID_RE
_MONITOR_SLUG_RE = re.compile(r"^[a-z0-9_-]{1,50}$")
# Every 429 waits at least this long (plus jitter), whatever the headers say: `Retry-After: 0` or a reset
# time in the past would otherwise retry at once, again and again, without ever filling the time budget.
MIN_RATE_LIMIT_WAIT_S = 1.0
RATE_LIMIT_JITTER_S = 0.25
# One call: at most 10 attempts (429s included) within 5 minutes, backoff capped at 30 s; a Retry-After is
# waited out in full, or the call gives up at once when it would end past the deadline.
DEFAULT_RETRY_POLICY = RetryPolicy(max_attempts=10, deadline_s=300.0, base_s=1.0, max_backoff_s=30.0)

Issue = dict[str, Any]


class SentryApiError(Exception):
    """A Web API call failed for good (after the retries it deserved)."""

    def __init__(self, message: str, status: int | None = None, outcome_known: bool = True) -> None:
        super().__init__(message)
        self.status = status
        # False when a mutation may have been applied although we saw no answer (timeout, dropped connection).
        self.outcome_known = outcome_known


class SentryRateLimited(SentryApiError):
    """429: Sentry wants us to wait ``wait_s`` seconds (its Retry-After or rate-limit reset, at least 1 s)."""

    def __init__(self, message: str, wait_s: float) -> None:
        super().__init__(message, 429)
        self.wait_s = wait_s


class SentryServerError(SentryApiError):
    """5xx: retried; ``retry_after_s`` when the answer carried a Retry-After."""

    def __init__(self, message: str, status: int, retry_after_s: float | None) -> None:
        super().__init__(message, status)
        self.retry_after_s = retry_after_s


class SentryUnreachable(SentryApiError):
    """Connecting, sending or reading failed; for a mutation the outcome may be unknown."""

    def __init__(self, message: str, outcome_known: bool) -> None:
        super().__init__(message, None, outcome_known)


class SentryApiNotConfigured(ValueError):
    """SENTRY_AUTH_TOKEN, SENTRY_ORGANIZATION or SENTRY_PROJECT is missing; the message names which."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"set {', '.join(missing)} to use the Sentry Web API "
            "(token scopes: event:read to list, event:write to resolve, event:admin to delete)"
        )
        self.missing = missing


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
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
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
        self.retry_policy = retry_policy
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
            path = f"/api/0/projects/{self.organization}/{self.project}/"
            body = _json(self._request("GET", path), path)
            found = body.get("id") if isinstance(body, dict) else None
            # It becomes the `project=` filter of every search and bulk call: anything but a number is refused.
            if isinstance(found, bool) or not isinstance(found, int | str) or not _PROJECT_ID_RE.match(str(found)):
                raise SentryApiError(
                    f"Sentry's project lookup {path} answered id {found!r}; expected the numeric project id "
                    "(or set SENTRY_PROJECT to the numeric id)"
                )
            self._project_id = str(found)
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
            body = _json(response, self.issues_path)
            if not isinstance(body, list):
                raise SentryApiError(
                    f"expected a JSON list of issues from {self.issues_path}, got {type(body).__name__}"
                )
            yield body
            has_next, next_cursor = parse_link_header(response.headers.get("Link", "")).get("next", (False, ""))
            if not has_next or not next_cursor or next_cursor == cursor:
                return
            cursor = next_cursor

    def issues_by_id(self, ids: Sequence[str]) -> dict[str, Issue]:
        """Exactly these issues as Sentry has them now (any status); an id Sentry no longer has is absent.

        One GET per chunk, with repeated ``group=`` (the organization endpoint's lookup by id, which ignores
        the search query), so a decision can be checked again against fresh facts right before acting.
        """
        checked = check_issue_ids(ids)
        project_id = self.project_id()
        found: dict[str, Issue] = {}
        for start in range(0, len(checked), BULK_CHUNK_SIZE):
            params = [
                ("project", project_id),
                *(("group", issue_id) for issue_id in checked[start : start + BULK_CHUNK_SIZE]),
            ]
            body = _json(self._request("GET", self.issues_path, params=params), self.issues_path)
            if not isinstance(body, list):
                raise SentryApiError(
                    f"expected a JSON list of issues from {self.issues_path}, got {type(body).__name__}"
                )
            wanted = set(checked)
            for issue in body:
                if isinstance(issue, dict) and str(issue.get("id")) in wanted:
                    found[str(issue["id"])] = issue
        return found

    def environments(self) -> list[str]:
        """The names of the project's environments (hidden ones included); needs project:read."""
        path = f"/api/0/projects/{self.organization}/{self.project}/environments/"
        body = _json(self._request("GET", path, params=[("visibility", "all")]), path)
        if not isinstance(body, list):
            raise SentryApiError(f"expected a JSON list of environments from {path}, got {type(body).__name__}")
        return sorted({str(env["name"]) for env in body if isinstance(env, dict) and env.get("name")})

    def event_stored(self, event_id: str) -> bool:
        """Sentry has stored the event and can show it (the project's event by id); False while it has not.

        Ingestion is asynchronous, so a False now may be True in a second; callers poll within a deadline.
        Needs project:read.
        """
        return self.event(event_id) is not None

    def event(self, event_id: str) -> dict[str, Any] | None:
        """The project's stored event (``groupID``, ``entries`` with its breadcrumbs, ...); None while absent."""
        if not _EVENT_ID_RE.match(event_id):
            raise ValueError(f"an event id is 32 lowercase hex digits, got {event_id[:40]!r}")
        path = f"/api/0/projects/{self.organization}/{self.project}/events/{event_id}/"
        return self._get_or_none(path)

    def monitor(self, slug: str) -> dict[str, Any] | None:
        """The organization's Crons monitor ``slug`` (with its environments' last check-ins); None if unknown."""
        if not re.fullmatch(r"[a-z0-9_-]{1,50}", slug):
            raise ValueError(f"a monitor slug is 1-50 lowercase letters, digits, '-' or '_', got {slug[:60]!r}")
        return self._get_or_none(f"/api/0/organizations/{self.organization}/monitors/{slug}/")

    def _get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            body = _json(self._request("GET", path), path)
        except SentryApiError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(body, dict):
            raise SentryApiError(f"expected a JSON object from {path}, got {type(body).__name__}")
        return body

    def update_issue(self, issue_id: str, changes: dict[str, Any]) -> Issue:
        """PUT ``changes`` on exactly one issue through its own endpoint (no bulk, no search can be hit)."""
        (checked,) = check_issue_ids([issue_id])
        path = f"{self.issues_path}{checked}/"
        body = _json(self._request("PUT", path, json=changes), path)
        return body if isinstance(body, dict) else {}

    @property
    def rules_path(self) -> str:
        return f"/api/0/projects/{self.organization}/{self.project}/rules/"

    def list_rules(self) -> list[dict[str, Any]]:
        """The project's issue alert rules."""
        body = _json(self._request("GET", self.rules_path), self.rules_path)
        if not isinstance(body, list):
            raise SentryApiError(f"Sentry answered {self.rules_path} with {type(body).__name__}, expected a list")
        return [rule for rule in body if isinstance(rule, dict)]

    def create_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        body = _json(self._request("POST", self.rules_path, json=rule), self.rules_path)
        return body if isinstance(body, dict) else {}

    def update_rule(self, rule_id: str, rule: dict[str, Any]) -> dict[str, Any]:
        """Replace rule ``rule_id`` with ``rule`` (Sentry's PUT replaces the whole rule)."""
        if not str(rule_id).isdigit():
            raise ValueError(f"a rule id is a decimal number, got {rule_id!r}")
        path = f"{self.rules_path}{rule_id}/"
        body = _json(self._request("PUT", path, json=rule), path)
        return body if isinstance(body, dict) else {}

    def monitor_check_ins(self, slug: str) -> list[dict[str, Any]]:
        """A Crons monitor's latest check-ins, newest first (one page); an unknown monitor has none.

        Needs alerts:read or project:read. Sentry shows a check-in id as a dashed UUID, the SDK sends it hex.
        """
        if not _MONITOR_SLUG_RE.match(slug):
            raise ValueError(f"a monitor slug is lowercase letters, digits, '-' and '_', got {slug[:60]!r}")
        path = f"/api/0/organizations/{self.organization}/monitors/{slug}/checkins/"
        try:
            body = _json(self._request("GET", path), path)
        except SentryApiError as exc:
            if exc.status == 404:
                return []
            raise
        if not isinstance(body, list):
            raise SentryApiError(f"expected a JSON list of check-ins from {path}, got {type(body).__name__}")
        return [item for item in body if isinstance(item, dict)]

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
        """One call under the retry policy: 429s waited out, 5xx and transport errors retried, then the error."""

        def count_retry(_: RetryCallState) -> None:
            self.stats.retries += 1

        retrying = self.retry_policy.retrying(_retryable, _server_wait_s, sleep=self._pause, before_sleep=count_retry)
        return retrying(self._attempt, method, path, httpx.QueryParams(list(params or ())), json)

    def _attempt(self, method: str, path: str, params: httpx.QueryParams, json: Any) -> httpx.Response:
        self._wait_for_window(path)
        self.stats.requests += 1
        try:
            response = send_within(self._http, self._http.build_request(method, path, params=params, json=json))
        except httpx.TransportError as exc:
            raise SentryUnreachable(
                f"Sentry {method} {path} failed: {type(exc).__name__}: {exc}",
                # A mutation that may have reached Sentry has an unknown outcome; a refused connection has none.
                outcome_known=method == "GET" or isinstance(exc, httpx.ConnectError),
            ) from None
        self._remember_window(path, response)
        status = response.status_code
        if status < 400:
            return response
        if status == 429:
            self.stats.rate_limited += 1
            wait_s = self._rate_limit_wait_s(response)
            log.info("Sentry rate limit on %s %s, waiting %.2fs", method, path, wait_s)
            raise SentryRateLimited(
                f"Sentry kept rate-limiting {method} {path} (429: {_detail(response)})", wait_s=wait_s
            )
        if status in (401, 403):
            raise _auth_error(method, path, response)
        if status >= 500:
            raise SentryServerError(
                f"Sentry {method} {path} answered {status}: {_detail(response)}",
                status,
                retry_after_s=self._retry_after_s(response),
            )
        raise SentryApiError(f"Sentry {method} {path} answered {status}: {_detail(response)}", status)

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


def _retryable(error: BaseException) -> bool:
    return isinstance(error, SentryRateLimited | SentryServerError | SentryUnreachable)


def _server_wait_s(error: BaseException) -> float | None:
    if isinstance(error, SentryRateLimited):
        return error.wait_s
    return error.retry_after_s if isinstance(error, SentryServerError) else None


def _json(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise SentryApiError(f"Sentry answered {path} with a body that is not JSON: {response.text[:200]!r}") from None


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
    if "/rules/" in path:
        scope, what = ("alerts:read", "list alert rules") if method == "GET" else ("alerts:write", "change alert rules")
    elif "/monitors/" in path:
        scope, what = "alerts:read", "read Crons check-ins (project:read also covers it)"
    elif path.startswith("/api/0/projects/") and not path.endswith("/issues/"):
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


def sentry_api_from_settings(settings: Settings, **options: Any) -> SentryApi:
    """A client for the configured project; SentryApiNotConfigured names what is missing."""
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
        raise SentryApiNotConfigured(missing)
    assert settings.sentry_auth_token is not None
    return SentryApi(
        settings.sentry_api_url,
        settings.sentry_auth_token.get_secret_value(),
        str(settings.sentry_organization),
        str(settings.sentry_project),
        **options,
    )
