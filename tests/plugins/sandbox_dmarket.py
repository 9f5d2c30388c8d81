"""``dmarket_sandbox`` fixture: one DMarket sandbox server per session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sandbox.dmarket import (
    DEMO_PUBLIC_KEY_HEX,
    DEMO_SECRET_KEY_HEX,
    DMarketSandboxClient,
    Market,
    SandboxSettings,
    build_app,
    generate_market,
)
from sandbox.server import running


@dataclass(frozen=True)
class DMarketSandbox:
    """A running sandbox: its base URL, the demo keypair it accepts, its control client and its market."""

    url: str
    public_key_hex: str
    secret_key_hex: str
    client: DMarketSandboxClient
    market: Market  # exactly what the server serves, computed independently by the pure generator
    settings: SandboxSettings


@pytest.fixture(scope="session")
def _dmarket_sandbox_server() -> Iterator[DMarketSandbox]:
    settings = SandboxSettings()
    with running(build_app(settings)) as server, DMarketSandboxClient(server.url) as client:
        yield DMarketSandbox(
            url=server.url,
            public_key_hex=DEMO_PUBLIC_KEY_HEX,
            secret_key_hex=DEMO_SECRET_KEY_HEX,
            client=client,
            market=generate_market(settings.seed, settings.items_per_game),
            settings=settings,
        )


@pytest.fixture
def dmarket_sandbox(_dmarket_sandbox_server: DMarketSandbox) -> DMarketSandbox:
    """The DMarket sandbox in its start-up state (default limits, no faults, empty request log)."""
    _dmarket_sandbox_server.client.reset()
    return _dmarket_sandbox_server
