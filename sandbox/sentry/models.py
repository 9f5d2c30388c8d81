"""In-memory records of the Sentry sandbox and the timestamp conventions of Sentry's API."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ISSUE_STATUSES = ("unresolved", "resolved", "ignored")
_SUBSTATUS = {"unresolved": "ongoing", "ignored": "archived_until_escalating"}
# Sentry's GroupSubStatus values, by the status they belong to (resolved issues have none).
SUBSTATUSES = {
    "unresolved": ("ongoing", "escalating", "regressed", "new"),
    "ignored": ("archived_until_escalating", "archived_until_condition_met", "archived_forever"),
    "resolved": (None,),
}
# Sentry's LOG_LEVELS: what the numeric `level` of a LevelFilter compares against.
LEVEL_NUMBERS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "fatal": 50}


def substatus_for(status: str) -> str | None:
    """The substatus Sentry reports after a manual status change (resolved issues have none)."""
    return _SUBSTATUS.get(status)


def now_ms() -> int:
    return int(time.time() * 1000)


def to_iso(ms: int) -> str:
    """Epoch milliseconds → ISO 8601 UTC with ``Z``, the form Sentry's API returns."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: Any) -> int | None:
    """An SDK/API timestamp (epoch seconds, or ISO 8601 with or without zone) → epoch ms, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value * 1000)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # Sentry reads naive timestamps as UTC
        return int(parsed.timestamp() * 1000)
    return None


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    slug: str
    org: str

    def as_api(self) -> dict[str, Any]:
        return {"id": str(self.id), "slug": self.slug, "name": self.slug, "platform": "python"}


@dataclass
class Issue:
    """One Sentry group. ``group_hash`` is None for seeded issues: no event ever joins them."""

    id: int
    group_hash: str | None
    title: str
    culprit: str
    level: str
    issue_type: str
    metadata: dict[str, str]
    first_seen_ms: int
    last_seen_ms: int
    status: str = "unresolved"
    substatus: str | None = "new"
    count: int = 0
    user_count: int = 0
    num_comments: int = 0
    is_public: bool = False
    is_bookmarked: bool = False
    has_seen: bool = False
    is_unhandled: bool = False
    assigned_to: dict[str, Any] | None = None  # Sentry's serialized actor: {"type", "id", "name", "email"}
    environment: str | None = None  # most recent event's environment (a sandbox convenience field)
    environments: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    tags: dict[str, Counter[str]] = field(default_factory=dict)

    def sort_key(self, field_name: str) -> tuple[int, int]:
        """The total order issue lists use: the sort timestamp, then the id (both descending)."""
        return (self.first_seen_ms if field_name == "new" else self.last_seen_ms, self.id)

    def has_tag(self, key: str, value: str) -> bool:
        return self.tags.get(key, Counter())[value] > 0

    def add_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.tags.setdefault(key, Counter())[value] += 1


@dataclass
class StoredEvent:
    """Everything that arrived for one envelope item, kept verbatim for tests to inspect."""

    event_id: str
    type: str  # "event" | "transaction" | "check_in" (the envelope item type)
    payload: dict[str, Any]
    envelope_headers: dict[str, Any]
    item_headers: dict[str, Any]
    request_headers: dict[str, str]
    public_key: str
    received_ms: int
    issue_id: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def as_control(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "issue_id": None if self.issue_id is None else str(self.issue_id),
            "received": to_iso(self.received_ms),
            "public_key": self.public_key,
            "tags": self.tags,
            "payload": self.payload,
            "envelope_headers": self.envelope_headers,
            "item_headers": self.item_headers,
            "request_headers": self.request_headers,
        }


@dataclass(frozen=True)
class User:
    """An organization member, as Sentry's user serializer shows one."""

    id: str
    name: str
    username: str
    email: str

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "username": self.username,
            "email": self.email,
            "avatarUrl": None,
            "isActive": True,
            "hasPasswordAuth": False,
            "isManaged": False,
        }

    def as_actor(self) -> dict[str, Any]:
        """What ``assignedTo`` and webhook ``assignee`` carry."""
        return {"type": "user", "id": self.id, "name": self.name, "email": self.email}


# The owner of the sandbox's API token: Web API mutations are made by this member.
TOKEN_USER = User(id="1", name="Sandbox User", username="sandbox", email="sandbox@example.com")


@dataclass
class Comment:
    """An issue note (Sentry's ``Activity`` of type ``note``)."""

    id: int
    issue_id: int
    text: str
    user: User | None
    created_ms: int

    def as_api(self) -> dict[str, Any]:
        """Sentry's activity serialization, as ``GET /issues/{id}/comments/`` lists it."""
        return {
            "id": str(self.id),
            "user": None if self.user is None else self.user.as_api(),
            "sentry_app": None,
            "type": "note",
            "data": {"text": self.text},
            "dateCreated": to_iso(self.created_ms),
        }
