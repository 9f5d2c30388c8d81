"""The Starlette application: ingestion, Web API and control routes over one in-memory state."""

from __future__ import annotations

from starlette.applications import Starlette

from . import control, ingest, webapi
from .store import SandboxOptions, SentryState


def build_app(options: SandboxOptions | None = None) -> Starlette:
    app = Starlette(routes=[*ingest.routes(), *webapi.routes(), *control.routes()])
    # Handlers read the state from here on every request, so /_sandbox/reset can swap it atomically.
    app.state.sentry = SentryState(options or SandboxOptions())
    return app
