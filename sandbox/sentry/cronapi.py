"""Crons monitor endpoints: ``/api/0/organizations/{org}/monitors/`` and a monitor's check-ins."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .apibase import ApiError, api_route, check_org_and_project, cursor_param, int_param
from .crons import Monitor
from .models import now_ms
from .pagination import link_header, paginate
from .responses import NOT_FOUND, base_url
from .store import SentryState

MAX_PER_PAGE = 100
MONITOR_SCOPES: Mapping[str, frozenset[str]] = {
    "GET": frozenset({"alerts:read", "alerts:write", "project:read", "project:write", "project:admin"})
}


def _monitor(request: Request, state: SentryState) -> Monitor:
    check_org_and_project(request, state)
    monitor = state.monitors.get(str(request.path_params["monitor_slug"]))
    if monitor is None:
        raise ApiError(404, NOT_FOUND)
    return monitor


async def monitor_collection(request: Request, state: SentryState) -> Response:
    """Every monitor of the organization, by name (one page: the sandbox never has many)."""
    check_org_and_project(request, state)
    ordered = sorted(state.monitors.values(), key=lambda m: m.name)
    return JSONResponse([monitor.as_api(state.project) for monitor in ordered])


async def monitor_details(request: Request, state: SentryState) -> Response:
    return JSONResponse(_monitor(request, state).as_api(state.project))


async def monitor_check_ins(request: Request, state: SentryState) -> Response:
    """The monitor's check-ins, newest first, optionally for some ``environment``s, paginated."""
    monitor = _monitor(request, state)
    wanted = set(request.query_params.getlist("environment"))
    chosen = [t for t in monitor.newest_check_ins() if not wanted or t[2].environment in wanted]
    per_page = int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    page = paginate(chosen, lambda t: (t[0], t[1]), cursor_param(request), per_page)
    link = link_header(f"{base_url(request)}{request.url.path}", request.query_params.multi_items(), page)
    now = now_ms()
    body = [check_in.as_api(monitor.max_runtime_min, now) for _, _, check_in in page.items]
    return JSONResponse(body, headers={"Link": link})


def routes(org: str) -> list[Route]:
    return [
        api_route(f"{org}/monitors/", "monitors", ["GET"], MONITOR_SCOPES, monitor_collection),
        api_route(f"{org}/monitors/{{monitor_slug}}/", "monitor", ["GET"], MONITOR_SCOPES, monitor_details),
        api_route(
            f"{org}/monitors/{{monitor_slug}}/checkins/",
            "monitor-checkins",
            ["GET"],
            MONITOR_SCOPES,
            monitor_check_ins,
        ),
    ]
