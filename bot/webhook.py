"""The bot's HTTP side (an ASGI app in the bot's own event loop): health now, Sentry webhooks later."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def build_webhook_app() -> Starlette:
    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
