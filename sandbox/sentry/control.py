"""Control and read API for tests and people (``/_sandbox/``, no auth), plus the plain-text pages.

Not part of Sentry: this is how a test seeds issues, injects faults and inspects everything that arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .crons import Monitor
from .limits import Fault
from .models import Issue, StoredEvent, User, now_ms, to_iso
from .notifications import after_transitions
from .responses import NOT_FOUND, base_url, detail, json_body, sentry_state
from .serialize import issue_permalink, issue_to_api
from .store import SeedError, SentryState

CONFIG_KEYS = frozenset(
    {"rate_limits", "concurrent_limit", "tokens", "public_keys", "faults", "webhook_url", "webhook_secret"}
)
COMMENT_FIELDS = frozenset({"text", "user"})
INDEX_EVENTS = 20
INDEX_CHECK_INS = 5  # per monitor on the index page
# Who writes a control-API comment that names nobody: a teammate, not the API token's user.
TEAMMATE = User(id="2", name="Teammate", username="teammate", email="teammate@example.com")


def _base_url(request: Request) -> str:
    return base_url(request)


async def events(request: Request) -> Response:
    state = sentry_state(request)
    wanted_type = request.query_params.get("type")
    wanted_issue = request.query_params.get("issue_id")
    selected = [
        e
        for e in state.events
        if (wanted_type is None or e.type == wanted_type) and (wanted_issue is None or str(e.issue_id) == wanted_issue)
    ]
    return JSONResponse([e.as_control() for e in selected])


async def check_ins(request: Request) -> Response:
    return JSONResponse([c.as_control() for c in sentry_state(request).check_ins])


async def raw(request: Request) -> Response:
    return JSONResponse([r.as_control() for r in sentry_state(request).raw_envelopes])


async def requests_log(request: Request) -> Response:
    return JSONResponse(sentry_state(request).request_log)


async def stats(request: Request) -> Response:
    state = sentry_state(request)
    return JSONResponse(
        {
            "envelopes": len(state.raw_envelopes),
            "items": dict(state.item_counts),
            "issues": len(state.issues),
            "rules": len(state.rules),
            "dropped_envelopes": state.dropped_envelopes,
            "monitors": len(state.monitors),
            "webhooks": len(state.webhooks.log),
        }
    )


def _control_issue(request: Request, state: SentryState) -> Issue | None:
    return state.issues.get(int(request.path_params["issue_id"]))


async def issue_patch(request: Request) -> Response:
    """Change an issue behind the client's back, as Sentry itself would (regressions, escalations)."""
    state = sentry_state(request)
    issue = _control_issue(request, state)
    if issue is None:
        return detail(404, NOT_FOUND)
    try:
        transition = state.patch_issue(issue, await json_body(request))
    except (ValueError, TypeError) as exc:  # SeedError is a ValueError; bad JSON too
        return detail(400, str(exc))
    if transition is not None:
        after_transitions(state, [transition], _base_url(request), automatic=True)
    return JSONResponse(issue_to_api(state, issue, _base_url(request)))


def _comment_author(name: Any) -> User:
    if name is None:
        return TEAMMATE
    if not isinstance(name, str) or not name.strip():
        raise ValueError("user must be a non-empty string (a display name)")
    slug = "".join(ch if ch.isalnum() else "." for ch in name.strip().lower())
    return User(id=str(1000 + sum(map(ord, name))), name=name.strip(), username=slug, email=f"{slug}@example.com")


async def issue_comment(request: Request) -> Response:
    state = sentry_state(request)
    issue = _control_issue(request, state)
    if issue is None:
        return detail(404, NOT_FOUND)
    try:
        body = await json_body(request)
        if not isinstance(body, dict) or set(body) - COMMENT_FIELDS:
            raise ValueError(f"expected an object with {sorted(COMMENT_FIELDS)}")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        comment = state.add_comment(issue, text, _comment_author(body.get("user")))
    except (ValueError, TypeError) as exc:
        return detail(400, str(exc))
    return JSONResponse(comment.as_api(), status_code=201)


async def webhooks(request: Request) -> Response:
    return JSONResponse(sentry_state(request).webhooks.log)


async def emails(request: Request) -> Response:
    return JSONResponse(sentry_state(request).emails)


async def monitors(request: Request) -> Response:
    state = sentry_state(request)
    return JSONResponse([m.as_api(state.project) for m in sorted(state.monitors.values(), key=lambda m: m.name)])


async def monitor_check_ins(request: Request) -> Response:
    state = sentry_state(request)
    monitor = state.monitors.get(request.path_params["slug"])
    if monitor is None:
        return detail(404, NOT_FOUND)
    now = now_ms()
    return JSONResponse([c.as_api(monitor.max_runtime_min, now) for _, _, c in monitor.newest_check_ins()])


async def issues(request: Request) -> Response:
    state = sentry_state(request)
    if request.method == "GET":
        ordered = sorted(state.issues.values(), key=lambda issue: issue.id)
        return JSONResponse([issue_to_api(state, issue, _base_url(request)) for issue in ordered])
    try:
        body = await json_body(request)
        specs = body.get("issues") if isinstance(body, dict) else body
        if not isinstance(specs, list):
            raise SeedError('expected a JSON list of issues (or {"issues": [...]})')
        created = state.seed_issues(specs)
    except (ValueError, TypeError) as exc:  # SeedError is a ValueError; bad JSON too
        return detail(400, str(exc))
    return JSONResponse({"ids": [str(issue.id) for issue in created]}, status_code=201)


async def reset(request: Request) -> Response:
    request.app.state.sentry = SentryState(sentry_state(request).options)
    return Response(status_code=204)


def _validated_config(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    unknown = set(body) - CONFIG_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; known: {sorted(CONFIG_KEYS)}")
    config = dict(body)
    if "rate_limits" in config and not all(int(v) >= 0 for v in dict(config["rate_limits"]).values()):
        raise ValueError("rate_limits values are requests per second, >= 0 (0 = unlimited)")
    if "tokens" in config and not isinstance(config["tokens"], dict):
        raise ValueError("tokens maps token -> list of scopes (or null for all scopes)")
    if "faults" in config:
        config["faults"] = [Fault.from_json(f) for f in config["faults"]]
    url = config.get("webhook_url")
    if url and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ValueError("webhook_url must be an http(s) URL, or null (or empty) to stop sending webhooks")
    if "webhook_secret" in config and (not isinstance(config["webhook_secret"], str) or not config["webhook_secret"]):
        raise ValueError("webhook_secret must be a non-empty string (the integration's client secret)")
    return config


async def config(request: Request) -> Response:
    state = sentry_state(request)
    if request.method == "POST":
        try:
            state.configure(_validated_config(await json_body(request)))
        except (ValueError, TypeError, KeyError) as exc:
            return detail(400, f"invalid config: {exc}")
    return JSONResponse(state.config_snapshot())


# ---- plain-text pages for people ------------------------------------------------------------------


def _breadcrumb_lines(payload: dict[str, Any]) -> Iterable[str]:
    crumbs = payload.get("breadcrumbs") or []
    values = crumbs.get("values", []) if isinstance(crumbs, dict) else crumbs
    for crumb in values:
        data = f" {crumb['data']}" if crumb.get("data") else ""
        where = f"{crumb.get('timestamp', '')} [{crumb.get('category', '-')}]"
        yield f"      {where} {crumb.get('message', '')}{data}"


def _event_lines(state: SentryState, event: StoredEvent) -> Iterable[str]:
    issue = state.issues.get(event.issue_id or 0)
    title = issue.title if issue else event.payload.get("transaction") or event.type
    tags = " ".join(f"{k}={v}" for k, v in sorted(event.tags.items()))
    yield f"  {to_iso(event.received_ms)} {event.type} {event.event_id} issue={event.issue_id} {title}"
    if tags:
        yield f"    tags: {tags}"
    yield from _breadcrumb_lines(event.payload)


def _issue_lines(state: SentryState, issue: Issue, base_url: str) -> Iterable[str]:
    yield f"  #{issue.id} [{issue.status}/{issue.level}] {issue.title}  (events: {issue.count})"
    yield f"    {issue_permalink(state, issue, base_url)}"


def _monitor_lines(monitor: Monitor) -> Iterable[str]:
    config, now = monitor.config, now_ms()
    schedule = config.get("schedule")
    shown = " ".join(map(str, schedule)) if isinstance(schedule, list) else schedule
    yield f"  {monitor.slug}  [{config.get('schedule_type')}: {shown}]  timezone {config.get('timezone')}"
    for _, _, check_in in monitor.newest_check_ins()[:INDEX_CHECK_INS]:
        status = check_in.effective_status(monitor.max_runtime_min, now)
        yield f"    {to_iso(check_in.created_ms)} {status} ({check_in.environment})"


async def index(request: Request) -> Response:
    state, base = sentry_state(request), _base_url(request)
    project, options = state.project, state.options
    not_check_ins = [e for e in state.events if e.type != "check_in"]
    lines = [
        "Sentry sandbox — a local stand-in for sentry.io (see docs/sandbox-sentry.md)",
        "",
        f"DSN:        http://<any-key>@{request.url.netloc}/{project.id}",
        f"Web API:    {base}/api/0/  (Authorization: Bearer {options.token})",
        f"Org/project: {project.org}/{project.slug} (id {project.id})",
        f"Control:    {base}/_sandbox/{{events,raw,check-ins,monitors,issues,requests,webhooks,emails,config,stats}}",
        f"            POST {base}/_sandbox/reset",
        f"Webhooks:   {state.webhooks.url or 'off'}  (installation {state.webhooks.installation_uuid})",
        "",
        f"Issues ({len(state.issues)}):",
        *(
            line
            for issue in sorted(state.issues.values(), key=lambda i: i.last_seen_ms, reverse=True)[:INDEX_EVENTS]
            for line in _issue_lines(state, issue, base)
        ),
        "",
        f"Latest events with breadcrumbs (newest first, {INDEX_EVENTS} at most):",
        *(line for event in reversed(not_check_ins[-INDEX_EVENTS:]) for line in _event_lines(state, event)),
        "",
        f"Crons monitors ({len(state.monitors)}):",
        *(
            line
            for monitor in sorted(state.monitors.values(), key=lambda m: m.name)
            for line in _monitor_lines(monitor)
        ),
        "",
        f"Crons check-ins ({len(state.check_ins)}):",
        *(
            f"  {to_iso(c.received_ms)} {c.payload.get('monitor_slug')} {c.payload.get('status')}"
            for c in state.check_ins[-INDEX_EVENTS:]
        ),
    ]
    return PlainTextResponse("\n".join(lines) + "\n")


async def issue_page(request: Request) -> Response:
    """What an issue permalink (e.g. in a Telegram alert) opens: the issue and its latest event, or the
    event a webhook's ``web_url`` names."""
    state = sentry_state(request)
    issue = state.issues.get(int(request.path_params["issue_id"]))
    if issue is None or request.path_params["org"] != state.project.org:
        return PlainTextResponse(NOT_FOUND + "\n", status_code=404)
    lines = [*_issue_lines(state, issue, _base_url(request)), f"    culprit: {issue.culprit}"]
    events = state.events_by_issue.get(issue.id, [])
    wanted = request.path_params.get("event_id")
    shown = [e for e in events if e.event_id == wanted] if wanted else events[-1:]
    if wanted and not shown:
        return PlainTextResponse(NOT_FOUND + "\n", status_code=404)
    lines += ["", "Event:" if wanted else "Latest event:", *(line for e in shown for line in _event_lines(state, e))]
    return PlainTextResponse("\n".join(lines) + "\n")


async def issue_search_page(request: Request) -> Response:
    """What an issues search link opens (``/test_sentry`` links to ``?query=<event id>``): matching events' issues.

    The query is matched against event ids and issue titles, case-insensitively, like Sentry's search box.
    """
    state, base = sentry_state(request), _base_url(request)
    if request.path_params["org"] != state.project.org:
        return PlainTextResponse(NOT_FOUND + "\n", status_code=404)
    needle = request.query_params.get("query", "").strip().lower()
    by_event = {e.issue_id for e in state.events if e.issue_id is not None and needle and e.event_id == needle}
    found = [
        issue
        for issue in sorted(state.issues.values(), key=lambda i: i.last_seen_ms, reverse=True)
        if not needle or issue.id in by_event or needle in issue.title.lower()
    ]
    lines = [
        f"Issues matching {needle!r} ({len(found)}):",
        *(line for i in found for line in _issue_lines(state, i, base)),
    ]
    return PlainTextResponse("\n".join(lines) + "\n")


def routes() -> list[Route]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/organizations/{org}/issues/", issue_search_page, methods=["GET"]),
        Route("/organizations/{org}/issues/{issue_id:int}/", issue_page, methods=["GET"]),
        Route("/organizations/{org}/issues/{issue_id:int}/events/{event_id}/", issue_page, methods=["GET"]),
        Route("/_sandbox/events", events, methods=["GET"]),
        Route("/_sandbox/check-ins", check_ins, methods=["GET"]),
        Route("/_sandbox/raw", raw, methods=["GET"]),
        Route("/_sandbox/requests", requests_log, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/issues", issues, methods=["GET", "POST"]),
        Route("/_sandbox/issues/{issue_id:int}", issue_patch, methods=["POST"]),
        Route("/_sandbox/issues/{issue_id:int}/comments", issue_comment, methods=["POST"]),
        Route("/_sandbox/webhooks", webhooks, methods=["GET"]),
        Route("/_sandbox/emails", emails, methods=["GET"]),
        Route("/_sandbox/monitors", monitors, methods=["GET"]),
        Route("/_sandbox/monitors/{slug}/check-ins", monitor_check_ins, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/config", config, methods=["GET", "POST"]),
    ]
