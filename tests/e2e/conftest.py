"""Fixtures the end-to-end tests of the bot and the workers share: one environment for both, pointed at the
sandboxes, with fresh secrets the leak checks look for."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
import sentry_sdk

from common.observability.sdk import init_sentry
from common.settings import Settings
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.plugins.sandbox_telegram import TelegramSandbox
from tests.support.observed import ADMIN, DSN_KEY


@pytest.fixture
def secret_env() -> dict[str, str]:
    """Every secret the processes hold, fresh per test, so the leak check knows exactly what to look for."""
    return {
        "DMARKET_PUBLIC_KEY": secrets.token_hex(32),
        "DMARKET_SECRET_KEY": secrets.token_hex(64),
        "SENTRY_AUTH_TOKEN": "sntrys_" + secrets.token_urlsafe(32),
        "SENTRY_WEBHOOK_SECRET": secrets.token_hex(24),
    }


@pytest.fixture
def process_env(
    sentry_sandbox: SentrySandbox, telegram_sandbox: TelegramSandbox, secret_env: dict[str, str]
) -> dict[str, str]:
    """The environment both the bot and the workers run with, pointed at the sandboxes."""
    return {
        **secret_env,
        "SENTRY_DSN": sentry_sandbox.client.dsn(DSN_KEY),
        "SENTRY_TRACES_SAMPLE_RATE": "1.0",
        "SENTRY_ORGANIZATION": sentry_sandbox.org,
        "SENTRY_PROJECT": sentry_sandbox.project,
        "SENTRY_API_URL": sentry_sandbox.url,
        "TELEGRAM_BOT_TOKEN": telegram_sandbox.token,
        "TELEGRAM_API_BASE_URL": telegram_sandbox.url,
        "ADMIN_USER_IDS": str(ADMIN),
        "BOT_LANGUAGE": "ru",
    }


@pytest.fixture
def start_bot(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., Settings]]:
    """Initialise the bot's Sentry through the production path (real transport), then return its settings."""

    def start(env: dict[str, str]) -> Settings:
        settings = settings_factory(**{name.lower(): value for name, value in env.items() if value})
        # The sandboxes are Starlette apps in this very process: traced by the bot's client, every envelope the
        # sandbox ingests would become a transaction sent to the sandbox, without end. `disabled_integrations`
        # cannot help once an earlier client in the session installed the Starlette integration.
        init_sentry(settings, process="bot", auto_enabling_integrations=False)
        return settings

    yield start
    sentry_sdk.get_client().close(timeout=5)
    sentry_sdk.init()
    init_sentry(settings_factory(), process="test")  # the recorded status back to "off"


@pytest.fixture
def worker_settings(
    worker_resources: Callable[[Settings], object], settings_factory: Callable[..., Settings]
) -> Callable[[dict[str, str]], None]:
    """Give the in-process worker the settings these environment variables describe."""

    def apply(env: dict[str, str]) -> None:
        worker_resources(settings_factory(**{name.lower(): value for name, value in env.items() if value}))

    return apply
