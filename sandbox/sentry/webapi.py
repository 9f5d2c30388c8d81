"""Sentry Web API (``/api/0/``): issues, comments, events, the project, alert rules and Crons monitors,
behind bearer tokens, per-endpoint rate limits and the injected fault queue (see apibase).

Endpoint names (used by ``rate_limits`` and ``faults`` in the control API): ``org-issues``,
``project-issues``, ``issue``, ``issue-comments``, ``issue-events``, ``project-event``, ``eventids``,
``project``, ``rules``, ``rule``, ``monitors``, ``monitor``, ``monitor-checkins``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import cronapi, ruleapi
from .apibase import ApiError, api_route, check_org_and_project, cursor_param, int_param, read_json
from .models import ISSUE_STATUSES, TOKEN_USER, Issue, StoredEvent, now_ms
from .notifications import after_transitions
from .pagination import link_header, paginate
from .query import QueryError, parse_query
from .responses import NOT_FOUND, base_url
from .serialize import event_to_api, issue_to_api
from .store import SentryState

MAX_LIST_LIMIT = 100
BULK_MUTATION_LIMIT = 1000  # Sentry's own cap, for explicit ids and for id-less searches alike
SORTS = ("date", "new")
BOOLEAN_ISSUE_FIELDS = ("isPublic", "isBookmarked", "hasSeen")
EVENT_ID = re.compile(
    r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
INVALID_EVENT_ID = (
    "Event ID must be a valid UUID hex (32-36 characters long, containing only digits, dashes, or a-f characters)"
)
# The one team of the sandbox organization, for `assignedTo: "team:1"`.
TEAM_ACTOR = {"type": "team", "id": "1", "name": "sandbox-team"}

# Sentry's permission classes: a request needs any one of the scopes listed for its method.
_READ, _WRITE, _ADMIN = "event:read", "event:write", "event:admin"
EVENT_SCOPES: Mapping[str, frozenset[str]] = {
    "GET": frozenset({_READ, _WRITE, _ADMIN}),
    "PUT": frozenset({_WRITE, _ADMIN}),
    "DELETE": frozenset({_ADMIN}),
}
PROJECT_SCOPES: Mapping[str, frozenset[str]] = {"GET": frozenset({"project:read", "project:write", "project:admin"})}
ORG_SCOPES: Mapping[str, frozenset[str]] = {"GET": frozenset({"org:read", "org:write", "org:admin"})}


def _event_id(raw: str) -> str | None:
    """Sentry's normalize_event_id: 32 hex digits, dashes allowed, lower-cased; None if not an id."""
    return raw.replace("-", "").lower() if EVENT_ID.match(raw) else None


def _search(request: Request, state: SentryState) -> tuple[list[Issue], str]:
    """The issues the request's ``query``/``environment``/``sort`` select, in list order."""
    sort = request.query_params.get("sort", "date")
    if sort not in SORTS:
        raise ApiError(400, f"Invalid sort {sort!r}; the sandbox supports {list(SORTS)}")
    # An absent query means "is:unresolved", exactly like Sentry; `query=` (empty) means everything.
    query_text = request.query_params.get("query", "is:unresolved").strip()
    try:
        query = parse_query(query_text, now_ms())
    except QueryError as exc:
        raise ApiError(400, f"Your search query could not be parsed: {exc}") from None
    return state.search(query, request.query_params.getlist("environment"), sort), sort


def _issue(request: Request, state: SentryState) -> Issue:
    check_org_and_project(request, state)
    try:
        issue = state.issues.get(int(request.path_params["issue_id"]))
    except ValueError:
        issue = None
    if issue is None:
        raise ApiError(404, NOT_FOUND)
    return issue


def _assignee(value: Any) -> dict[str, Any] | None:
    """``assignedTo``: ``user:<id>``, a member's username or email, ``team:<id>``, or empty to unassign."""
    if value in (None, ""):
        return None
    if value in (f"user:{TOKEN_USER.id}", TOKEN_USER.id, TOKEN_USER.username, TOKEN_USER.email):
        return TOKEN_USER.as_actor()
    if value == f"team:{TEAM_ACTOR['id']}":
        return dict(TEAM_ACTOR)
    raise ApiError(400, {"assignedTo": ["Unable to resolve actor identifier"]})


def _issue_changes(body: Any) -> dict[str, Any]:
    """Validate a PUT body; unknown fields are ignored as DRF does, but at least one must be known."""
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    changes: dict[str, Any] = {}
    if "status" in body:
        if body["status"] not in ISSUE_STATUSES:
            raise ApiError(400, {"status": [f'"{body["status"]}" is not a valid choice.']})
        changes["status"] = body["status"]
    if "assignedTo" in body:
        changes["assignedTo"] = _assignee(body["assignedTo"])
    for name in BOOLEAN_ISSUE_FIELDS:
        if name in body:
            if not isinstance(body[name], bool):
                raise ApiError(400, {name: ["Must be a valid boolean."]})
            changes[name] = body[name]
    if not changes:
        understood = ["status", "assignedTo", *BOOLEAN_ISSUE_FIELDS]
        raise ApiError(400, f"Nothing to update; the sandbox understands {understood}")
    return changes


# ---- issues ----------------------------------------------------------------------------------------


def _bulk_targets(request: Request, state: SentryState) -> list[Issue]:
    """The issues a bulk PUT/DELETE acts on.

    Only repeated ``id=`` is read. Without it Sentry runs the list search instead (default query
    ``is:unresolved``) and mutates up to 1,000 matches: the hazard is reproduced on purpose. ``id[]=``
    is not an id parameter to Sentry, so it is ignored here too and such a call hits the search.
    """
    raw_ids = request.query_params.getlist("id")
    if len(raw_ids) > BULK_MUTATION_LIMIT:
        raise ApiError(400, f"Too many issues: at most {BULK_MUTATION_LIMIT} ids per request")
    if not raw_ids:
        return _search(request, state)[0][:BULK_MUTATION_LIMIT]
    try:
        ids = {int(raw) for raw in raw_ids}
    except ValueError:
        raise ApiError(400, "Invalid issue id") from None
    return [state.issues[i] for i in sorted(ids) if i in state.issues]


async def issue_collection(request: Request, state: SentryState) -> Response:
    check_org_and_project(request, state)
    if request.method == "GET":
        return _list_issues(request, state)
    if request.method == "DELETE":
        state.delete_issues(_bulk_targets(request, state))
        return Response(status_code=204)
    changes = _issue_changes(await read_json(request))
    targets = _bulk_targets(request, state)
    if not targets:
        return Response(status_code=204)
    after_transitions(state, state.update_issues(targets, changes), base_url(request))
    return JSONResponse({**changes, **({"statusDetails": {}} if "status" in changes else {})})


def _direct_hit(request: Request, state: SentryState) -> Response | None:
    """Before any search, like OrganizationGroupIndexEndpoint: an event id or (with ``shortIdLookup=1``)
    a short id as the whole query, then repeated ``group=<id>``, which ignores the query entirely."""
    base = base_url(request)
    query = request.query_params.get("query", "").strip()
    event_id = _event_id(query) if query else None
    if event_id is not None:
        event = state.find_event(event_id, errors_only=True)
        issue = None if event is None else state.issues.get(event.issue_id or 0)
        if issue is not None:
            body = [issue_to_api(state, issue, base) | {"matchingEventId": event_id}]
            return JSONResponse(body, headers={"X-Sentry-Direct-Hit": "1"})
    if query and request.query_params.get("shortIdLookup") == "1":
        issue = next((i for i in state.issues.values() if state.short_id(i).lower() == query.lower()), None)
        if issue is not None:
            return JSONResponse([issue_to_api(state, issue, base)], headers={"X-Sentry-Direct-Hit": "1"})
    raw_groups = request.query_params.getlist("group")
    try:
        group_ids = {int(raw) for raw in raw_groups}
    except ValueError:
        raise ApiError(400, "Group ids must be integers") from None
    if not group_ids:
        return None
    # Unknown (or deleted) ids are simply absent; status, environment, limit and cursor do not apply.
    found = [state.issues[i] for i in sorted(group_ids) if i in state.issues]
    return JSONResponse([issue_to_api(state, issue, base) for issue in found])


def _list_issues(request: Request, state: SentryState) -> Response:
    if "organizations" in request.url.path.split("/"):
        hit = _direct_hit(request, state)
        if hit is not None:
            return hit
    limit = int_param(request, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
    cursor = cursor_param(request)
    matched, sort = _search(request, state)
    page = paginate(matched, lambda issue: issue.sort_key(sort), cursor, limit)
    base = base_url(request)
    link = link_header(f"{base}{request.url.path}", request.query_params.multi_items(), page)
    body = [issue_to_api(state, issue, base) for issue in page.items]
    return JSONResponse(body, headers={"Link": link, "X-Hits": str(len(matched))})


async def issue_details(request: Request, state: SentryState) -> Response:
    issue = _issue(request, state)
    if request.method == "DELETE":
        state.delete_issues([issue])
        return Response(status_code=202)  # Sentry schedules the deletion and answers 202
    if request.method == "PUT":
        changes = _issue_changes(await read_json(request))
        after_transitions(state, state.update_issues([issue], changes), base_url(request))
    body = issue_to_api(state, issue, base_url(request))
    return JSONResponse(body | {"activity": [], "seenBy": [], "participants": [], "userReportCount": 0})


async def issue_comments(request: Request, state: SentryState) -> Response:
    """GroupNotesEndpoint GET: the issue's notes, newest first, in Sentry's activity shape."""
    issue = _issue(request, state)
    notes = state.comments.get(issue.id, [])
    ordered = sorted(notes, key=lambda c: (c.created_ms, c.id), reverse=True)
    page = paginate(ordered, lambda c: (c.created_ms, c.id), cursor_param(request), MAX_LIST_LIMIT)
    link = link_header(f"{base_url(request)}{request.url.path}", request.query_params.multi_items(), page)
    return JSONResponse([comment.as_api() for comment in page.items], headers={"Link": link})


# ---- events ----------------------------------------------------------------------------------------


def _ordered_events(state: SentryState, issue: Issue) -> list[tuple[int, int, StoredEvent]]:
    """Newest first; the arrival index breaks ties so keyset pagination stays exact."""
    events = state.events_by_issue.get(issue.id, [])
    return sorted(((e.received_ms, i, e) for i, e in enumerate(events)), key=lambda t: t[:2], reverse=True)


async def issue_events(request: Request, state: SentryState) -> Response:
    issue = _issue(request, state)
    ordered = _ordered_events(state, issue)
    event_id = request.path_params.get("event_id")
    if event_id is None:
        full = request.query_params.get("full", "").lower() in ("1", "true")
        limit = int_param(request, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        page = paginate(ordered, lambda t: (t[0], t[1]), cursor_param(request), limit)
        link = link_header(f"{base_url(request)}{request.url.path}", request.query_params.multi_items(), page)
        body = [event_to_api(state, event, full=full) for _, _, event in page.items]
        return JSONResponse(body, headers={"Link": link})
    chosen = {"latest": ordered[:1], "oldest": ordered[-1:]}.get(
        event_id, [t for t in ordered if t[2].event_id == event_id]
    )
    if not chosen:
        raise ApiError(404, "Event not found")
    return JSONResponse(event_to_api(state, chosen[0][2], full=True))


def _neighbours(state: SentryState, event: StoredEvent) -> dict[str, str | None]:
    """``previousEventID``/``nextEventID`` within the event's issue, by arrival (none for transactions)."""
    siblings = [] if event.issue_id is None else state.events_by_issue.get(event.issue_id, [])
    index = next((i for i, e in enumerate(siblings) if e is event), None)
    if index is None:
        return {"previousEventID": None, "nextEventID": None}
    return {
        "previousEventID": siblings[index - 1].event_id if index > 0 else None,
        "nextEventID": siblings[index + 1].event_id if index + 1 < len(siblings) else None,
    }


async def project_event(request: Request, state: SentryState) -> Response:
    """Retrieve an Event for a Project: errors and transactions by the id the SDK reported."""
    check_org_and_project(request, state)
    raw = str(request.path_params["event_id"])
    event = state.find_event(raw) if _event_id(raw) else None
    if event is None:
        raise ApiError(404, "Event not found")
    body = event_to_api(state, event, full=True) | _neighbours(state, event) | {"userReport": None}
    return JSONResponse(body)


async def event_id_lookup(request: Request, state: SentryState) -> Response:
    """Resolve an Event ID: error events only (Sentry excludes transactions)."""
    check_org_and_project(request, state)
    event_id = _event_id(str(request.path_params["event_id"]))
    if event_id is None:
        raise ApiError(400, INVALID_EVENT_ID)
    event = state.find_event(event_id, errors_only=True)
    if event is None:
        raise ApiError(404, NOT_FOUND)
    return JSONResponse(
        {
            "organizationSlug": state.project.org,
            "projectSlug": state.project.slug,
            "groupId": str(event.issue_id),
            "eventId": event.event_id,
            "event": event_to_api(state, event, full=True),
        }
    )


async def project_details(request: Request, state: SentryState) -> Response:
    """The project's summary: clients resolve a project slug to the numeric id the issue search filters on."""
    check_org_and_project(request, state)
    project = state.project
    return JSONResponse(
        {
            "id": str(project.id),
            "slug": project.slug,
            "name": project.slug,
            "platform": "python",
            "organization": {"slug": project.org, "name": project.org},
        }
    )


async def project_environments(request: Request, state: SentryState) -> Response:
    """Sentry's ProjectEnvironmentsEndpoint: every environment the project's events named (all visible here).

    ``visibility`` is ``visible`` (default), ``hidden`` or ``all``; anything else is 400 as on sentry.io.
    """
    check_org_and_project(request, state)
    visibility = request.query_params.get("visibility", "visible")
    if visibility not in ("visible", "hidden", "all"):
        raise ApiError(400, "Invalid value for 'visibility', valid values are: ['all', 'hidden', 'visible']")
    names = sorted({name for issue in state.issues.values() for name in issue.environments})
    if visibility == "hidden":
        names = []
    return JSONResponse([{"id": str(n), "name": name, "isHidden": False} for n, name in enumerate(names, 1)])


def routes() -> list[Route]:
    issue_methods = ["GET", "PUT", "DELETE"]
    org, project = "/api/0/organizations/{org}", "/api/0/projects/{org}/{project}"
    read = {"GET": EVENT_SCOPES["GET"]}
    issue_routes = [
        api_route(f"{org}/issues/", "org-issues", issue_methods, EVENT_SCOPES, issue_collection),
        api_route(f"{project}/issues/", "project-issues", issue_methods, EVENT_SCOPES, issue_collection),
    ]
    for prefix in ("/api/0", org):  # every issue endpoint also has an org-scoped form
        issue_routes += [
            api_route(f"{prefix}/issues/{{issue_id}}/", "issue", issue_methods, EVENT_SCOPES, issue_details),
            api_route(f"{prefix}/issues/{{issue_id}}/comments/", "issue-comments", ["GET"], read, issue_comments),
            api_route(f"{prefix}/issues/{{issue_id}}/events/", "issue-events", ["GET"], read, issue_events),
            api_route(
                f"{prefix}/issues/{{issue_id}}/events/{{event_id}}/", "issue-events", ["GET"], read, issue_events
            ),
        ]
    return [
        *issue_routes,
        api_route(f"{project}/events/{{event_id}}/", "project-event", ["GET"], PROJECT_SCOPES, project_event),
        api_route(f"{org}/eventids/{{event_id}}/", "eventids", ["GET"], ORG_SCOPES, event_id_lookup),
        api_route(f"{project}/", "project", ["GET"], PROJECT_SCOPES, project_details),
        api_route(f"{project}/environments/", "environments", ["GET"], PROJECT_SCOPES, project_environments),
        *ruleapi.routes(project),
        *cronapi.routes(org),
    ]
