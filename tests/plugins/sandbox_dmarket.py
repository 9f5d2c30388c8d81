"""DMarket sandbox fixtures: one server per session (and a large one on demand), reset before every test.

``dmarket_sandbox`` serves the default market (2,000 listings per game); ``dmarket_sandbox_large`` the
benchmark market (20,000 per game), started the first time a test asks for it. Both come with the pure
model of what they serve (``model``: listings, catalogue, truth per title, sales), computed here
independently of the server, so tests state expectations without HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import httpx
import pytest

from sandbox.dmarket import (
    DEMO_PUBLIC_KEY_HEX,
    DEMO_SECRET_KEY_HEX,
    LARGE_ITEMS_PER_GAME,
    DMarketSandboxClient,
    Market,
    MarketModel,
    SandboxSettings,
    build_app,
    build_market_model,
    sign_request,
)
from sandbox.server import running

Params = Mapping[str, str | int] | list[tuple[str, str | int]]


@dataclass(frozen=True)
class DMarketSandbox:
    """A running sandbox: its URL, the demo keypair it accepts, its control client and its model."""

    url: str
    public_key_hex: str
    secret_key_hex: str
    client: DMarketSandboxClient
    model: MarketModel  # exactly what the server serves, computed independently by the pure generator
    settings: SandboxSettings
    startup_cpu_s: float  # CPU time build_app took (the market, its truth and indexes)

    @property
    def market(self) -> Market:
        return self.model.items

    @property
    def sales_anchor(self) -> int:
        """Unix seconds the served sale dates count back from (fixed for the session)."""
        assert self.settings.sales_anchor is not None
        return self.settings.sales_anchor

    def signed_get(
        self, http: httpx.Client, path: str, params: Params, *, secret_key_hex: str | None = None
    ) -> httpx.Response:
        """GET signed as DMarket's official example does, with the URL sent exactly as signed."""
        path_with_query = f"{path}?{urlencode(params, quote_via=quote)}"
        headers = sign_request(secret_key_hex or self.secret_key_hex, "GET", path_with_query)
        return http.get(self.url + path_with_query, headers=headers)

    def signed_post(
        self, http: httpx.Client, path: str, body: str, *, signed_body: str | None = None
    ) -> httpx.Response:
        """POST ``body`` exactly as given, signed over ``signed_body`` (default: the same text)."""
        headers = sign_request(self.secret_key_hex, "POST", path, body if signed_body is None else signed_body)
        return http.post(self.url + path, content=body.encode(), headers=headers | {"Content-Type": "application/json"})


def _start(settings: SandboxSettings) -> Iterator[DMarketSandbox]:
    started = time.process_time()
    app = build_app(settings)
    startup_cpu_s = time.process_time() - started
    model = build_market_model(settings.seed, settings.items_per_game)
    with running(app) as server, DMarketSandboxClient(server.url) as client:
        yield DMarketSandbox(
            url=server.url,
            public_key_hex=DEMO_PUBLIC_KEY_HEX,
            secret_key_hex=DEMO_SECRET_KEY_HEX,
            client=client,
            model=model,
            settings=settings,
            startup_cpu_s=startup_cpu_s,
        )


@pytest.fixture(scope="session")
def _dmarket_sandbox_server() -> Iterator[DMarketSandbox]:
    # Sales are dated back from the session's start, so "the last 7 days" means what a client expects.
    yield from _start(SandboxSettings(sales_anchor=int(time.time())))


@pytest.fixture(scope="session")
def _dmarket_sandbox_large_server() -> Iterator[DMarketSandbox]:
    yield from _start(SandboxSettings(items_per_game=LARGE_ITEMS_PER_GAME, sales_anchor=int(time.time())))


@pytest.fixture
def dmarket_sandbox(_dmarket_sandbox_server: DMarketSandbox) -> DMarketSandbox:
    """The DMarket sandbox in its start-up state (default limits, no faults, empty request log)."""
    _dmarket_sandbox_server.client.reset()
    return _dmarket_sandbox_server


@pytest.fixture
def dmarket_sandbox_large(_dmarket_sandbox_large_server: DMarketSandbox) -> DMarketSandbox:
    """A sandbox with the benchmark market (20,000 listings per game), in its start-up state."""
    _dmarket_sandbox_large_server.client.reset()
    return _dmarket_sandbox_large_server
