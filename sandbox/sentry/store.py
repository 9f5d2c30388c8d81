"""The sandbox's in-memory state: issues, events, check-ins, alert rules, raw bodies and the request log.

All access happens on the server's event loop and no handler awaits in the middle of a mutation,
so no locking is needed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .grouping import event_tags, summarize, user_identity
from .limits import FaultQueue, RateLimiter
from .models import (
    ISSUE_STATUSES,
    Issue,
    ProjectInfo,
    StoredEvent,
    now_ms,
    parse_timestamp,
    substatus_for,
    to_iso,
)
from .query import IssueQuery

ALL_SCOPES = frozenset(
    {
        "org:read",
        "project:read",
        "project:write",
        "project:admin",
        "event:read",
        "event:write",
        "event:admin",
        "alerts:read",
        "alerts:write",
    }
)
SEED_FIELDS = frozenset(
    {
        "title",
        "level",
        "status",
        "environment",
        "tags",
        "numComments",
        "firstSeen",
        "lastSeen",
        "count",
        "userCount",
        "culprit",
        "type",
        "value",
        "isPublic",
    }
)
RULE_REQUIRED_LISTS = ("actions", "conditions")


@dataclass(frozen=True)
class SandboxOptions:
    """Start-up configuration; ``POST /_sandbox/reset`` returns to exactly this."""

    org: str = "sandbox-org"
    project_slug: str = "sandbox-project"
    project_id: int = 1
    token: str = "sandbox-token"  # noqa: S105 - a well-known sandbox token, not a secret
    public_keys: frozenset[str] = frozenset()  # empty: any public key is accepted (and recorded)
    rate_limits: Mapping[str, int] = field(default_factory=dict)
    concurrent_limit: int = 25


@dataclass
class RawEnvelope:
    path: str
    received_ms: int
    content_encoding: str | None
    body: bytes

    def as_control(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "received": to_iso(self.received_ms),
            "content_encoding": self.content_encoding,
            "body": self.body.decode("utf-8", errors="replace"),
        }


class SeedError(ValueError):
    """A seeded issue spec is invalid (→ 400 from the control API)."""


class SentryState:
    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.project = ProjectInfo(id=options.project_id, slug=options.project_slug, org=options.org)
        self.issues: dict[int, Issue] = {}
        self.issue_by_hash: dict[str, int] = {}
        self.events: list[StoredEvent] = []
        self.events_by_issue: dict[int, list[StoredEvent]] = {}
        self.raw_envelopes: list[RawEnvelope] = []
        self.item_counts: Counter[str] = Counter()
        self.rules: dict[int, dict[str, Any]] = {}
        self.request_log: list[dict[str, Any]] = []
        self.tokens: dict[str, frozenset[str]] = {options.token: ALL_SCOPES}
        self.public_keys: frozenset[str] = options.public_keys
        self.rate_limiter = RateLimiter(limits=dict(options.rate_limits), concurrent_limit=options.concurrent_limit)
        self.faults = FaultQueue()
        self._next_issue_id = 1
        self._next_rule_id = 1

    # ---- ingestion -------------------------------------------------------------------------------

    def store_error_event(self, stored: StoredEvent) -> Issue:
        """Group an error/message event into its issue, creating or regressing the issue as Sentry does."""
        summary = summarize(stored.payload)
        seen_ms = parse_timestamp(stored.payload.get("timestamp")) or stored.received_ms
        known_id = self.issue_by_hash.get(summary.group_hash)
        issue = None if known_id is None else self.issues.get(known_id)
        if issue is None:
            issue = Issue(
                id=self._take_issue_id(),
                group_hash=summary.group_hash,
                title=summary.title,
                culprit=summary.culprit,
                level=str(stored.payload.get("level") or "error"),
                issue_type=summary.issue_type,
                metadata=summary.metadata,
                first_seen_ms=seen_ms,
                last_seen_ms=seen_ms,
            )
            self.issues[issue.id] = issue
            self.issue_by_hash[summary.group_hash] = issue.id
        elif issue.status == "resolved":
            issue.status, issue.substatus = "unresolved", "regressed"
        issue.title, issue.culprit, issue.metadata = summary.title, summary.culprit, summary.metadata
        issue.level = str(stored.payload.get("level") or "error")
        issue.is_unhandled = issue.is_unhandled or summary.is_unhandled
        issue.first_seen_ms = min(issue.first_seen_ms, seen_ms)
        issue.last_seen_ms = max(issue.last_seen_ms, seen_ms)
        issue.count += 1
        environment = stored.payload.get("environment")
        if environment:
            issue.environment = str(environment)
            issue.environments.add(str(environment))
        identity = user_identity(stored.payload)
        if identity is not None and identity not in issue.users:
            issue.users.add(identity)
            issue.user_count += 1
        stored.tags = event_tags(stored.payload)
        issue.add_tags(stored.tags)
        stored.issue_id = issue.id
        self.events.append(stored)
        self.events_by_issue.setdefault(issue.id, []).append(stored)
        return issue

    def store_other(self, stored: StoredEvent) -> None:
        """Transactions and check-ins are kept but never grouped into issues."""
        stored.tags = event_tags(stored.payload) if stored.type == "transaction" else {}
        self.events.append(stored)

    @property
    def check_ins(self) -> list[StoredEvent]:
        return [e for e in self.events if e.type == "check_in"]

    # ---- issues ----------------------------------------------------------------------------------

    def _take_issue_id(self) -> int:
        issue_id = self._next_issue_id
        self._next_issue_id += 1
        return issue_id

    def short_id(self, issue: Issue) -> str:
        return f"{self.project.slug.upper()}-{_base36(issue.id)}"

    def search(self, query: IssueQuery, environments: Iterable[str], sort: str) -> list[Issue]:
        """Matching issues in list order: sort timestamp descending, then id descending."""
        wanted = set(environments)
        matched = [
            issue
            for issue in self.issues.values()
            if query.matches(issue) and (not wanted or issue.environments & wanted)
        ]
        matched.sort(key=lambda issue: issue.sort_key(sort), reverse=True)
        return matched

    def update_issues(self, issues: Iterable[Issue], changes: Mapping[str, Any]) -> None:
        for issue in issues:
            if "status" in changes:
                issue.status = changes["status"]
                issue.substatus = substatus_for(issue.status)
            if "isPublic" in changes:
                issue.is_public = bool(changes["isPublic"])
            if "isBookmarked" in changes:
                issue.is_bookmarked = bool(changes["isBookmarked"])
            if "hasSeen" in changes:
                issue.has_seen = bool(changes["hasSeen"])

    def delete_issues(self, issues: Iterable[Issue]) -> None:
        """Forget issues; a later event with the same hash starts a new issue, as after a Sentry delete."""
        for issue in list(issues):
            self.issues.pop(issue.id, None)
            if issue.group_hash is not None:
                self.issue_by_hash.pop(issue.group_hash, None)

    def seed_issues(self, specs: list[Any]) -> list[Issue]:
        """Create issues directly (no events). All specs are validated before any is stored."""
        now = now_ms()
        built = [self._issue_from_seed(index, spec, now) for index, spec in enumerate(specs)]
        for issue in built:
            issue.id = self._take_issue_id()
            self.issues[issue.id] = issue
        return built

    def _issue_from_seed(self, index: int, spec: Any, now: int) -> Issue:
        if not isinstance(spec, dict):
            raise SeedError(f"issue #{index}: expected an object")
        unknown = set(spec) - SEED_FIELDS
        if unknown:
            raise SeedError(f"issue #{index}: unknown fields {sorted(unknown)}; known: {sorted(SEED_FIELDS)}")
        status = spec.get("status", "unresolved")
        if status not in ISSUE_STATUSES:
            raise SeedError(f"issue #{index}: status must be one of {ISSUE_STATUSES}")
        first_seen = _seed_time(index, spec, "firstSeen", now)
        last_seen = _seed_time(index, spec, "lastSeen", max(now, first_seen))
        exc_type, value = spec.get("type"), str(spec.get("value", ""))
        title = str(spec.get("title") or (f"{exc_type}: {value}" if exc_type else f"Seeded issue {index}"))
        environment = spec.get("environment", "production")
        tags = {str(k): str(v) for k, v in (spec.get("tags") or {}).items()}
        issue = Issue(
            id=0,
            group_hash=None,
            title=title,
            culprit=str(spec.get("culprit", "")),
            level=str(spec.get("level", "error")),
            issue_type="error" if exc_type else "default",
            metadata={"type": str(exc_type), "value": value} if exc_type else {"title": title},
            first_seen_ms=first_seen,
            last_seen_ms=last_seen,
            status=status,
            substatus=substatus_for(status),
            count=int(spec.get("count", 1)),
            user_count=int(spec.get("userCount", 0)),
            num_comments=int(spec.get("numComments", 0)),
            is_public=bool(spec.get("isPublic", False)),
            environment=environment,
            environments={environment} if environment else set(),
        )
        issue.add_tags({"level": issue.level, **({"environment": environment} if environment else {}), **tags})
        return issue

    # ---- alert rules -----------------------------------------------------------------------------

    def save_rule(self, body: Mapping[str, Any], rule_id: int | None = None) -> dict[str, Any]:
        if rule_id is None:
            rule_id = self._next_rule_id
            self._next_rule_id += 1
            created = to_iso(now_ms())
        else:
            created = self.rules[rule_id]["dateCreated"]
        rule = {
            "actionMatch": "all",
            "filterMatch": "all",
            "filters": [],
            "frequency": 30,
            "environment": None,
            "owner": None,
            "status": "active",
            **body,
            "id": str(rule_id),
            "dateCreated": created,
            "projects": [self.project.slug],
        }
        self.rules[rule_id] = rule
        return rule

    # ---- misc ------------------------------------------------------------------------------------

    def configure(self, config: Mapping[str, Any]) -> None:
        """Apply a ``POST /_sandbox/config`` body (already validated by the caller)."""
        if "rate_limits" in config:
            self.rate_limiter.limits = {str(k): int(v) for k, v in config["rate_limits"].items()}
        if "concurrent_limit" in config:
            self.rate_limiter.concurrent_limit = int(config["concurrent_limit"])
        if "tokens" in config:
            self.tokens = {
                str(token): ALL_SCOPES if scopes is None else frozenset(map(str, scopes))
                for token, scopes in config["tokens"].items()
            }
        if "public_keys" in config:
            self.public_keys = frozenset(map(str, config["public_keys"]))
        if "faults" in config:
            self.faults.faults.extend(config["faults"])

    def config_snapshot(self) -> dict[str, Any]:
        return {
            "org": self.project.org,
            "project": self.project.slug,
            "project_id": self.project.id,
            "rate_limits": self.rate_limiter.limits,
            "concurrent_limit": self.rate_limiter.concurrent_limit,
            "tokens": {token: sorted(scopes) for token, scopes in self.tokens.items()},
            "public_keys": sorted(self.public_keys),
            "faults": [fault.as_json() for fault in self.faults.faults],
        }


def new_event_id() -> str:
    return uuid.uuid4().hex


def _seed_time(index: int, spec: Mapping[str, Any], key: str, default: int) -> int:
    if key not in spec:
        return default
    parsed = parse_timestamp(spec[key])
    if parsed is None:
        raise SeedError(f"issue #{index}: {key} must be ISO 8601 or epoch seconds, got {spec[key]!r}")
    return parsed


def _base36(number: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = digits[rem] + out
        if number == 0:
            return out
