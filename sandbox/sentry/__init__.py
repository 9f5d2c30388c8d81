"""Sentry sandbox: a local server speaking Sentry's ingestion protocol and Web API (docs/sandbox-sentry.md).

Run it with ``python -m sandbox.sentry``; drive it from tests with :class:`SentrySandboxClient`.
"""

from .app import build_app
from .client import SentrySandboxClient, make_dsn
from .store import ALL_SCOPES, SandboxOptions

DEFAULT_PORT = 8993

__all__ = ["ALL_SCOPES", "DEFAULT_PORT", "SandboxOptions", "SentrySandboxClient", "build_app", "make_dsn"]
