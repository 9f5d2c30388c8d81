"""Turn cleanup criteria into Sentry searches and the searches' answers into IssueFacts.

Sentry's issue list does not carry every tag of every event, nor every environment an issue was seen
in, so those facts come from searches rather than from the issue JSON:

- tagged ``test=true``: the issue is in the answer to a ``test:true`` search;
- a test title: the free-text searches of ``TITLE_SEARCH_TERMS`` find candidates, and the exact
  patterns of the policy decide (search noise is dropped);
- production: the issue is in the answer to the same search restricted to the production
  environments. The project's environment names are compared case-insensitively with
  SENTRY_CLEANUP_PRODUCTION_ENVIRONMENTS ("Production" is production), since Sentry's own
  environment filter is exact. Only issues whose test status rests on their title need it in a
  test-only run (a tagged issue is a test issue anywhere).

Every search sends an explicit ``query`` (so all statuses are included) and the project id; an issue
of another project in an answer is dropped, never acted on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from worker.cleanup.policy import (
    TEST_TAG_QUERY,
    TITLE_SEARCH_TERMS,
    Criteria,
    IssueFacts,
    facts_from_api,
    has_test_title,
)
from worker.sentry_api import Issue, SentryApi, SentryApiError

log = logging.getLogger(__name__)

ListingProgress = Callable[[str, int], None]  # (search, issues so far)


@dataclass
class Listing:
    """The issues a run found, their facts, and how many issues the searches returned in total."""

    facts: list[IssueFacts] = field(default_factory=list)
    snapshots: dict[str, Issue] = field(default_factory=dict)
    listed: int = 0
    searches: int = 0
    foreign: int = 0
    production_environments: list[str] = field(default_factory=list)


def _quote(term: str) -> str:
    return '"' + term.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _search(
    api: SentryApi,
    terms: Sequence[str],
    environments: Sequence[str],
    listing: Listing,
    progress: ListingProgress | None,
) -> dict[str, Issue]:
    query = " ".join(terms)
    project_id = api.project_id()
    found: dict[str, Issue] = {}
    for page in api.iter_issue_pages(query, environments):
        for issue in page:
            listing.listed += 1
            owner = str((issue.get("project") or {}).get("id", project_id))
            if owner != project_id:
                listing.foreign += 1
                continue
            found.setdefault(str(issue["id"]), issue)
        if progress:
            progress(query, len(found))
    listing.searches += 1
    return found


def production_environment_names(api: SentryApi, configured: Sequence[str]) -> list[str]:
    """The project's environments that are production, matched case-insensitively with ``configured``."""
    wanted = {name.lower() for name in configured}
    try:
        existing = api.environments()
    except SentryApiError as exc:  # e.g. the token lacks project:read: the configured spellings only, then
        log.warning("Cannot list the project's environments (%s); production is exactly %s", exc, sorted(configured))
        existing = []
    return sorted({*configured, *(name for name in existing if name.lower() in wanted)})


def gather(
    api: SentryApi,
    criteria: Criteria,
    *,
    environment: str | None,
    production_environments: Sequence[str],
    progress: ListingProgress | None = None,
) -> Listing:
    """Search Sentry for the issues ``criteria`` select and establish the facts the policy needs."""
    listing = Listing()
    scope = [environment] if environment else []
    age = [f"lastSeen:+{criteria.older_than_days}d"] if criteria.older_than_days is not None else []
    production_names = production_environment_names(api, production_environments)

    tagged = _search(api, [TEST_TAG_QUERY, *age], scope, listing, progress)
    candidates: dict[str, Issue] = dict(tagged)
    production: set[str] = set()
    if criteria.test_only:
        titled: dict[str, Issue] = {}
        for term in TITLE_SEARCH_TERMS:
            # Tagged issues are already known: excluding them keeps the title searches small.
            found = _search(api, [_quote(term), f"!{TEST_TAG_QUERY}", *age], scope, listing, progress)
            titled.update({i: issue for i, issue in found.items() if has_test_title(str(issue.get("title", "")))})
        candidates.update(titled)
        if titled:
            # A title alone makes a test issue only outside production (IssueFacts.is_test): look them up there.
            for term in TITLE_SEARCH_TERMS:
                terms = [_quote(term), f"!{TEST_TAG_QUERY}", *age]
                production |= set(_search(api, terms, production_names, listing, progress))
    else:
        candidates.update(_search(api, age, scope, listing, progress))
        production = set(_search(api, age, production_names, listing, progress))

    for issue_id, issue in candidates.items():
        listing.facts.append(
            facts_from_api(issue, tagged_test=issue_id in tagged, in_production=issue_id in production)
        )
        listing.snapshots[issue_id] = issue
    listing.production_environments = production_names
    if listing.foreign:
        log.warning("Sentry returned %d issues of other projects; they were ignored", listing.foreign)
    return listing
