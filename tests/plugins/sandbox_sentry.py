"""``sentry_sandbox`` fixture: one Sentry sandbox server per session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sandbox.sentry import SandboxOptions, SentrySandboxClient, build_app, make_dsn
from sandbox.server import running


@dataclass(frozen=True)
class SentrySandbox:
    """A running Sentry sandbox: where it is, how to authenticate, and its control client."""

    url: str
    dsn: str  # public key "public"; use make_dsn/client.dsn for another key
    client: SentrySandboxClient
    token: str
    org: str
    project: str
    project_id: int
    installation_uuid: str  # the sandbox integration's, for NotifyEventSentryAppAction rules
    webhook_secret: str  # the integration's client secret: webhook signatures verify with it

    @property
    def api_url(self) -> str:
        """What ``SENTRY_API_URL`` should be for the Web API client."""
        return self.url


@pytest.fixture(scope="session")
def _sentry_sandbox_server() -> Iterator[SentrySandbox]:
    options = SandboxOptions()
    with running(build_app(options)) as server, SentrySandboxClient(server.url) as client:
        yield SentrySandbox(
            url=server.url,
            dsn=make_dsn(server.url, options.project_id),
            client=client,
            token=options.token,
            org=options.org,
            project=options.project_slug,
            project_id=options.project_id,
            installation_uuid=options.installation_uuid,
            webhook_secret=options.webhook_secret,
        )


@pytest.fixture
def sentry_sandbox(_sentry_sandbox_server: SentrySandbox) -> SentrySandbox:
    """The Sentry sandbox with no data and its start-up config (no limits, no faults, default token,
    no webhook URL)."""
    _sentry_sandbox_server.client.reset()
    return _sentry_sandbox_server
