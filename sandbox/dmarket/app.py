"""The DMarket sandbox ASGI app: three DMarket endpoints plus the ``/_sandbox/`` control API.

* ``GET  /exchange/v1/market/items``            listings, cursor-paged (market items family)
* ``POST /marketplace-api/v1/aggregated-prices`` best buy order and best offer per title (other family)
* ``GET  /trade-aggregator/v1/last-sales``       recent sales of a title (last sales family)

Every API request goes through the same gateway: injected faults, then signature check, then the
rate limit of its family; then the endpoint; then an injected hostile body or slow drip.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, TypeVar

import anyio
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sandbox.dmarket.endpoints import (
    AGGREGATED_PRICES_PATH,
    LAST_SALES_PATH,
    MARKET_ITEMS_PATH,
    Endpoint,
    family_of,
)
from sandbox.dmarket.faults import (
    HOSTILE_KINDS,
    CorruptionContext,
    HostileKind,
    JsonObject,
    corrupt,
    dollars,
)
from sandbox.dmarket.listing import (
    InvalidCursorError,
    ListingQuery,
    OrderBy,
    OrderDir,
    decode_cursor,
    decode_offset_cursor,
    encode_cursor,
    encode_offset_cursor,
    ordered,
    page_of,
)
from sandbox.dmarket.market import GAME_IDS, Item
from sandbox.dmarket.signing import API_KEY_HEADER, DEMO_PUBLIC_KEY_HEX, AuthError, authenticate
from sandbox.dmarket.state import (
    ConfigPatch,
    DripNext,
    FixedWindowLimiter,
    LoggedRequest,
    RateDecision,
    RequestLog,
    RuntimeConfig,
    SandboxSettings,
)
from sandbox.dmarket.truth import (
    DAY_S,
    AggregatedPrice,
    MarketModel,
    Sale,
    TitleTruth,
    TxOperationType,
    build_market_model,
    select_sales,
)

MAX_LIMIT = 100  # market items per page
MAX_AGGREGATED_TITLES = 100  # titles per aggregated-prices call
MAX_AGGREGATED_LIMIT = 100
MAX_LAST_SALES_LIMIT = 20  # the swagger: "limit ... min: 1 max: 20"
DEFAULT_LAST_SALES_LIMIT = 20
CLIENT_CLOSED_REQUEST = 499  # nginx's convention; logged when a client gives up on a held request
GRPC_INVALID_ARGUMENT = 3
KONG_UPSTREAM_TIMEOUT = "The upstream server is timing out"
SALES_CACHE_TITLES = 4_096
_HOLD_POLL_S = 0.05
_DIGITS_RE = re.compile(r"[0-9]+")


class Sandbox:
    """Everything one sandbox server knows: the generated market and the mutable state."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.model: MarketModel = build_market_model(settings.seed, settings.items_per_game)
        self.market = self.model.items
        # Sale dates count back from here; fixed at start-up so that reset keeps them.
        self.start_sales_anchor = int(time.time()) if settings.sales_anchor is None else settings.sales_anchor
        # Orderings are pure functions of the static market, so each is computed once.
        self._orderings: dict[tuple[str, OrderBy, OrderDir], list[Item]] = {}
        self._all_titles: dict[str, list[str]] = {}
        self.sales = functools.lru_cache(maxsize=SALES_CACHE_TITLES)(self.model.sales)
        self.reset()

    def reset(self) -> None:
        self.config = RuntimeConfig.from_settings(self.settings, self.start_sales_anchor)
        self.limiter = FixedWindowLimiter()
        self.log = RequestLog()

    def listing(self, query: ListingQuery) -> list[Item]:
        key = (query.game_id, query.order_by, query.order_dir)
        if key not in self._orderings:
            self._orderings[key] = ordered(self.market[query.game_id], query.order_by, query.order_dir)
        return [item for item in self._orderings[key] if query.matches(item)]

    def all_titles(self, game_id: str) -> list[str]:
        """Every catalogue title of a game, in the order an empty ``titles`` filter pages through."""
        if game_id not in self._all_titles:
            self._all_titles[game_id] = sorted(self.model.catalogue[game_id], key=lambda t: (t.casefold(), t))
        return self._all_titles[game_id]


# --- wire format --------------------------------------------------------------------------------------
def api_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """DMarket-style error body: ``{"code": ..., "message": ...}``."""
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def rpc_error(message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The marketplace API's gRPC-gateway error body (the swagger's ``runtimeError``), as a 400."""
    body = {"error": message, "code": GRPC_INVALID_ARGUMENT, "message": message, "details": []}
    return JSONResponse(body, status_code=HTTPStatus.BAD_REQUEST, headers=headers)


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


def money_json(cents: int) -> dict[str, str]:
    """The marketplace API's ``commonMoney``: integer cents as a string, capitalised keys."""
    return {"Currency": "USD", "Amount": str(cents)}


def aggregated_price_json(entry: AggregatedPrice) -> dict[str, Any]:
    return {
        "title": entry.title,
        "orderBestPrice": money_json(entry.order_best_price_cents),
        "orderCount": str(entry.order_count),  # int64 fields are strings in gRPC-gateway JSON
        "offerBestPrice": money_json(entry.offer_best_price_cents),
        "offerCount": str(entry.offer_count),
    }


def sale_json(sale: Sale, anchor: int) -> dict[str, Any]:
    return {
        "price": dollars(sale.price_cents),
        "date": str(sale.date(anchor)),
        "txOperationType": sale.tx_operation_type.value,
        "offerAttributes": {},
        "orderAttributes": {},
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


# --- parameters ---------------------------------------------------------------------------------------
class BadParameterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MarketItemsParams:
    query: ListingQuery
    limit: int
    offset: int  # where the page starts: from the cursor, else from ``offset``
    cursor: str  # as sent ("" for none)


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


def _game_param(value: object, name: str) -> str:
    if not isinstance(value, str) or value not in GAME_IDS:
        raise BadParameterError(f"{name} must be one of {', '.join(GAME_IDS)}, got {value!r}")
    return value


def parse_market_items_params(params: QueryParams) -> MarketItemsParams:
    game_id = _game_param(params.get("gameId", ""), "gameId")
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
    return MarketItemsParams(query=query, limit=limit, offset=offset, cursor=cursor)


@dataclass(frozen=True, slots=True)
class AggregatedPricesParams:
    game_id: str
    titles: tuple[str, ...]  # distinct, in request order; empty = every title of the game
    limit: int
    offset: int
    cursor: str

    def fingerprint(self) -> str:
        canonical = json.dumps([self.game_id, self.titles], ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _json_int(value: object, name: str, default: int) -> int:
    """An int64 as gRPC-gateway reads it: a JSON number or a string of digits."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadParameterError(f"{name} must be an integer or a string of digits, got {value!r}")
    if isinstance(value, str) and not _DIGITS_RE.fullmatch(value):
        raise BadParameterError(f"{name} must be an integer or a string of digits, got {value!r}")
    return int(value)


def parse_aggregated_prices_body(body: bytes) -> AggregatedPricesParams:
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadParameterError("request body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise BadParameterError("request body must be a JSON object")
    request_filter = payload.get("filter")
    if not isinstance(request_filter, dict):
        raise BadParameterError("filter must be an object with game and titles")
    game_id = _game_param(request_filter.get("game"), "filter.game")
    titles = request_filter.get("titles") or []
    if not isinstance(titles, list) or not all(isinstance(title, str) for title in titles):
        raise BadParameterError("filter.titles must be a list of strings")
    if len(titles) > MAX_AGGREGATED_TITLES:
        raise BadParameterError(f"filter.titles: at most {MAX_AGGREGATED_TITLES} titles per request, got {len(titles)}")
    limit = _json_int(payload.get("limit"), "limit", MAX_AGGREGATED_LIMIT)
    if not 1 <= limit <= MAX_AGGREGATED_LIMIT:
        raise BadParameterError(f"limit must be between 1 and {MAX_AGGREGATED_LIMIT}, got {limit}")
    cursor = payload.get("cursor") or ""
    if not isinstance(cursor, str):
        raise BadParameterError(f"cursor must be a string, got {cursor!r}")
    params = AggregatedPricesParams(game_id, tuple(dict.fromkeys(titles)), limit, 0, cursor)
    if not cursor:
        return params
    try:
        return replace(params, offset=decode_offset_cursor(cursor, params.fingerprint()))
    except InvalidCursorError as exc:
        raise BadParameterError(f"cursor: {exc}") from None


@dataclass(frozen=True, slots=True)
class LastSalesParams:
    game_id: str
    title: str
    tx_types: frozenset[TxOperationType]  # empty = every type
    limit: int
    offset: int


def parse_last_sales_params(params: QueryParams) -> LastSalesParams:
    game_id = _game_param(params.get("gameId", ""), "gameId")
    title = params.get("title", "")
    if not title:
        raise BadParameterError("title is required")
    limit = _int_param(params, "limit", DEFAULT_LAST_SALES_LIMIT)
    if not 1 <= limit <= MAX_LAST_SALES_LIMIT:
        raise BadParameterError(f"limit must be between 1 and {MAX_LAST_SALES_LIMIT}, got {limit}")
    tx_types: set[TxOperationType] = set()
    for value in params.getlist("txOperationType"):
        if value == "":
            continue
        try:
            tx_types.add(TxOperationType(value))
        except ValueError:
            allowed = ", ".join(member.value for member in TxOperationType)
            raise BadParameterError(f"txOperationType must be empty or one of {allowed}, got {value!r}") from None
    return LastSalesParams(game_id, title, frozenset(tx_types), limit, _int_param(params, "offset", 0))


# --- the three endpoints ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated, admitted API request on its way to an endpoint."""

    request: Request
    sandbox: Sandbox
    body: bytes
    headers: dict[str, str]  # rate-limit headers every response carries
    listing_kind: str | None  # a pending listing kind of hostile body, applied by the endpoint


Served = JsonObject | Response  # a 200 body to send (and maybe corrupt), or a finished error response


async def serve_market_items(call: Call) -> Served:
    try:
        params = parse_market_items_params(call.request.query_params)
    except BadParameterError as exc:
        return api_error(HTTPStatus.BAD_REQUEST, "BadRequest", str(exc), call.headers)
    query = params.query
    listing = call.sandbox.listing(query)
    offset = min(params.offset, len(listing))
    page = page_of(listing, query, offset, params.limit)
    objects = list(page.items)
    next_cursor = page.next_cursor
    if call.listing_kind == "cursor_repeats":
        next_cursor = params.cursor or encode_cursor(query, offset)
    elif call.listing_kind == "price_to_ignored":
        unbounded = call.sandbox.listing(replace(query, price_to=0))
        objects = unbounded[offset : offset + params.limit]
    elif call.listing_kind == "duplicate_item_ids" and objects:
        objects.insert(0, listing[offset - 1] if offset else objects[0])
    return {
        "objects": [offer_json(item) for item in objects],
        "cursor": next_cursor,
        "total": {
            "offers": page.total,
            "targets": 0,
            "items": page.total,
            "completedOffers": 0,
            "closedTargets": 0,
        },
    }


async def serve_aggregated_prices(call: Call) -> Served:
    try:
        params = parse_aggregated_prices_body(call.body)
    except BadParameterError as exc:
        return rpc_error(str(exc), call.headers)
    titles = params.titles or tuple(call.sandbox.all_titles(params.game_id))
    entries = call.sandbox.model.aggregated_prices(params.game_id, titles)
    end = params.offset + params.limit
    next_cursor = encode_offset_cursor(params.fingerprint(), end) if end < len(entries) else ""
    if call.listing_kind == "next_cursor_repeats":
        next_cursor = params.cursor or encode_offset_cursor(params.fingerprint(), params.offset)
    return {
        "aggregatedPrices": [aggregated_price_json(entry) for entry in entries[params.offset : end]],
        "nextCursor": next_cursor,
    }


async def serve_last_sales(call: Call) -> Served:
    try:
        params = parse_last_sales_params(call.request.query_params)
    except BadParameterError as exc:
        return api_error(HTTPStatus.BAD_REQUEST, "BadRequest", str(exc), call.headers)
    sales = call.sandbox.sales(params.game_id, params.title)
    anchor = call.sandbox.config.sales_anchor
    selected = select_sales(sales, params.tx_types, params.offset, params.limit)
    return {"sales": [sale_json(sale, anchor) for sale in selected]}


# --- the gateway: faults, authentication, rate limits -------------------------------------------------------
async def _client_left_within(request: Request, hold_s: float) -> bool:
    """Hold the request up to ``hold_s``; True as soon as the client disconnects."""
    deadline = time.monotonic() + hold_s
    while (remaining := deadline - time.monotonic()) > 0:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(min(_HOLD_POLL_S, remaining))
    return False


async def _injected_fault(request: Request, config: RuntimeConfig, endpoint: Endpoint) -> Response | None:
    """The response an injected gateway fault dictates, or None to go on with the request."""
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    hang_ms = config.take_hang_ms(endpoint)
    if hang_ms is not None:
        if await _client_left_within(request, hang_ms / 1000):
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        # What DMarket's gateway (Kong) answers when the upstream never does.
        return JSONResponse({"message": KONG_UPSTREAM_TIMEOUT}, status_code=HTTPStatus.GATEWAY_TIMEOUT)
    hold_ms = config.take_hold_ms(endpoint)
    if hold_ms is not None and await _client_left_within(request, hold_ms / 1000):
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    status = config.take_fault_status(endpoint)
    if status is not None:
        return api_error(status, HTTPStatus(status).phrase.replace(" ", ""), "sandbox: injected fault")
    retry_after_s = config.take_throttle_retry_after(endpoint)
    if retry_after_s is not None:
        return rate_limited(retry_after_s)
    return None


def _corrupted(kind: HostileKind, body: JsonObject, call: Call, endpoint: Endpoint) -> Response:
    raw = corrupt(kind, body, CorruptionContext(endpoint=endpoint, sales_anchor=call.sandbox.config.sales_anchor))
    return Response(raw.content, status_code=raw.status, media_type=raw.media_type, headers=call.headers)


async def _through_gateway(
    request: Request, sandbox: Sandbox, endpoint: Endpoint, body: bytes, serve: Callable[[Call], Awaitable[Served]]
) -> Response:
    config = sandbox.config
    fault = await _injected_fault(request, config, endpoint)
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
    # Signed requests are limited per key, keyless ones per client address, each family on its own.
    signed = api_key is not None
    family = family_of(endpoint, signed=signed)
    identity = f"key:{api_key}" if signed else f"ip:{request.client.host if request.client else ''}"
    limit = config.limit_for(family, signed=signed)
    headers: dict[str, str] = {}
    if limit:
        decision = sandbox.limiter.hit(f"{family}:{identity}", limit, now)
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            return rate_limited(decision.reset_s, headers)
    kind_name = config.peek_corruption(endpoint)
    kind = HOSTILE_KINDS[kind_name] if kind_name is not None else None
    listing_kind = kind.name if kind is not None and kind.listing_kind else None
    call = Call(request, sandbox, body, headers, listing_kind)
    served = await serve(call)
    if isinstance(served, Response):
        return served  # an error: the pending hostile body waits for a 200
    if kind is None:
        return JSONResponse(served, headers=headers)
    config.take_corruption(endpoint)
    if kind.listing_kind:
        return JSONResponse(served, headers=headers)  # the endpoint already applied it
    return _corrupted(kind, served, call, endpoint)


class DripResponse(Response):
    """Send a finished response's body ``chunk_bytes`` at a time, ``interval_s`` apart.

    Each chunk arrives well inside a per-read timeout, so only a client's total deadline stops it.
    Stops as soon as the client disconnects; ``on_done(completed)`` then reports how it ended.
    """

    def __init__(self, inner: Response, drip: DripNext, on_done: Callable[[bool], None]) -> None:
        # The inner response is already rendered: reuse its status, headers and body as they are.
        self.status_code = inner.status_code
        self.body = inner.body
        self.raw_headers = inner.raw_headers
        self.background = None
        self.interval_s = drip.interval_ms / 1000
        self.chunk_bytes = drip.chunk_bytes
        self.on_done = on_done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        left = anyio.Event()

        async def watch_for_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            left.set()

        completed = False
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch_for_disconnect)
            try:
                completed = await self._drip(send, left)
            except OSError:
                pass  # the client went away mid-write
            finally:
                tasks.cancel_scope.cancel()
        self.on_done(completed)

    async def _drip(self, send: Send, left: anyio.Event) -> bool:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for start in range(0, len(self.body), self.chunk_bytes):
            if start:
                with anyio.move_on_after(self.interval_s):
                    await left.wait()
                if left.is_set():
                    return False
            chunk = bytes(self.body[start : start + self.chunk_bytes])
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True


async def handle_api(request: Request, endpoint: Endpoint, serve: Callable[[Call], Awaitable[Served]]) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    arrived = time.time()
    # Read the body first: it is part of the signature, and once it is consumed the ASGI receive
    # channel reports only disconnects, which is what holding a request relies on.
    body = await request.body()
    response = await _through_gateway(request, sandbox, endpoint, body, serve)

    def record(status: int) -> None:
        sandbox.log.record(
            LoggedRequest(
                time=arrived,
                method=request.method,
                path=wire_target(request),
                endpoint=endpoint.value,
                status=status,
                api_key=request.headers.get(API_KEY_HEADER),
                client=request.client.host if request.client else None,
            )
        )

    drip = sandbox.config.take_drip(endpoint) if response.status_code != CLIENT_CLOSED_REQUEST else None
    if drip is None:
        record(response.status_code)
        return response
    status = response.status_code
    return DripResponse(response, drip, lambda completed: record(status if completed else CLIENT_CLOSED_REQUEST))


async def market_items(request: Request) -> Response:
    return await handle_api(request, Endpoint.MARKET_ITEMS, serve_market_items)


async def aggregated_prices(request: Request) -> Response:
    return await handle_api(request, Endpoint.AGGREGATED_PRICES, serve_aggregated_prices)


async def last_sales(request: Request) -> Response:
    return await handle_api(request, Endpoint.LAST_SALES, serve_last_sales)


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


async def get_faults(request: Request) -> Response:
    return JSONResponse(
        {
            "hostile_kinds": [
                {
                    "name": kind.name,
                    "endpoints": sorted(kind.endpoints),
                    "listing": kind.listing_kind,
                    "description": kind.description,
                }
                for kind in HOSTILE_KINDS.values()
            ]
        }
    )


def truth_json(truth: TitleTruth, sandbox: Sandbox, *, with_sales: bool) -> dict[str, Any]:
    entry = sandbox.model.aggregated_price(truth.game_id, truth.title)
    assert entry is not None
    result: dict[str, Any] = {
        "game_id": truth.game_id,
        "title": truth.title,
        "suggested_price_cents": truth.suggested_price_cents,
        "true_value_cents": truth.true_value_cents,
        "suggested_overstated": truth.suggested_overstated,
        "overstatement_bp": truth.overstatement_bp,
        "liquidity": truth.liquidity.value,
        "sales_per_day": truth.sales_per_day,
        "spread_bp": truth.spread_bp,
        "order_count": truth.order_count,
        "order_best_price_cents": truth.order_best_price_cents,
        "offer_count": entry.offer_count,
        "offer_best_price_cents": entry.offer_best_price_cents,
    }
    if with_sales:
        sales = sandbox.sales(truth.game_id, truth.title)
        anchor = sandbox.config.sales_anchor
        result |= {
            "sales_total": len(sales),
            "sales_last_24h": sum(1 for sale in sales if sale.age_s <= DAY_S),
            "sales_last_7d": sum(1 for sale in sales if sale.age_s <= 7 * DAY_S),
            "last_sale_at": sales[0].date(anchor) if sales else None,
        }
    return result


async def get_truth(request: Request) -> Response:
    """The hidden truth: per item (``itemId``), per title (``title``) or for a whole game."""
    sandbox: Sandbox = request.app.state.sandbox
    params = request.query_params
    game_id = params.get("gameId", "")
    truths = sandbox.model.truth.get(game_id)
    if truths is None:
        return api_error(HTTPStatus.BAD_REQUEST, "BadRequest", f"gameId must be one of {', '.join(GAME_IDS)}")
    anchor = {"sales_anchor": sandbox.config.sales_anchor}
    if item_id := params.get("itemId"):
        item = sandbox.model.item(game_id, item_id)
        if item is None:
            return api_error(HTTPStatus.NOT_FOUND, "NotFound", f"no item {item_id!r} in {game_id}")
        listing = {"item_id": item.item_id, "price_cents": item.price_cents}
        return JSONResponse(anchor | listing | truth_json(truths[item.title], sandbox, with_sales=True))
    if title := params.get("title"):
        if title not in truths:
            return api_error(HTTPStatus.NOT_FOUND, "NotFound", f"no title {title!r} in {game_id}")
        return JSONResponse(anchor | truth_json(truths[title], sandbox, with_sales=True))
    titles = [truth_json(truth, sandbox, with_sales=False) for truth in truths.values()]
    return JSONResponse(anchor | {"game_id": game_id, "titles": titles})


async def index(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    lines = [
        "DMarket API sandbox (local stand-in; not DMarket).",
        "",
        f"GET  {MARKET_ITEMS_PATH}?gameId={{{'|'.join(GAME_IDS)}}}&currency=USD&limit=..&cursor=..",
        f'POST {AGGREGATED_PRICES_PATH}  {{"filter": {{"game": ..., "titles": [...]}}, "limit": "100"}}',
        f"GET  {LAST_SALES_PATH}?gameId=..&title=..&limit=20&offset=..&txOperationType=..",
        "     signed (X-Api-Key, X-Sign-Date, X-Request-Sign) or keyless at the lower rate limits",
        "GET  /_sandbox/config    POST /_sandbox/config (JSON patch)    POST /_sandbox/reset",
        "GET  /_sandbox/requests  GET  /_sandbox/stats  GET /_sandbox/faults  GET /_sandbox/truth?gameId=..",
        "",
        f"market: seed={sandbox.settings.seed}, {sandbox.settings.items_per_game} items per game, "
        f"sales anchored at {sandbox.config.sales_anchor}",
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
            Route(AGGREGATED_PRICES_PATH, aggregated_prices, methods=["POST"]),
            Route(LAST_SALES_PATH, last_sales),
            Route("/_sandbox/config", get_config, methods=["GET"]),
            Route("/_sandbox/config", post_config, methods=["POST"]),
            Route("/_sandbox/reset", post_reset, methods=["POST"]),
            Route("/_sandbox/requests", get_requests),
            Route("/_sandbox/stats", get_stats),
            Route("/_sandbox/faults", get_faults),
            Route("/_sandbox/truth", get_truth),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.sandbox = Sandbox(settings or SandboxSettings())
    return app
