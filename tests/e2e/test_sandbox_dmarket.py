"""End-to-end checks of the DMarket sandbox over real HTTP, with requests signed as DMarket specifies."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from sandbox.dmarket import (
    AGGREGATED_PRICES_PATH,
    CS2,
    GAME_IDS,
    LAST_SALES_PATH,
    MARKET_ITEMS_PATH,
    TF2,
    AuthFailure,
    ListingQuery,
    OrderBy,
    OrderDir,
    generate_market,
    select_listing,
    sign_request,
)
from tests.plugins.sandbox_dmarket import DMarketSandbox

Params = Mapping[str, str | int]


def signed_get(
    http: httpx.Client,
    sandbox: DMarketSandbox,
    params: Params,
    *,
    secret_key_hex: str | None = None,
    timestamp: int | None = None,
) -> httpx.Response:
    """Sign as DMarket's official example does and send the URL exactly as signed."""
    path_with_query = f"{MARKET_ITEMS_PATH}?{urlencode(params, quote_via=quote)}"
    headers = sign_request(secret_key_hex or sandbox.secret_key_hex, "GET", path_with_query, timestamp=timestamp)
    return http.get(sandbox.url + path_with_query, headers=headers)


def fetch_all(http: httpx.Client, sandbox: DMarketSandbox, params: Params) -> tuple[list[str], int]:
    """Page through a listing by cursor; the item ids in order and the number of pages."""
    item_ids: list[str] = []
    cursor, pages = "", 0
    while True:
        response = signed_get(http, sandbox, {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        item_ids += [obj["itemId"] for obj in body["objects"]]
        pages += 1
        cursor = body["cursor"]
        if not cursor:
            return item_ids, pages


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def base_params(**extra: str | int) -> dict[str, str | int]:
    return {"gameId": CS2, "currency": "USD", "limit": 100, **extra}


# --- signing ----------------------------------------------------------------------------------------------
def test_signed_request_with_encoded_query_verifies_and_is_logged_as_sent(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    params = base_params(title="StatTrak™ AK-47 | ", orderBy="title", orderDir="asc", limit=5)

    response = signed_get(http, dmarket_sandbox, params)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["objects"], "the market has StatTrak AK-47 listings"
    offer = body["objects"][0]
    assert offer["title"].startswith("StatTrak™ AK-47 | ")
    assert {
        "itemId",
        "title",
        "gameId",
        "classId",
        "price",
        "suggestedPrice",
        "discount",
        "extra",
    } <= offer.keys()
    assert offer["type"] == "dmarket"
    assert offer["inMarket"] is True
    assert offer["price"]["USD"].isdigit()
    assert offer["suggestedPrice"]["USD"].isdigit()
    assert set(body["total"]) >= {"offers", "items"}
    assert response.headers["X-RateLimit-Limit-Second"] == "10"
    [logged] = dmarket_sandbox.client.requests()
    assert logged["path"] == f"{MARKET_ITEMS_PATH}?{urlencode(params, quote_via=quote)}"
    assert logged["api_key"] == dmarket_sandbox.public_key_hex
    assert logged["endpoint"] == "market_items"
    assert "X-Request-Sign" not in str(logged)
    assert dmarket_sandbox.secret_key_hex not in str(logged)


def test_reference_signer_accepts_a_bare_seed() -> None:
    secret = SigningKey.generate()
    seed_hex = secret.encode().hex()
    full_hex = seed_hex + secret.verify_key.encode().hex()
    path = f"{MARKET_ITEMS_PATH}?gameId=a8db"

    assert sign_request(seed_hex, "GET", path, timestamp=1) == sign_request(full_hex, "GET", path, timestamp=1)


def _stranger_secret() -> str:
    key = SigningKey.generate()
    return key.encode().hex() + key.verify_key.encode().hex()


@pytest.mark.parametrize(
    ("tamper", "failure"),
    [
        ("unknown_key", AuthFailure.UNKNOWN_API_KEY),
        ("tampered_query", AuthFailure.BAD_SIGNATURE),
        ("stale_timestamp", AuthFailure.SIGN_DATE_EXPIRED),
        ("future_timestamp", AuthFailure.SIGN_DATE_IN_FUTURE),
        ("missing_signature", AuthFailure.MISSING_HEADERS),
        ("malformed_signature", AuthFailure.MALFORMED_SIGNATURE),
    ],
)
def test_bad_authentication_is_refused_with_a_distinct_reason(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox, tamper: str, failure: AuthFailure
) -> None:
    signed_path = f"{MARKET_ITEMS_PATH}?{urlencode(base_params(priceTo=1000), quote_via=quote)}"
    sent_path = signed_path
    secret, timestamp = dmarket_sandbox.secret_key_hex, int(time.time())
    if tamper == "unknown_key":
        secret = _stranger_secret()
    elif tamper == "tampered_query":
        sent_path = signed_path.replace("priceTo=1000", "priceTo=100000")
    elif tamper == "stale_timestamp":
        timestamp -= dmarket_sandbox.settings.max_clock_skew_s + 10
    elif tamper == "future_timestamp":
        timestamp += dmarket_sandbox.settings.max_clock_skew_s + 10
    headers = sign_request(secret, "GET", signed_path, timestamp=timestamp)
    if tamper == "missing_signature":
        del headers["X-Request-Sign"]
    elif tamper == "malformed_signature":
        headers["X-Request-Sign"] = headers["X-Request-Sign"].replace("dmar ed25519 ", "ed25519 ")

    response = http.get(dmarket_sandbox.url + sent_path, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"code": "Unauthorized", "message": failure.value}


def test_accepted_keys_can_be_replaced(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    other = SigningKey.generate()
    other_secret = other.encode().hex() + other.verify_key.encode().hex()
    dmarket_sandbox.client.configure(public_keys=[other.verify_key.encode().hex()])

    assert signed_get(http, dmarket_sandbox, base_params(limit=1), secret_key_hex=other_secret).status_code == 200
    refused = signed_get(http, dmarket_sandbox, base_params(limit=1))
    assert refused.json()["message"] == AuthFailure.UNKNOWN_API_KEY.value


def test_keyless_requests_are_served_at_the_keyless_limit(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    response = http.get(f"{dmarket_sandbox.url}{MARKET_ITEMS_PATH}", params=base_params(limit=1))

    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "2"
    assert dmarket_sandbox.client.requests()[0]["api_key"] is None


# --- listing and pagination -----------------------------------------------------------------------------
@pytest.mark.parametrize(("order_by", "order_dir"), [(OrderBy.PRICE, OrderDir.ASC), (OrderBy.TITLE, OrderDir.DESC)])
def test_pages_concatenate_to_the_exact_listing(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox, order_by: OrderBy, order_dir: OrderDir
) -> None:
    dmarket_sandbox.client.configure(rate_limit_rps=0)
    query = ListingQuery(CS2, price_from=300, price_to=1000, order_by=order_by, order_dir=order_dir)
    expected = select_listing(dmarket_sandbox.market[CS2], query)
    assert len(expected) > 100, "the range must span several pages"

    item_ids, pages = fetch_all(
        http,
        dmarket_sandbox,
        base_params(priceFrom=300, priceTo=1000, orderBy=order_by.value, orderDir=order_dir.value, limit=37),
    )

    assert item_ids == [item.item_id for item in expected]
    assert pages == math.ceil(len(expected) / 37)
    assert all(300 <= item.price_cents <= 1000 for item in expected)


@settings(
    max_examples=20,
    deadline=None,
    # The fixture's server is shared on purpose; each example only reads the market.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    game_id=st.sampled_from(GAME_IDS),
    price_from=st.integers(0, 20_000),
    span=st.integers(0, 200_000),
    limit=st.integers(1, 100),
    order_by=st.sampled_from(list(OrderBy)),
    order_dir=st.sampled_from(list(OrderDir)),
)
def test_pagination_is_exact_for_any_range_and_limit(
    http: httpx.Client,
    dmarket_sandbox: DMarketSandbox,
    game_id: str,
    price_from: int,
    span: int,
    limit: int,
    order_by: OrderBy,
    order_dir: OrderDir,
) -> None:
    dmarket_sandbox.client.configure(rate_limit_rps=0)
    query = ListingQuery(game_id, price_from, price_from + span, order_by=order_by, order_dir=order_dir)
    expected = [item.item_id for item in select_listing(dmarket_sandbox.market[game_id], query)]
    limit = max(limit, math.ceil(len(expected) / 20))  # at most ~20 pages keeps the test fast

    item_ids, _ = fetch_all(
        http,
        dmarket_sandbox,
        {
            "gameId": game_id,
            "currency": "USD",
            "limit": limit,
            "priceFrom": query.price_from,
            "priceTo": query.price_to,
            "orderBy": order_by.value,
            "orderDir": order_dir.value,
        },
    )

    assert item_ids == expected


def test_totals_count_the_whole_filtered_listing(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    expected = select_listing(dmarket_sandbox.market[TF2], ListingQuery(TF2, price_from=1000, price_to=3000))

    body = signed_get(http, dmarket_sandbox, base_params(gameId=TF2, priceFrom=1000, priceTo=3000, limit=1)).json()

    assert body["total"]["offers"] == body["total"]["items"] == len(expected)
    assert [obj["itemId"] for obj in body["objects"]] == [expected[0].item_id]


@pytest.mark.parametrize(
    ("params", "message_part"),
    [
        (base_params(gameId="csgo"), "gameId"),
        (base_params(limit=101), "limit"),
        (base_params(limit=0), "limit"),
        (base_params(currency="EUR"), "currency"),
        (base_params(priceFrom="1.50"), "priceFrom"),
        (base_params(orderBy="popularity"), "orderBy"),
        (base_params(cursor="not-a-cursor"), "cursor"),
    ],
)
def test_invalid_parameters_are_400(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox, params: Params, message_part: str
) -> None:
    response = signed_get(http, dmarket_sandbox, params)

    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"
    assert message_part in response.json()["message"]


def test_a_cursor_only_works_for_its_own_query(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    cursor = signed_get(http, dmarket_sandbox, base_params(limit=10)).json()["cursor"]
    assert cursor

    response = signed_get(http, dmarket_sandbox, base_params(limit=10, priceFrom=500, cursor=cursor))

    assert response.status_code == 400
    assert "different query" in response.json()["message"]


# --- rate limits and faults ---------------------------------------------------------------------------------
def test_requests_past_the_rate_limit_get_429_with_retry_after(
    http: httpx.Client, dmarket_sandbox: DMarketSandbox
) -> None:
    dmarket_sandbox.client.configure(rate_limit_rps=5)

    # 5 per clock second: 20 quick requests span at most a couple of windows, so some must be refused.
    responses = [signed_get(http, dmarket_sandbox, base_params(limit=1)) for _ in range(20)]

    refused = [r for r in responses if r.status_code == 429]
    served = [r for r in responses if r.status_code == 200]
    assert refused
    assert served
    assert len(refused) + len(served) == 20
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert all(r.headers["X-RateLimit-Remaining-Second"] == "0" for r in refused)
    assert {r.headers["RateLimit-Limit"] for r in served} == {"5"}
    assert all(0 <= int(r.headers["RateLimit-Remaining"]) < 5 for r in served)
    stats = dmarket_sandbox.client.stats()
    assert stats["throttled_total"] == len(refused)
    assert stats["peak_served_per_second"] <= 5


def test_429_storm(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    dmarket_sandbox.client.throttle_next(2, retry_after_s=7)

    statuses = [signed_get(http, dmarket_sandbox, base_params(limit=1)) for _ in range(3)]

    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "7"


def test_injected_5xx_then_recovery(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    dmarket_sandbox.client.fail_next(2, status=502)

    responses = [signed_get(http, dmarket_sandbox, base_params(limit=1)) for _ in range(3)]

    assert [r.status_code for r in responses] == [502, 502, 200]
    assert responses[0].json()["code"] == "BadGateway"
    assert dmarket_sandbox.client.config()["fail_next"]["count"] == 0


def test_held_request_trips_a_client_read_timeout(dmarket_sandbox: DMarketSandbox) -> None:
    dmarket_sandbox.client.hold_next(1, hold_ms=5_000)

    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            signed_get(impatient, dmarket_sandbox, base_params(limit=1))
        # The server notices the client gave up instead of holding the full 5 s.
        wait_until(lambda: [r["status"] for r in dmarket_sandbox.client.requests()] == [499])
        assert signed_get(impatient, dmarket_sandbox, base_params(limit=1)).status_code == 200


def test_added_latency_slows_every_request(dmarket_sandbox: DMarketSandbox) -> None:
    dmarket_sandbox.client.set_latency(400)

    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.1)) as impatient, pytest.raises(httpx.ReadTimeout):
        signed_get(impatient, dmarket_sandbox, base_params(limit=1))
    with httpx.Client(timeout=5.0) as patient:
        started = time.monotonic()
        assert signed_get(patient, dmarket_sandbox, base_params(limit=1)).status_code == 200
        assert time.monotonic() - started >= 0.4


def test_reset_clears_faults_and_log(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    dmarket_sandbox.client.fail_next(5)
    signed_get(http, dmarket_sandbox, base_params(limit=1))

    dmarket_sandbox.client.reset()

    assert dmarket_sandbox.client.requests() == []
    assert signed_get(http, dmarket_sandbox, base_params(limit=1)).status_code == 200


def test_control_api_rejects_unknown_or_invalid_settings(dmarket_sandbox: DMarketSandbox) -> None:
    for bad in ({"rate_limit": 5}, {"fail_next": {"count": 1, "status": 404}}, {"public_keys": ["abc"]}):
        with pytest.raises(httpx.HTTPStatusError) as excinfo:
            dmarket_sandbox.client.configure(**bad)
        assert excinfo.value.response.status_code == 400


def test_index_describes_the_sandbox(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    page = http.get(dmarket_sandbox.url + "/")

    assert page.status_code == 200
    for path in (MARKET_ITEMS_PATH, AGGREGATED_PRICES_PATH, LAST_SALES_PATH, "SANDBOX-ONLY"):
        assert path in page.text


# --- the generated market ----------------------------------------------------------------------------------
def test_generator_is_deterministic() -> None:
    assert generate_market(7, 300) == generate_market(7, 300)
    assert generate_market(7, 300) != generate_market(8, 300)


def test_server_serves_the_generated_market(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    dmarket_sandbox.client.configure(rate_limit_rps=0)
    served, _ = fetch_all(http, dmarket_sandbox, base_params(gameId=TF2))

    assert sorted(served) == sorted(item.item_id for item in dmarket_sandbox.market[TF2])


LEVEL_RANGES_CENTS = {
    "boost": (50, 300),
    "standard": (300, 1_000),
    "medium": (1_000, 3_000),
    "advanced": (3_000, 10_000),
    "pro": (10_000, 100_000),
}


@pytest.mark.parametrize("game_id", GAME_IDS)
def test_market_spread_is_realistic(dmarket_sandbox: DMarketSandbox, game_id: str) -> None:
    items = dmarket_sandbox.market[game_id]

    without = [item for item in items if item.suggested_price_cents is None]
    priced = [item for item in items if item.suggested_price_cents is not None]
    deals = [item for item in priced if 10 <= item.discount_percent <= 40]
    near_or_above = [item for item in priced if item.discount_percent < 3]
    assert 0.01 * len(items) <= len(without) <= 0.06 * len(items)
    assert 0.04 * len(items) <= len(deals) <= 0.12 * len(items)
    assert len(near_or_above) >= 0.8 * len(items)
    for low, high in LEVEL_RANGES_CENTS.values():
        assert sum(low <= item.price_cents <= high for item in items) >= 100
    assert all(isinstance(item.price_cents, int) and item.price_cents >= 3 for item in items)


def test_items_without_suggested_price_are_sent_as_zero(http: httpx.Client, dmarket_sandbox: DMarketSandbox) -> None:
    item = next(item for item in dmarket_sandbox.market[CS2] if item.suggested_price_cents is None)

    body = signed_get(
        http,
        dmarket_sandbox,
        base_params(title=item.title, priceFrom=item.price_cents, priceTo=item.price_cents),
    ).json()

    [offer] = [obj for obj in body["objects"] if obj["itemId"] == item.item_id]
    assert offer["suggestedPrice"] == {"USD": "0"}
    assert offer["discount"] == 0
