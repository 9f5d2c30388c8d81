"""Assemble the Telegram sandbox: Bot API at ``/bot{token}/{method}``, control API at ``/_sandbox/``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from sandbox.telegram import control
from sandbox.telegram.botapi import METHOD_NAMES, METHODS
from sandbox.telegram.params import read_params
from sandbox.telegram.state import ApiError, Bot, ChatSpec, SandboxState, fault_error

log = logging.getLogger("sandbox.telegram")

# Shaped like a real token (bot id, colon, 35 characters of [A-Za-z0-9_-]) so token-scrubbing patterns and
# clients that validate the format treat it as one, yet unmistakably not a real credential.
DEFAULT_TOKEN = "123456789:SANDBOX-token-not-real-000000000000"  # noqa: S105
DEFAULT_BOT_USERNAME = "sandbox_dmarket_bot"
DEFAULT_BOT_NAME = "DMarket Sandbox Bot"
_NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}

INDEX = """Telegram Bot API sandbox

Bot API:      POST|GET /bot<token>/<method>   ({methods})
Control API:  POST /_sandbox/updates/message          {{chat_id, user_id, text, first_name?, username?, chat_type?}}
              POST /_sandbox/updates/callback_query   {{chat_id, user_id, message_id, data}}
              GET  /_sandbox/chats/<chat_id>/messages ?after_message_id= &since_revision= &wait_s= &include_user=
              GET|POST /_sandbox/chats, GET|POST /_sandbox/config, POST /_sandbox/reset, GET /_sandbox/requests
Console chat: python -m sandbox.chat --url <this server>
Docs:         docs/sandbox-telegram.md
"""


@dataclass(frozen=True)
class TelegramSandboxSettings:
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    bot_username: str = DEFAULT_BOT_USERNAME
    bot_name: str = DEFAULT_BOT_NAME
    chats: tuple[ChatSpec, ...] = field(default_factory=tuple)


def _redacted(method: str) -> str:
    # The token is a credential: no log line, request-log entry or error body ever contains it.
    return f"/bot<redacted>/{method}"


async def bot_api(request: Request) -> JSONResponse:
    state: SandboxState = request.app.state.sandbox
    method = request.path_params["method"]
    params: dict[str, Any] = {}
    try:
        params = await read_params(request)
        if request.path_params["token"] not in state.tokens:
            raise ApiError(401, "Unauthorized")
        handler = METHODS.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found")
        fault = state.take_fault(method)
        if fault is not None and fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.status is not None:
            raise fault_error(fault)
        status, body = 200, {"ok": True, "result": await handler(state, params, request)}
    except ApiError as err:
        status, body = err.status, err.body()
    state.log_request(method, _redacted(method), params, status)
    log.debug("%s %s -> %d", request.method, _redacted(method), status)
    return JSONResponse(body, status_code=status)


async def file_download(request: Request) -> JSONResponse:
    return JSONResponse(_NOT_FOUND, status_code=404)


async def index(request: Request) -> PlainTextResponse:
    return PlainTextResponse(INDEX.format(methods=", ".join(METHOD_NAMES)))


async def not_found(request: Request) -> JSONResponse:
    return JSONResponse(_NOT_FOUND, status_code=404)


def build_app(settings: TelegramSandboxSettings | None = None) -> Starlette:
    settings = settings or TelegramSandboxSettings()
    if not settings.tokens:
        raise ValueError("the Telegram sandbox needs at least one accepted token")
    bot_id = int(settings.tokens[0].split(":", 1)[0])
    state = SandboxState(Bot(bot_id, settings.bot_username, settings.bot_name), settings.tokens, settings.chats)
    routes = [
        Route("/", index, methods=["GET"]),
        Route("/bot{token}/{method}", bot_api, methods=["GET", "POST"]),
        Route("/file/bot{token}/{path:path}", file_download, methods=["GET"]),
        *control.ROUTES,
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    app = Starlette(routes=routes, exception_handlers={control.ControlError: control.control_error})
    app.state.sandbox = state
    return app
