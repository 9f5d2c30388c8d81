"""The control API under ``/_sandbox/``: act as Telegram users, read what the bot sent, configure faults.

It is for tests and people, not for the bot, so it has no auth and answers plain JSON (errors as
``{"error": "..."}``).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.telegram.state import CallbackQuery, Chat, Fault, SandboxState, StoredMessage, Version
from sandbox.telegram.text import MAX_TEXT_UTF16, command_entities, utf16_len
from sandbox.telegram.waiting import wait_until

MAX_WAIT_S = 30.0
_CHAT_TYPES = ("private", "group", "supergroup", "channel")


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def control_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ControlError)
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ControlError(400, "body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or value is None:
        raise ControlError(400, f"{name} (integer) is required")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(400, f"{name} must be an integer, got {value!r}") from None


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    return None if data.get(name) is None else _int(data, name)


def _float(data: dict[str, Any], name: str) -> float:
    try:
        return float(data.get(name) or 0)
    except (TypeError, ValueError):
        raise ControlError(400, f"{name} must be a number, got {data.get(name)!r}") from None


def _user(data: dict[str, Any], user_id: int) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": False,
        "first_name": str(data.get("first_name") or f"User {user_id}"),
        "language_code": str(data.get("language_code") or "en"),
    }
    if data.get("username"):
        user["username"] = str(data["username"])
    return user


# -- acting as users ---------------------------------------------------------------------------------


async def post_message_update(request: Request) -> JSONResponse:
    """A user writes to the bot; ``bot_command`` entities are added as Telegram would."""
    state, data = _state(request), await _body(request)
    chat_id, user_id = _int(data, "chat_id"), _int(data, "user_id")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or utf16_len(text) > MAX_TEXT_UTF16:
        raise ControlError(400, f"text must be a non-empty string of at most {MAX_TEXT_UTF16} UTF-16 units")
    chat_type = str(data.get("chat_type") or ("private" if chat_id > 0 else "group"))
    if chat_type not in _CHAT_TYPES:
        raise ControlError(400, f"chat_type must be one of {', '.join(_CHAT_TYPES)}")
    if chat_type == "private" and chat_id != user_id:
        raise ControlError(400, "in a private chat, chat_id must equal user_id (as on Telegram)")
    user = _user(data, user_id)
    private = chat_type == "private"
    chat = state.register_chat(
        Chat(
            chat_id,
            chat_type,
            title=data.get("title"),
            first_name=user["first_name"] if private else None,
            username=user.get("username") if private else None,
        )
    )
    reply_to = _optional_int(data, "reply_to_message_id")
    if reply_to is not None and state.message(chat_id, reply_to) is None:
        raise ControlError(404, f"message {reply_to} not found in chat {chat_id}")
    version = Version(text, text, None, command_entities(text), None, int(time.time()))
    message = state.add_message(chat, user, version, reply_to)
    update = state.push_update("message", state.message_to_api(message))
    return JSONResponse({"update_id": update["update_id"], "message_id": message.message_id, "update": update})


async def post_callback_query_update(request: Request) -> JSONResponse:
    """A user presses an inline button; the button must exist on the bot's message, as on Telegram."""
    state, data = _state(request), await _body(request)
    chat_id, user_id, message_id = _int(data, "chat_id"), _int(data, "user_id"), _int(data, "message_id")
    callback_data = data.get("data")
    message = state.message(chat_id, message_id)
    if message is None or not message.from_bot:
        raise ControlError(404, f"bot message {message_id} not found in chat {chat_id}")
    offered = _callback_data(message)
    if callback_data not in offered:
        raise ControlError(
            400, f"message {message_id} has no button with callback_data {callback_data!r}; has {offered}"
        )
    query_id = str(random.getrandbits(62))
    state.callback_queries[query_id] = CallbackQuery(query_id, chat_id, message_id, str(callback_data))
    payload = {
        "id": query_id,
        "from": _user(data, user_id),
        "message": state.message_to_api(message),
        "chat_instance": str(abs(hash((state.bot.id, chat_id)))),
        "data": callback_data,
    }
    update = state.push_update("callback_query", payload)
    return JSONResponse({"update_id": update["update_id"], "callback_query_id": query_id, "update": update})


def _callback_data(message: StoredMessage) -> list[str]:
    markup = message.current.reply_markup or {}
    rows = markup.get("inline_keyboard") or []
    return [button["callback_data"] for row in rows for button in row if "callback_data" in button]


async def get_callback_query(request: Request) -> JSONResponse:
    query = _state(request).callback_queries.get(request.path_params["query_id"])
    if query is None:
        raise ControlError(404, "unknown callback query")
    return JSONResponse(
        {
            "id": query.id,
            "chat_id": query.chat_id,
            "message_id": query.message_id,
            "data": query.data,
            "answer": query.answer,
        }
    )


# -- chats and what the bot sent ---------------------------------------------------------------------


async def list_chats(request: Request) -> JSONResponse:
    return JSONResponse({"chats": [chat.to_api() for chat in _state(request).chats.values()]})


async def register_chat(request: Request) -> JSONResponse:
    state, data = _state(request), await _body(request)
    chat_id = _int(data, "chat_id")
    chat_type = str(data.get("type") or ("private" if chat_id > 0 else "group"))
    if chat_type not in _CHAT_TYPES:
        raise ControlError(400, f"type must be one of {', '.join(_CHAT_TYPES)}")
    chat = state.register_chat(
        Chat(
            chat_id,
            chat_type,
            title=data.get("title"),
            first_name=data.get("first_name"),
            username=data.get("username"),
        )
    )
    return JSONResponse({"chat": chat.to_api()})


def _version_dict(version: Version) -> dict[str, Any]:
    return {
        "text": version.text,
        "source_text": version.source_text,
        "parse_mode": version.parse_mode,
        "entities": version.entities,
        "reply_markup": version.reply_markup,
        "at": version.at,
    }


def message_dict(message: StoredMessage) -> dict[str, Any]:
    """A message as the control API shows it: current content on top, earlier versions in ``history``."""
    return {
        "message_id": message.message_id,
        "from_bot": message.from_bot,
        "date": message.date,
        "edit_date": message.edit_date,
        "deleted": message.deleted,
        "reply_to_message_id": message.reply_to,
        **_version_dict(message.current),
        "history": [_version_dict(version) for version in message.versions[:-1]],
    }


async def chat_messages(request: Request) -> JSONResponse:
    """The bot's messages in a chat, oldest first; ``since_revision`` + ``wait_s`` make it a long poll."""
    state = _state(request)
    query = dict(request.query_params)
    chat_id = _int(request.path_params, "chat_id")
    after = _optional_int(query, "after_message_id") or 0
    include_user = query.get("include_user", "").lower() in ("1", "true")
    since = _optional_int(query, "since_revision")
    wait_s = min(_float(query, "wait_s"), MAX_WAIT_S)

    def revision() -> int:
        chat = state.chats.get(chat_id)
        return chat.revision if chat else 0

    if since is not None and wait_s > 0:
        await wait_until(state, lambda: revision() > since, wait_s, request)
    messages = sorted(
        (m for (cid, mid), m in state.messages.items() if cid == chat_id and mid > after),
        key=lambda m: m.message_id,
    )
    return JSONResponse(
        {
            "chat_id": chat_id,
            "revision": revision(),
            "messages": [message_dict(m) for m in messages if include_user or m.from_bot],
        }
    )


# -- configuration, reset, request log ---------------------------------------------------------------


def _config_snapshot(state: SandboxState) -> dict[str, Any]:
    return {
        "bot": state.bot.get_me(),
        "flood": state.flood.limits.to_dict(),
        "blocked_chats": sorted(state.blocked_chats),
        "faults": [fault.to_dict() for fault in state.faults],
        "webhook": state.webhook,
        "waiting_polls": state.waiting_polls,
        "pending_updates": len(state.updates),
    }


async def get_config(request: Request) -> JSONResponse:
    return JSONResponse(_config_snapshot(_state(request)))


async def post_config(request: Request) -> JSONResponse:
    """Change flood limits (keys given), blocked chats (replaced), faults (appended, or cleared first)."""
    state, data = _state(request), await _body(request)
    flood = data.get("flood") or {}
    if not isinstance(flood, dict):
        raise ControlError(400, "flood must be an object")
    limits = state.flood.limits
    for name in ("per_chat_per_s", "global_per_s", "group_per_min"):
        if name in flood:
            value = _optional_int(flood, name)
            setattr(limits, name, value if value and value > 0 else None)
    if "blocked_chats" in data:
        blocked = data["blocked_chats"] or []
        if not isinstance(blocked, list):
            raise ControlError(400, "blocked_chats must be a list of chat ids")
        state.blocked_chats = {_int({"chat_id": chat_id}, "chat_id") for chat_id in blocked}
    if data.get("clear_faults"):
        state.faults.clear()
    state.faults.extend(_fault(spec) for spec in data.get("faults") or [])
    return JSONResponse(_config_snapshot(state))


def _fault(spec: Any) -> Fault:
    if not isinstance(spec, dict) or not isinstance(spec.get("method"), str):
        raise ControlError(400, "each fault needs a method name")
    status = _optional_int(spec, "status")
    delay_s = _float(spec, "delay_s")
    if status is None and delay_s <= 0:
        raise ControlError(400, "a fault needs a status, a delay_s, or both")
    if status is not None and not 400 <= status <= 599:
        raise ControlError(400, "fault status must be 4xx or 5xx")
    return Fault(
        method=spec["method"].lower(),
        remaining=_int(spec, "count", 1),
        status=status,
        description=spec.get("description"),
        retry_after=_optional_int(spec, "retry_after"),
        delay_s=delay_s,
    )


async def reset(request: Request) -> JSONResponse:
    _state(request).reset()
    return JSONResponse({"ok": True})


async def request_log(request: Request) -> JSONResponse:
    query = request.query_params
    method = (query.get("method") or "").lower()
    since = int(query.get("since_seq") or 0)
    entries = [
        entry
        for entry in _state(request).requests
        if entry["seq"] > since and (not method or entry["method"].lower() == method)
    ]
    return JSONResponse({"requests": entries})


ROUTES = [
    Route("/_sandbox/updates/message", post_message_update, methods=["POST"]),
    Route("/_sandbox/updates/callback_query", post_callback_query_update, methods=["POST"]),
    Route("/_sandbox/callback_queries/{query_id}", get_callback_query, methods=["GET"]),
    Route("/_sandbox/chats", list_chats, methods=["GET"]),
    Route("/_sandbox/chats", register_chat, methods=["POST"]),
    Route("/_sandbox/chats/{chat_id}/messages", chat_messages, methods=["GET"]),
    Route("/_sandbox/config", get_config, methods=["GET"]),
    Route("/_sandbox/config", post_config, methods=["POST"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/requests", request_log, methods=["GET"]),
]
