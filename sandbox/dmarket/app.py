"""The DMarket sandbox ASGI app: ``GET /exchange/v1/market/items`` plus the ``/_sandbox/`` control API."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sandbox.dmarket.listing import (
    InvalidCursorError,
    ListingQuery,
    OrderBy,
    OrderDir,
    decode_cursor,
    ordered,
    page_of,
)
from sandbox.dmarket.market import GAME_IDS, Item, generate_market
from sandbox.dmarket.signing import API_KEY_HEADER, DEMO_PUBLIC_KEY_HEX, AuthError, authenticate
from sandbox.dmarket.state import (
    ConfigPatch,
    FixedWindowLimiter,
    LoggedRequest,
    RateDecision,
    RequestLog,
    RuntimeConfig,
    SandboxSettings,
)

MARKET_ITEMS_PATH = "/exchange/v1/market/items"
MAX_LIMIT = 100
CLIENT_CLOSED_REQUEST = 499  # nginx's convention; logged when a client gives up on a held request
_HOLD_POLL_S = 0.05
_DIGITS_RE = re.compile(r"[0-9]+")


class Sandbox:
    """Everything one sandbox server knows: the generated market and the mutable state."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.market = generate_market(settings.seed, settings.items_per_game)
        # Orderings are pure functions of the static market, so each is computed once.
        self._orderings: dict[tuple[str, OrderBy, OrderDir], list[Item]] = {}
        self.reset()

    def reset(self) -> None:
        self.config = RuntimeConfig.from_settings(self.settings)
        self.limiter = FixedWindowLimiter()
        self.log = RequestLog()

    def listing(self, query: ListingQuery) -> list[Item]:
        key = (query.game_id, query.order_by, query.order_dir)
        if key not in self._orderings:
            self._orderings[key] = ordered(self.market[query.game_id], query.order_by, query.order_dir)
        return [item for item in self._orderings[key] if query.matches(item)]


# --- wire format --------------------------------------------------------------------------------------
def api_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """DMarket-style error body: ``{"code": ..., "message": ...}``."""
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def offer_json(item: Item) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "category": item.category,
        "categoryPath": item.category_path,
        "quality": item.quality,
        "tradable": True,
    }
    if item.exterior is not None:
        extra["exterior"] = item.exterior
    return {
        "itemId": item.item_id,
        "type": "dmarket",
        "amount": 1,
        "classId": item.class_id,
        "gameId": item.game_id,
        "title": item.title,
        "slug": _slug(item.title),
        "image": f"https://img.dmarket-sandbox.invalid/{item.game_id}/{item.item_id}.png",
        "status": "active",
        "inMarket": True,
        "lockStatus": False,
        "discount": item.discount_percent,
        "price": {"USD": str(item.price_cents)},
        # DMarket sends "0" rather than omitting the field when it has no suggested price.
        "suggestedPrice": {"USD": str(item.suggested_price_cents or 0)},
        "extra": extra,
        "createdAt": item.created_at,
    }


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit-Second": str(decision.limit),
        "X-RateLimit-Remaining-Second": str(decision.remaining),
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_s),
    }


def rate_limited(retry_after_s: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return api_error(
        HTTPStatus.TOO_MANY_REQUESTS,
        "TooManyRequests",
        "API rate limit exceeded",
        headers={**(headers or {}), "Retry-After": str(retry_after_s)},
    )


def _raw_path(request: Request) -> bytes:
    # raw_path is optional in the ASGI spec; without it the decoded path is the best available.
    raw_path: bytes | None = request.scope.get("raw_path")
    return raw_path or request.scope["path"].encode()


def wire_target(request: Request) -> str:
    """The request target exactly as received: raw path plus raw query string."""
    query: bytes = request.scope["query_string"]
    return (_raw_path(request) + (b"?" + query if query else b"")).decode("latin-1")


# --- query parameters ---------------------------------------------------------------------------------
class BadParameterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MarketItemsParams:
    query: ListingQuery
    limit: int
    offset: int  # where the page starts: from the cursor, else from ``offset``


def _int_param(params: QueryParams, name: str, default: int) -> int:
    value = params.get(name, "")
    if value == "":
        return default
    if not _DIGITS_RE.fullmatch(value):
        raise BadParameterError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


_Enum = TypeVar("_Enum", OrderBy, OrderDir)


def _enum_param(params: QueryParams, name: str, enum: type[_Enum], default: _Enum) -> _Enum:
    value = params.get(name, "")
    if value == "":
        return default
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise BadParameterError(f"{name} must be one of {allowed}, got {value!r}") from None


def parse_market_items_params(params: QueryParams) -> MarketItemsParams:
    game_id = params.get("gameId", "")
    if game_id not in GAME_IDS:
        raise BadParameterError(f"gameId must be one of {', '.join(GAME_IDS)}, got {game_id!r}")
    if params.get("currency") != "USD":
        raise BadParameterError(f"currency must be USD, got {params.get('currency')!r}")
    limit = _int_param(params, "limit", MAX_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameterError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    query = ListingQuery(
        game_id=game_id,
        price_from=_int_param(params, "priceFrom", 0),
        price_to=_int_param(params, "priceTo", 0),
        title=params.get("title", ""),
        order_by=_enum_param(params, "orderBy", OrderBy, OrderBy.PRICE),
        order_dir=_enum_param(params, "orderDir", OrderDir, OrderDir.ASC),
    )
    cursor = params.get("cursor", "")
    try:
        offset = decode_cursor(cursor, query) if cursor else _int_param(params, "offset", 0)
    except InvalidCursorError as exc:
        raise BadParameterError(f"cursor: {exc}") from None
    return MarketItemsParams(query=query, limit=limit, offset=offset)


# --- the DMarket endpoint -----------------------------------------------------------------------------
async def _client_left_within(request: Request, hold_s: float) -> bool:
    """Hold the request up to ``hold_s``; True as soon as the client disconnects."""
    deadline = time.monotonic() + hold_s
    while (remaining := deadline - time.monotonic()) > 0:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(min(_HOLD_POLL_S, remaining))
    return False


async def _injected_fault(request: Request, config: RuntimeConfig) -> Response | None:
    """The response an injected fault dictates, or None to serve the request normally."""
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    hold_ms = config.take_hold_ms()
    if hold_ms is not None and await _client_left_within(request, hold_ms / 1000):
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    status = config.take_fault_status()
    if status is not None:
        return api_error(status, HTTPStatus(status).phrase.replace(" ", ""), "sandbox: injected fault")
    retry_after_s = config.take_throttle_retry_after()
    if retry_after_s is not None:
        return rate_limited(retry_after_s)
    return None


async def _serve_market_items(request: Request, sandbox: Sandbox) -> Response:
    config = sandbox.config
    # Read the body first: it is part of the signature, and once it is consumed the ASGI receive
    # channel reports only disconnects, which is what holding a request relies on.
    body = await request.body()
    fault = await _injected_fault(request, config)
    if fault is not None:
        return fault
    now = time.time()  # after any injected delay: signature age and rate windows count from here
    try:
        api_key = authenticate(
            request.headers,
            method=request.method,
            raw_path=_raw_path(request),
            query_string=request.scope["query_string"],
            body=body,
            accepted_keys=config.public_keys,
            now=now,
            max_clock_skew_s=config.max_clock_skew_s,
        )
    except AuthError as exc:
        return api_error(HTTPStatus.UNAUTHORIZED, "Unauthorized", exc.failure.value)
    # Signed requests are limited per key, keyless ones per client address, as on DMarket.
    if api_key is None:
        identity, limit = f"ip:{request.client.host if request.client else ''}", config.keyless_rate_limit_rps
    else:
        identity, limit = f"key:{api_key}", config.rate_limit_rps
    headers: dict[str, str] = {}
    if limit:
        decision = sandbox.limiter.hit(identity, limit, now)
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            return rate_limited(decision.reset_s, headers)
    try:
        params = parse_market_items_params(request.query_params)
    except BadParameterError as exc:
        return api_error(HTTPStatus.BAD_REQUEST, "BadRequest", str(exc), headers)
    listing = sandbox.listing(params.query)
    page = page_of(listing, params.query, min(params.offset, len(listing)), params.limit)
    body_json = {
        "objects": [offer_json(item) for item in page.items],
        "cursor": page.next_cursor,
        "total": {
            "offers": page.total,
            "targets": 0,
            "items": page.total,
            "completedOffers": 0,
            "closedTargets": 0,
        },
    }
    return JSONResponse(body_json, headers=headers)


async def market_items(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    arrived = time.time()
    response = await _serve_market_items(request, sandbox)
    sandbox.log.record(
        LoggedRequest(
            time=arrived,
            method=request.method,
            path=wire_target(request),
            status=response.status_code,
            api_key=request.headers.get(API_KEY_HEADER),
            client=request.client.host if request.client else None,
        )
    )
    return response


# --- control API ----------------------------------------------------------------------------------------
async def get_config(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    return JSONResponse(sandbox.config.as_json())


async def post_config(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    try:
        patch = ConfigPatch.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        return JSONResponse({"code": "BadRequest", "message": "invalid config", "errors": errors}, 400)
    sandbox.config.apply(patch)
    return JSONResponse(sandbox.config.as_json())


async def post_reset(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    sandbox.reset()
    return JSONResponse(sandbox.config.as_json())


async def get_requests(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    return JSONResponse({"requests": list(sandbox.log.entries)})


async def get_stats(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    return JSONResponse(sandbox.log.stats(time.time()))


async def index(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    lines = [
        "DMarket API sandbox (local stand-in; not DMarket).",
        "",
        f"GET  {MARKET_ITEMS_PATH}?gameId={{{'|'.join(GAME_IDS)}}}&currency=USD&limit=..&cursor=..",
        "     signed (X-Api-Key, X-Sign-Date, X-Request-Sign) or keyless at the lower rate limit",
        "GET  /_sandbox/config    POST /_sandbox/config (JSON patch)    POST /_sandbox/reset",
        "GET  /_sandbox/requests  GET  /_sandbox/stats",
        "",
        f"market: seed={sandbox.settings.seed}, {sandbox.settings.items_per_game} items per game",
        f"accepted public keys: {', '.join(sorted(sandbox.config.public_keys))}",
    ]
    if DEMO_PUBLIC_KEY_HEX in sandbox.config.public_keys:
        lines.append("  includes the SANDBOX-ONLY demo key (secret: sandbox.dmarket.DEMO_SECRET_KEY_HEX)")
    lines.append("docs: docs/sandbox-dmarket.md")
    return PlainTextResponse("\n".join(lines) + "\n")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return api_error(exc.status_code, HTTPStatus(exc.status_code).phrase.replace(" ", ""), exc.detail)


def build_app(settings: SandboxSettings | None = None) -> Starlette:
    """The sandbox app; its state lives on ``app.state.sandbox``."""
    app = Starlette(
        routes=[
            Route("/", index),
            Route(MARKET_ITEMS_PATH, market_items),
            Route("/_sandbox/config", get_config, methods=["GET"]),
            Route("/_sandbox/config", post_config, methods=["POST"]),
            Route("/_sandbox/reset", post_reset, methods=["POST"]),
            Route("/_sandbox/requests", get_requests),
            Route("/_sandbox/stats", get_stats),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.sandbox = Sandbox(settings or SandboxSettings())
    return app
