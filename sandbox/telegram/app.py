"""Assemble the Telegram sandbox: Bot API at ``/bot{token}/{method}``, control API at ``/_sandbox/``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sandbox.telegram import control
from sandbox.telegram.botapi import METHOD_NAMES, METHODS
from sandbox.telegram.params import get_chat_id, read_params
from sandbox.telegram.state import ApiError, Bot, ChatSpec, Fault, SandboxState, fault_error
from sandbox.telegram.waiting import client_gone_within, pause

log = logging.getLogger("sandbox.telegram")

# Shaped like a real token (bot id, colon, 35 characters of [A-Za-z0-9_-]) so token-scrubbing patterns and
# clients that validate the format treat it as one, yet unmistakably not a real credential.
DEFAULT_TOKEN = "123456789:SANDBOX-token-not-real-000000000000"  # noqa: S105
DEFAULT_BOT_USERNAME = "sandbox_dmarket_bot"
DEFAULT_BOT_NAME = "DMarket Sandbox Bot"
_NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}
# Where the server's own ``send`` callable waits in the scope: closing its connection is how a fault drops it.
_RAW_SEND = "sandbox.telegram.raw_send"

INDEX = """Telegram Bot API sandbox

Bot API:      POST|GET /bot<token>/<method>   ({methods})
Control API:  POST /_sandbox/updates/message          {{chat_id, user_id, text, first_name?, username?, chat_type?,
                                                        language_code?, message_thread_id?, reply_to_message_id?}}
              POST /_sandbox/updates/callback_query   {{chat_id, user_id, message_id, data, language_code?}}
              GET  /_sandbox/chats/<chat_id>/messages ?after_message_id= &since_revision= &wait_s= &include_user=
              GET|POST /_sandbox/chats ({{chat_id, type?, title?, is_forum?, topics?}}), GET|POST /_sandbox/config,
              GET /_sandbox/flood, POST /_sandbox/reset, GET /_sandbox/requests
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


class _NoAnswer(Exception):
    """The call ends without an HTTP answer; ``outcome`` says why (for the request log)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


async def bot_api(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    method = request.path_params["method"]
    params: dict[str, Any] = {}
    try:
        params = await read_params(request)
        response = await _answer(state, method, params, request)
    except ApiError as err:
        response = JSONResponse(err.body(), status_code=err.status)
    except _NoAnswer as silence:
        state.log_request(method, _redacted(method), params, None, silence.outcome)
        log.debug("%s %s -> no answer (%s)", request.method, _redacted(method), silence.outcome)
        if silence.outcome == "client_gone":
            return Response(status_code=204)  # nobody is listening any more; the server drops it
        return await _drop_connection(request)
    state.log_request(method, _redacted(method), params, response.status_code)
    log.debug("%s %s -> %d", request.method, _redacted(method), response.status_code)
    return response


async def _answer(state: SandboxState, method: str, params: dict[str, Any], request: Request) -> Response:
    """Run one Bot API call through the faults that apply before it, the method itself, and those after it."""
    if request.path_params["token"] not in state.tokens:
        raise ApiError(401, "Unauthorized")
    before = state.take_fault(method, after_effect=False)
    if before is not None:
        await _wait(state, request, before.delay_s)
        if before.drop:
            raise _NoAnswer("dropped")
        if before.status is not None:
            return _fault_response(before)
    await _wait(state, request, _slow_chat_delay(state, params))
    handler = METHODS.get(method.lower())
    if handler is None:
        # Faults may stand in for a method the sandbox lacks (e.g. answer true); the call has no effect.
        after = state.take_fault(method, after_effect=True)
        if after is None:
            raise ApiError(404, "Not Found")
        result: Any = None
    else:
        result = await handler(state, params, request)
        # Only a call that succeeded uses up an after-effect fault: it changes the answer, not what happened.
        after = state.take_fault(method, after_effect=True)
    if after is not None:
        await _wait(state, request, after.delay_s)
        if after.drop:
            raise _NoAnswer("dropped")
        if after.status is not None:
            return _fault_response(after)
        if after.has_result:
            result = after.result
    return JSONResponse({"ok": True, "result": result})


async def _wait(state: SandboxState, request: Request, delay_s: float) -> None:
    if delay_s <= 0:
        return
    state.delayed_calls += 1
    try:
        outcome = await pause(state, request, delay_s)
    finally:
        state.delayed_calls -= 1
    if outcome == "gone":
        raise _NoAnswer("client_gone")
    if outcome == "reset":
        raise _NoAnswer("reset")


def _slow_chat_delay(state: SandboxState, params: dict[str, Any]) -> float:
    if not state.slow_chats or params.get("chat_id") in (None, ""):
        return 0.0
    try:
        target = get_chat_id(params)
    except ApiError:
        return 0.0  # the method itself answers the bad chat_id
    if isinstance(target, str):
        chat = next((c for c in state.chats.values() if c.username and f"@{c.username}" == target), None)
        target = chat.id if chat is not None else 0
    return state.slow_chats.get(target, 0.0)


def _fault_response(fault: Fault) -> Response:
    assert fault.status is not None
    if fault.raw_body is not None:
        # E.g. the HTML page a proxy in front of the Bot API answers with when the backend is down.
        return Response(fault.raw_body, status_code=fault.status, media_type="text/html")
    error = fault_error(fault)
    return JSONResponse(error.body(), status_code=error.status)


async def _drop_connection(request: Request) -> Response:
    """Close the TCP connection without a byte of answer, as a dying proxy or a network cut would."""
    send = request.scope.get(_RAW_SEND)
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if isinstance(transport, asyncio.BaseTransport):
        transport.close()
        # Return only once the server has seen the close, so it does not try to answer on the dead connection.
        await client_gone_within(request, 5.0)
        return Response(status_code=204)
    return _CutOffResponse()


class _CutOffResponse(Response):
    """Fallback for servers that do not expose their transport: start an answer and abort it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        raise ConnectionAbortedError("the sandbox dropped this connection on purpose")


class _SandboxApp(Starlette):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_RAW_SEND] = send
        await super().__call__(scope, receive, send)


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
    app = _SandboxApp(routes=routes, exception_handlers={control.ControlError: control.control_error})
    app.state.sandbox = state
    return app
