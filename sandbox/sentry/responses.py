"""Response helpers shared by the ingestion, Web API and control routes."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .limits import Fault
from .store import SentryState

NOT_FOUND = "The requested resource does not exist"


def detail(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Sentry/DRF error shape: ``{"detail": "..."}``."""
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def rate_limited_detail(limit: int) -> str:
    return f"You are attempting to use this endpoint too frequently. Limit is {limit} requests in 1 seconds"


def concurrency_limited_detail(limit: int) -> str:
    return f"You are attempting to go above the allowed concurrency for this endpoint. Concurrency limit is {limit}"


def fault_response(fault: Fault, *, ingestion: bool, limit: int) -> Response:
    """An injected failure shaped like what Sentry (or the proxy in front of it) sends; ``limit`` is
    the endpoint's rate limit, quoted in a 429 body."""
    retry = str(fault.retry_after_s)
    status = fault.status or 500
    if status == 429:
        headers = {"Retry-After": retry}
        if ingestion:
            # Relay tells SDKs which categories to back off from; empty categories mean all of them.
            headers["X-Sentry-Rate-Limits"] = f"{retry}::organization"
        return detail(429, rate_limited_detail(limit), headers)
    if status == 500:
        return detail(500, "Internal Error")
    # 502/503/504 come from the load balancer in front of Sentry: HTML, not JSON.
    return Response(
        f"<html><body><h1>{status} Service Unavailable</h1></body></html>",
        status_code=status,
        media_type="text/html",
        headers={"Retry-After": retry} if status == 503 else None,
    )


def base_url(request: Request) -> str:
    """The sandbox's own URL as the client reached it (links in API answers and webhooks use it)."""
    return str(request.base_url).rstrip("/")


def sentry_state(request: Request) -> SentryState:
    state: SentryState = request.app.state.sentry
    return state


async def json_body(request: Request) -> Any:
    """The parsed JSON body; raises ValueError for a body that is not JSON."""
    raw = await request.body()
    return json.loads(raw) if raw.strip() else None
