"""The bot's HTTP side (an ASGI app in the bot's own event loop): health now, Sentry webhooks next."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.runtime import BotRuntime


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def build_webhook_app(runtime: BotRuntime) -> Starlette:
    app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
    app.state.runtime = runtime
    return app
