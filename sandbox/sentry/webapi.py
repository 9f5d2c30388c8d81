"""Sentry Web API (``/api/0/``): issues, issue events and alert rules, behind bearer tokens,
per-endpoint rate limits and the injected fault queue.

Endpoint names (used by ``rate_limits`` and ``faults`` in the control API): ``org-issues``,
``project-issues``, ``issue``, ``issue-events``, ``rules``, ``rule``, ``project``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .limits import RateDecision
from .models import ISSUE_STATUSES, Issue, StoredEvent, now_ms, to_iso
from .pagination import Cursor, link_header, paginate, parse_cursor
from .query import QueryError, parse_query
from .responses import (
    NOT_FOUND,
    concurrency_limited_detail,
    detail,
    fault_response,
    json_body,
    rate_limited_detail,
    sentry_state,
)
from .serialize import event_to_api, issue_to_api
from .store import RULE_REQUIRED_LISTS, SentryState

Handler = Callable[[Request, SentryState], Awaitable[Response]]

MAX_LIST_LIMIT = 100
BULK_MUTATION_LIMIT = 1000  # Sentry's own cap, for explicit ids and for id-less searches alike
FORBIDDEN = "You do not have permission to perform this action."
SORTS = ("date", "new")
BOOLEAN_ISSUE_FIELDS = ("isPublic", "isBookmarked", "hasSeen")

# Sentry's permission classes: a request needs any one of the scopes listed for its method.
_READ, _WRITE, _ADMIN = "event:read", "event:write", "event:admin"
EVENT_SCOPES: Mapping[str, frozenset[str]] = {
    "GET": frozenset({_READ, _WRITE, _ADMIN}),
    "PUT": frozenset({_WRITE, _ADMIN}),
    "DELETE": frozenset({_ADMIN}),
}
RULE_WRITE = frozenset({"project:write", "project:admin", "alerts:write"})
RULE_SCOPES: Mapping[str, frozenset[str]] = {
    "GET": frozenset({"project:read", "alerts:read"}) | RULE_WRITE,
    "POST": RULE_WRITE,
    "PUT": RULE_WRITE,
    "DELETE": RULE_WRITE,
}


class ApiError(Exception):
    """Raised anywhere below a handler to answer with ``response`` instead."""

    def __init__(self, status: int, message: str | dict[str, Any]) -> None:
        super().__init__(message)
        body = {"detail": message} if isinstance(message, str) else message
        self.response = JSONResponse(body, status_code=status)


# ---- the wrapper every endpoint goes through -------------------------------------------------------


def _authorize(request: Request, state: SentryState, scopes: Mapping[str, frozenset[str]]) -> None:
    header = request.headers.get("authorization", "")
    if not header:
        raise ApiError(401, "Authentication credentials were not provided.")
    scheme, _, token = header.partition(" ")
    granted = state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if granted is None:
        raise ApiError(401, "Invalid token")
    if not granted & scopes.get(request.method, frozenset()):
        raise ApiError(403, FORBIDDEN)


def _log(state: SentryState, request: Request, endpoint: str, status: int) -> None:
    state.request_log.append(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "params": [list(pair) for pair in request.query_params.multi_items()],
            "endpoint": endpoint,
            "status": status,
            "at": to_iso(now_ms()),
        }
    )


async def _limited_call(
    request: Request, state: SentryState, name: str, scopes: Mapping[str, frozenset[str]], handler: Handler
) -> Response:
    decision: RateDecision = state.rate_limiter.acquire(name)
    if not decision.allowed:
        message = (
            concurrency_limited_detail(decision.concurrent_limit)
            if decision.over_concurrency
            else rate_limited_detail(decision.limit)
        )
        # Windows are one second long, so the next one always starts within a second.
        response: Response = detail(429, message, {"Retry-After": "1"})
    else:
        try:
            _authorize(request, state, scopes)
            response = await handler(request, state)
        except ApiError as exc:
            response = exc.response
        finally:
            state.rate_limiter.release(name)
    response.headers.update(decision.headers())
    return response


def api_route(
    path: str, name: str, methods: list[str], scopes: Mapping[str, frozenset[str]], handler: Handler
) -> Route:
    async def endpoint(request: Request) -> Response:
        state = sentry_state(request)
        fault = state.faults.take(name)
        if fault is not None:
            response = fault_response(fault, ingestion=False, limit=state.rate_limiter.limit_for(name))
        else:
            response = await _limited_call(request, state, name, scopes, handler)
        _log(state, request, name, response.status_code)
        return response

    return Route(path, endpoint, methods=methods, name=name)


# ---- shared argument handling ----------------------------------------------------------------------


def _check_org_and_project(request: Request, state: SentryState) -> None:
    """404 for another organisation or project slug, 403 for another project id, as Sentry answers."""
    params = request.path_params
    if params.get("org", state.project.org) != state.project.org:
        raise ApiError(404, NOT_FOUND)
    if params.get("project", state.project.slug) != state.project.slug:
        raise ApiError(404, NOT_FOUND)
    if any(p not in (str(state.project.id), "-1") for p in request.query_params.getlist("project")):
        raise ApiError(403, FORBIDDEN)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"invalid {name}") from None
    if not low <= value <= high:
        raise ApiError(400, f"Invalid {name}: must be between {low} and {high}")
    return value


def _cursor(request: Request) -> Cursor | None:
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    try:
        return parse_cursor(raw)
    except ValueError:
        raise ApiError(400, "Invalid cursor parameter.") from None


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


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _issue(request: Request, state: SentryState) -> Issue:
    _check_org_and_project(request, state)
    try:
        issue = state.issues.get(int(request.path_params["issue_id"]))
    except ValueError:
        issue = None
    if issue is None:
        raise ApiError(404, NOT_FOUND)
    return issue


def _issue_changes(body: Any) -> dict[str, Any]:
    """Validate a PUT body; unknown fields are ignored as DRF does, but at least one must be known."""
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    changes: dict[str, Any] = {}
    if "status" in body:
        if body["status"] not in ISSUE_STATUSES:
            raise ApiError(400, {"status": [f'"{body["status"]}" is not a valid choice.']})
        changes["status"] = body["status"]
    for name in BOOLEAN_ISSUE_FIELDS:
        if name in body:
            if not isinstance(body[name], bool):
                raise ApiError(400, {name: ["Must be a valid boolean."]})
            changes[name] = body[name]
    if not changes:
        raise ApiError(400, f"Nothing to update; the sandbox understands status and {list(BOOLEAN_ISSUE_FIELDS)}")
    return changes


async def _read_json(request: Request) -> Any:
    try:
        return await json_body(request)
    except ValueError:
        raise ApiError(400, "Malformed JSON body") from None


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
    _check_org_and_project(request, state)
    if request.method == "GET":
        return _list_issues(request, state)
    if request.method == "DELETE":
        state.delete_issues(_bulk_targets(request, state))
        return Response(status_code=204)
    changes = _issue_changes(await _read_json(request))
    targets = _bulk_targets(request, state)
    if not targets:
        return Response(status_code=204)
    state.update_issues(targets, changes)
    return JSONResponse({**changes, **({"statusDetails": {}} if "status" in changes else {})})


def _list_issues(request: Request, state: SentryState) -> Response:
    limit = _int_param(request, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
    cursor = _cursor(request)
    matched, sort = _search(request, state)
    page = paginate(matched, lambda issue: issue.sort_key(sort), cursor, limit)
    base = _base_url(request)
    link = link_header(f"{base}{request.url.path}", request.query_params.multi_items(), page)
    body = [issue_to_api(state, issue, base) for issue in page.items]
    return JSONResponse(body, headers={"Link": link, "X-Hits": str(len(matched))})


async def issue_details(request: Request, state: SentryState) -> Response:
    issue = _issue(request, state)
    if request.method == "DELETE":
        state.delete_issues([issue])
        return Response(status_code=202)  # Sentry schedules the deletion and answers 202
    if request.method == "PUT":
        state.update_issues([issue], _issue_changes(await _read_json(request)))
    body = issue_to_api(state, issue, _base_url(request))
    return JSONResponse(body | {"activity": [], "seenBy": [], "participants": [], "userReportCount": 0})


# ---- issue events ----------------------------------------------------------------------------------


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
        limit = _int_param(request, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        page = paginate(ordered, lambda t: (t[0], t[1]), _cursor(request), limit)
        link = link_header(f"{_base_url(request)}{request.url.path}", request.query_params.multi_items(), page)
        body = [event_to_api(state, event, full=full) for _, _, event in page.items]
        return JSONResponse(body, headers={"Link": link})
    chosen = {"latest": ordered[:1], "oldest": ordered[-1:]}.get(
        event_id, [t for t in ordered if t[2].event_id == event_id]
    )
    if not chosen:
        raise ApiError(404, "Event not found")
    return JSONResponse(event_to_api(state, chosen[0][2], full=True))


# ---- alert rules -----------------------------------------------------------------------------------


def _validated_rule(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    errors: dict[str, list[str]] = {}
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        errors["name"] = ["This field is required."]
    for key in RULE_REQUIRED_LISTS:
        if not isinstance(body.get(key), list):
            errors[key] = ["This field is required." if key not in body else "Expected a list of items."]
    if errors:
        raise ApiError(400, errors)
    return body


async def rule_collection(request: Request, state: SentryState) -> Response:
    _check_org_and_project(request, state)
    if request.method == "GET":
        return JSONResponse(list(state.rules.values()))
    return JSONResponse(state.save_rule(_validated_rule(await _read_json(request))))


async def rule_details(request: Request, state: SentryState) -> Response:
    _check_org_and_project(request, state)
    try:
        rule_id = int(request.path_params["rule_id"])
    except ValueError:
        rule_id = 0
    if rule_id not in state.rules:
        raise ApiError(404, NOT_FOUND)
    if request.method == "DELETE":
        del state.rules[rule_id]
        return Response(status_code=202)
    if request.method == "PUT":
        return JSONResponse(state.save_rule(_validated_rule(await _read_json(request)), rule_id))
    return JSONResponse(state.rules[rule_id])


PROJECT_SCOPES: Mapping[str, frozenset[str]] = {"GET": frozenset({"project:read", "project:write", "project:admin"})}


async def project_details(request: Request, state: SentryState) -> Response:
    """The project's summary: clients resolve a project slug to the numeric id the issue search filters on."""
    _check_org_and_project(request, state)
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


def routes() -> list[Route]:
    issue_methods = ["GET", "PUT", "DELETE"]
    org, project = "/api/0/organizations/{org}", "/api/0/projects/{org}/{project}"
    events_scopes = {"GET": EVENT_SCOPES["GET"]}
    return [
        api_route(f"{org}/issues/", "org-issues", issue_methods, EVENT_SCOPES, issue_collection),
        api_route(f"{project}/issues/", "project-issues", issue_methods, EVENT_SCOPES, issue_collection),
        api_route("/api/0/issues/{issue_id}/", "issue", issue_methods, EVENT_SCOPES, issue_details),
        api_route(f"{org}/issues/{{issue_id}}/", "issue", issue_methods, EVENT_SCOPES, issue_details),
        api_route("/api/0/issues/{issue_id}/events/", "issue-events", ["GET"], events_scopes, issue_events),
        api_route(
            "/api/0/issues/{issue_id}/events/{event_id}/",
            "issue-events",
            ["GET"],
            events_scopes,
            issue_events,
        ),
        api_route(f"{org}/issues/{{issue_id}}/events/", "issue-events", ["GET"], events_scopes, issue_events),
        api_route(
            f"{org}/issues/{{issue_id}}/events/{{event_id}}/",
            "issue-events",
            ["GET"],
            events_scopes,
            issue_events,
        ),
        api_route(f"{project}/", "project", ["GET"], PROJECT_SCOPES, project_details),
        api_route(f"{project}/rules/", "rules", ["GET", "POST"], RULE_SCOPES, rule_collection),
        api_route(f"{project}/rules/{{rule_id}}/", "rule", ["GET", "PUT", "DELETE"], RULE_SCOPES, rule_details),
    ]
