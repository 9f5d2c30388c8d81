"""What every Web API endpoint goes through: injected faults, per-endpoint rate limits, bearer-token
scopes and the request log; plus the argument handling the endpoints share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .models import now_ms, to_iso
from .pagination import Cursor, parse_cursor
from .responses import (
    NOT_FOUND,
    concurrency_limited_detail,
    detail,
    fault_response,
    json_body,
    rate_limited_detail,
    sentry_state,
)
from .store import SentryState

Handler = Callable[[Request, SentryState], Awaitable[Response]]
Scopes = Mapping[str, frozenset[str]]

FORBIDDEN = "You do not have permission to perform this action."


class ApiError(Exception):
    """Raised anywhere below a handler to answer with ``response`` instead."""

    def __init__(self, status: int, message: str | dict[str, Any]) -> None:
        super().__init__(message)
        body = {"detail": message} if isinstance(message, str) else message
        self.response = JSONResponse(body, status_code=status)


def _authorize(request: Request, state: SentryState, scopes: Scopes) -> None:
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


async def _limited_call(request: Request, state: SentryState, name: str, scopes: Scopes, handler: Handler) -> Response:
    decision = state.rate_limiter.acquire(name)
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


def api_route(path: str, name: str, methods: list[str], scopes: Scopes, handler: Handler) -> Route:
    async def endpoint(request: Request) -> Response:
        state = sentry_state(request)
        fault = state.faults.take(name, request.method)
        if fault is not None and fault.delay_s:
            await asyncio.sleep(fault.delay_s)  # an injected hold: what follows sees the state after it
            state = sentry_state(request)
        if fault is not None and fault.status is not None:
            response = fault_response(fault, ingestion=False, limit=state.rate_limiter.limit_for(name))
        else:
            response = await _limited_call(request, state, name, scopes, handler)
        _log(state, request, name, response.status_code)
        return response

    return Route(path, endpoint, methods=methods, name=name)


# ---- shared argument handling ----------------------------------------------------------------------


def check_org_and_project(request: Request, state: SentryState) -> None:
    """404 for another organisation or project, 403 for another project id in a filter, as Sentry answers.

    Project paths take the slug or the numeric id (Sentry's ``project_id_or_slug``).
    """
    params = request.path_params
    if params.get("org", state.project.org) != state.project.org:
        raise ApiError(404, NOT_FOUND)
    if params.get("project", state.project.slug) not in (state.project.slug, str(state.project.id)):
        raise ApiError(404, NOT_FOUND)
    if any(p not in (str(state.project.id), "-1") for p in request.query_params.getlist("project")):
        raise ApiError(403, FORBIDDEN)


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
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


def cursor_param(request: Request) -> Cursor | None:
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    try:
        return parse_cursor(raw)
    except ValueError:
        raise ApiError(400, "Invalid cursor parameter.") from None


async def read_json(request: Request) -> Any:
    try:
        return await json_body(request)
    except ValueError:
        raise ApiError(400, "Malformed JSON body") from None
