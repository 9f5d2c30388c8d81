"""The subset of Sentry's issue search language the sandbox understands.

Terms are whitespace-separated and all must match (``OR``/``AND`` are rejected with Sentry's own message):

- ``is:unresolved|resolved|ignored`` (``archived`` is Sentry's newer name for ``ignored``)
- ``level:X``, ``environment:X``
- ``lastSeen:+7d`` (older than), ``lastSeen:-7d`` (newer than); ``age:``/``firstSeen:`` the same on
  first seen; units ``m h d w``
- ``key:value`` / ``!key:value`` matched against the tags of any event in the issue; quotes allowed
- anything else is free text matched case-insensitively against the title
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .models import Issue

Predicate = Callable[[Issue], bool]

_TOKEN = re.compile(r'(!?)([A-Za-z_][\w.\-]*):("(?:[^"\\]|\\.)*"|\S*)|"((?:[^"\\]|\\.)*)"|(\S+)')
_RELATIVE = re.compile(r"^([+-])(\d+)([mhdw])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_STATUS_ALIASES = {
    "unresolved": "unresolved",
    "resolved": "resolved",
    "ignored": "ignored",
    "archived": "ignored",
}
_TIME_KEYS = {"lastSeen": "last", "age": "first", "firstSeen": "first"}


class QueryError(ValueError):
    """The query cannot be parsed; surfaced as a 400 like Sentry's."""


@dataclass(frozen=True)
class IssueQuery:
    predicates: tuple[Predicate, ...]

    def matches(self, issue: Issue) -> bool:
        return all(predicate(issue) for predicate in self.predicates)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _status_predicate(value: str) -> Predicate:
    status = _STATUS_ALIASES.get(value)
    if status is None:
        raise QueryError(f"Invalid value for 'is' search: {value!r} (sandbox supports {sorted(_STATUS_ALIASES)})")
    return lambda issue: issue.status == status


def _time_predicate(key: str, value: str, now_ms: int) -> Predicate:
    match = _RELATIVE.match(value)
    if match is None:
        raise QueryError(f"Invalid format for {key!r}: {value!r}; expected e.g. +14d or -24h")
    sign, amount, unit = match.groups()
    cutoff = now_ms - int(amount) * _UNIT_MS[unit]
    which = _TIME_KEYS[key]

    def seen(issue: Issue) -> int:
        return issue.last_seen_ms if which == "last" else issue.first_seen_ms

    # "+" reads as "more than N ago" (older), "-" as "less than N ago" (newer), as in Sentry.
    if sign == "+":
        return lambda issue: seen(issue) < cutoff
    return lambda issue: seen(issue) >= cutoff


def _filter_predicate(key: str, value: str, now_ms: int) -> Predicate:
    if key == "is":
        return _status_predicate(value)
    if key in _TIME_KEYS:
        return _time_predicate(key, value, now_ms)
    if key == "level":
        return lambda issue: issue.level == value
    if key == "environment":
        return lambda issue: value in issue.environments
    return lambda issue: issue.has_tag(key, value)


def _negated(predicate: Predicate) -> Predicate:
    return lambda issue: not predicate(issue)


def _text_predicate(text: str) -> Predicate:
    needle = text.lower()
    return lambda issue: needle in issue.title.lower()


def parse_query(query: str, now_ms: int) -> IssueQuery:
    predicates: list[Predicate] = []
    for match in _TOKEN.finditer(query):
        negate, key, value, quoted_text, bare_text = match.groups()
        if key is not None:
            predicate = _filter_predicate(key, _unquote(value), now_ms)
            predicates.append(_negated(predicate) if negate else predicate)
        elif quoted_text is not None:
            predicates.append(_text_predicate(re.sub(r"\\(.)", r"\1", quoted_text)))
        elif bare_text in ("OR", "AND"):
            raise QueryError('Boolean statements containing "OR" or "AND" are not supported in this search')
        else:
            predicates.append(_text_predicate(bare_text))
    return IssueQuery(tuple(predicates))
