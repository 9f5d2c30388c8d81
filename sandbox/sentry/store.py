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

from .crons import Monitor, record_check_in
from .grouping import event_tags, summarize, user_identity
from .limits import FaultQueue, RateLimiter
from .models import (
    ISSUE_STATUSES,
    LEVEL_NUMBERS,
    SUBSTATUSES,
    TOKEN_USER,
    Comment,
    Issue,
    ProjectInfo,
    StoredEvent,
    User,
    now_ms,
    parse_timestamp,
    substatus_for,
    to_iso,
)
from .query import IssueQuery
from .webhooks import WebhookSender

ALL_SCOPES = frozenset(
    {
        "org:read",
        "org:write",
        "org:admin",
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
# What POST /_sandbox/issues/{id} may change behind a client's back.
PATCH_FIELDS = frozenset({"status", "substatus", "level", "title", "numComments", "lastSeen", "environment", "tags"})
ISSUE_LEVELS = (*LEVEL_NUMBERS, "sample")
# The sandbox integration's installation (what a NotifyEventSentryAppAction names) and client secret.
INSTALLATION_UUID = "5f6a2e1c-7b3d-4c8e-9a10-2b4c6d8e0f12"
WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - the sandbox's default client secret, not a secret


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
    webhook_url: str | None = None  # where the internal integration's webhooks go; None: none are sent
    webhook_secret: str = WEBHOOK_SECRET  # the integration's client secret: the signature key
    installation_uuid: str = INSTALLATION_UUID


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
    """A seeded issue spec (or a control-API patch) is invalid (→ 400 from the control API)."""


@dataclass(frozen=True)
class Ingested:
    """An error event stored into its issue, and what that did to the issue."""

    issue: Issue
    is_new: bool
    is_regression: bool
    is_new_in_environment: bool


@dataclass(frozen=True)
class Transition:
    """One issue's change through an update, for the workflow webhooks it triggers."""

    issue: Issue
    old_status: str
    assigned: bool = False


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
        self.comments: dict[int, list[Comment]] = {}
        self.monitors: dict[str, Monitor] = {}
        self.emails: list[dict[str, Any]] = []  # NotifyEmailAction firings: recorded, never sent
        self.rule_fired_ms: dict[tuple[int, int], int] = {}  # (rule id, issue id) -> last firing
        self.dropped_envelopes = 0
        self.webhooks = WebhookSender(options.webhook_url, options.webhook_secret, options.installation_uuid)
        self._next_issue_id = 1
        self._next_rule_id = 1
        self._next_comment_id = 1

    # ---- ingestion -------------------------------------------------------------------------------

    def store_error_event(self, stored: StoredEvent) -> Ingested:
        """Group an error/message event into its issue, creating or regressing the issue as Sentry does."""
        summary = summarize(stored.payload)
        seen_ms = parse_timestamp(stored.payload.get("timestamp")) or stored.received_ms
        known_id = self.issue_by_hash.get(summary.group_hash)
        issue = None if known_id is None else self.issues.get(known_id)
        is_new = issue is None
        is_regression = False
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
            is_regression = True
        issue.title, issue.culprit, issue.metadata = summary.title, summary.culprit, summary.metadata
        issue.level = str(stored.payload.get("level") or "error")
        issue.is_unhandled = issue.is_unhandled or summary.is_unhandled
        issue.first_seen_ms = min(issue.first_seen_ms, seen_ms)
        issue.last_seen_ms = max(issue.last_seen_ms, seen_ms)
        issue.count += 1
        environment = stored.payload.get("environment")
        new_in_environment = False
        if environment:
            new_in_environment = str(environment) not in issue.environments
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
        return Ingested(issue, is_new, is_regression, new_in_environment)

    def store_other(self, stored: StoredEvent) -> None:
        """Transactions and check-ins are kept but never grouped into issues; check-ins feed Crons monitors."""
        stored.tags = event_tags(stored.payload) if stored.type == "transaction" else {}
        self.events.append(stored)
        if stored.type == "check_in":
            record_check_in(self.monitors, stored.payload, stored.received_ms)

    def find_event(self, event_id: str, *, errors_only: bool = False) -> StoredEvent | None:
        """A stored event or transaction by id (never a check-in), the latest if ids repeat."""
        wanted = event_id.replace("-", "").lower()
        kinds = ("event",) if errors_only else ("event", "transaction")
        return next((e for e in reversed(self.events) if e.type in kinds and e.event_id == wanted), None)

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

    def update_issues(self, issues: Iterable[Issue], changes: Mapping[str, Any]) -> list[Transition]:
        """Apply a Web API PUT; returns what changed for each issue whose status or assignee moved."""
        transitions = []
        for issue in issues:
            old_status, old_assignee = issue.status, issue.assigned_to
            if "status" in changes:
                issue.status = changes["status"]
                issue.substatus = substatus_for(issue.status)
            if "assignedTo" in changes:
                issue.assigned_to = changes["assignedTo"]
            if "isPublic" in changes:
                issue.is_public = bool(changes["isPublic"])
            if "isBookmarked" in changes:
                issue.is_bookmarked = bool(changes["isBookmarked"])
            if "hasSeen" in changes:
                issue.has_seen = bool(changes["hasSeen"])
            assigned = issue.assigned_to is not None and issue.assigned_to != old_assignee
            if issue.status != old_status or assigned:
                transitions.append(Transition(issue, old_status, assigned))
        return transitions

    def patch_issue(self, issue: Issue, spec: Any) -> Transition | None:
        """Change an issue as Sentry itself would (control API); all fields are checked before any is set."""
        if not isinstance(spec, dict):
            raise SeedError("expected a JSON object")
        unknown = set(spec) - PATCH_FIELDS
        if unknown:
            raise SeedError(f"unknown fields {sorted(unknown)}; known: {sorted(PATCH_FIELDS)}")
        status = spec.get("status", issue.status)
        if status not in ISSUE_STATUSES:
            raise SeedError(f"status must be one of {ISSUE_STATUSES}")
        substatus = spec.get("substatus", _automatic_substatus(issue.status, status, issue.substatus))
        if substatus not in SUBSTATUSES[status]:
            raise SeedError(f"substatus for {status} must be one of {list(SUBSTATUSES[status])}")
        level = spec.get("level", issue.level)
        if level not in ISSUE_LEVELS:
            raise SeedError(f"level must be one of {list(ISSUE_LEVELS)}")
        title = spec.get("title", issue.title)
        comments = spec.get("numComments", issue.num_comments)
        if not isinstance(title, str) or not title:
            raise SeedError("title must be a non-empty string")
        if not isinstance(comments, int) or isinstance(comments, bool) or comments < 0:
            raise SeedError("numComments must be an integer >= 0")
        last_seen = issue.last_seen_ms if "lastSeen" not in spec else parse_timestamp(spec["lastSeen"])
        if last_seen is None:
            raise SeedError(f"lastSeen must be ISO 8601 or epoch seconds, got {spec['lastSeen']!r}")
        environment, tags = spec.get("environment"), spec.get("tags") or {}
        if environment is not None and not isinstance(environment, str):
            raise SeedError("environment must be a string")
        if not isinstance(tags, dict):
            raise SeedError("tags must be an object of key: value")
        old_status = issue.status
        issue.status, issue.substatus, issue.level, issue.title = status, substatus, level, title
        issue.num_comments, issue.last_seen_ms = comments, last_seen
        if environment:
            issue.environment = environment
            issue.environments.add(environment)
        issue.add_tags({str(k): str(v) for k, v in tags.items()})
        return Transition(issue, old_status) if status != old_status else None

    def add_comment(self, issue: Issue, text: str, user: User | None) -> Comment:
        comment = Comment(self._next_comment_id, issue.id, text, user, now_ms())
        self._next_comment_id += 1
        self.comments.setdefault(issue.id, []).append(comment)
        issue.num_comments += 1
        return comment

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

    def save_rule(self, cleaned: Mapping[str, Any], rule_id: int | None = None) -> dict[str, Any]:
        """Store a validated rule (rules.validate_rule) in Sentry's rule serialization; a PUT replaces it."""
        last_triggered = None
        if rule_id is None:
            rule_id = self._next_rule_id
            self._next_rule_id += 1
            created = to_iso(now_ms())
        else:
            created, last_triggered = self.rules[rule_id]["dateCreated"], self.rules[rule_id]["lastTriggered"]
        rule = {
            **cleaned,
            "id": str(rule_id),
            "dateCreated": created,
            "createdBy": {"id": int(TOKEN_USER.id), "name": TOKEN_USER.name, "email": TOKEN_USER.email},
            "projects": [self.project.slug],
            "status": "active",
            "snooze": False,
            "lastTriggered": last_triggered,
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
        if "webhook_url" in config:
            self.webhooks.url = config["webhook_url"] or None
        if "webhook_secret" in config:
            self.webhooks.secret = str(config["webhook_secret"])

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
            "webhook_url": self.webhooks.url,
            "webhook_secret_set": bool(self.webhooks.secret),
            "installation_uuid": self.webhooks.installation_uuid,
        }


def _automatic_substatus(old: str, new: str, current: str | None) -> str | None:
    """The substatus Sentry's own transitions leave: a resolved issue coming back has regressed,
    an archived one coming back is escalating; other moves get the manual default."""
    if new == old:
        return current
    if new == "unresolved":
        return {"resolved": "regressed", "ignored": "escalating"}.get(old, "ongoing")
    return substatus_for(new)


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
