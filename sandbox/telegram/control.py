"""The control API under ``/_sandbox/``: act as Telegram users, read what the bot sent, configure faults.

It is for tests and people, not for the bot, so it has no auth and answers plain JSON (errors as
``{"error": "..."}``).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.telegram.state import (
    GENERAL_TOPIC_ID,
    TOPIC_ICON_COLORS,
    CallbackQuery,
    Chat,
    Fault,
    SandboxState,
    StoredMessage,
    Topic,
    Version,
)
from sandbox.telegram.text import MAX_TEXT_UTF16, command_entities, utf16_len
from sandbox.telegram.waiting import wait_until

MAX_WAIT_S = 30.0
_CHAT_TYPES = ("private", "group", "supergroup", "channel")
# An IETF language tag as Telegram reports the user's app language ("en", "ru", "pt-br", ...).
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
_MAX_TOPIC_NAME = 128


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
    value = data.get(name)
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        raise ControlError(400, f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ControlError(400, f"{name} must be a number, got {value!r}")
    return number


def _bool(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise ControlError(400, f"{name} must be true or false, got {value!r}")
    return value


def _user(data: dict[str, Any], user_id: int) -> dict[str, Any]:
    """The sending user; ``language_code`` defaults to ``en``, and ``""`` leaves it out (Telegram may)."""
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": False,
        "first_name": str(data.get("first_name") or f"User {user_id}"),
    }
    language = data.get("language_code", "en")
    language = "en" if language is None else language
    if not isinstance(language, str) or (language and not _LANGUAGE_RE.fullmatch(language)):
        raise ControlError(400, f"language_code must be an IETF language tag such as en or ru, got {language!r}")
    if language:
        user["language_code"] = language
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
    known = state.chats.get(chat_id)
    # A registered chat keeps its type (the admin supergroup must not turn into a group) unless one is given.
    chat_type = str(data.get("chat_type") or (known.type if known else "private" if chat_id > 0 else "group"))
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
    replied = state.message(chat_id, reply_to) if reply_to is not None else None
    if reply_to is not None and replied is None:
        raise ControlError(404, f"message {reply_to} not found in chat {chat_id}")
    thread_id = _optional_int(data, "message_thread_id") or None
    if thread_id is not None and (not chat.is_forum or thread_id not in chat.topics):
        raise ControlError(404, f"chat {chat_id} has no forum topic {thread_id}; register it with POST /_sandbox/chats")
    if thread_id is None and replied is not None:
        thread_id = replied.thread_id  # a reply is in the topic of the message it answers
    version = Version(text, text, None, command_entities(text), None, int(time.time()))
    message = state.add_message(chat, user, version, reply_to, thread_id)
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
    user = _user(data, user_id)
    query_id = str(random.getrandbits(62))
    state.callback_queries[query_id] = CallbackQuery(query_id, chat_id, message_id, str(callback_data))
    payload = {
        "id": query_id,
        "from": user,
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


def _chat_dict(chat: Chat) -> dict[str, Any]:
    """The chat as the Bot API shows it, plus its forum topics (control API only)."""
    out = chat.to_api()
    if chat.topics:
        out["topics"] = [topic.to_dict() for topic in sorted(chat.topics.values(), key=lambda t: t.message_thread_id)]
    return out


async def list_chats(request: Request) -> JSONResponse:
    return JSONResponse({"chats": [_chat_dict(chat) for chat in _state(request).chats.values()]})


async def register_chat(request: Request) -> JSONResponse:
    """Register (or update) a chat; ``is_forum`` + ``topics`` make a supergroup a forum with open topics."""
    state, data = _state(request), await _body(request)
    chat_id = _int(data, "chat_id")
    known = state.chats.get(chat_id)
    chat_type = str(data.get("type") or (known.type if known else "private" if chat_id > 0 else "group"))
    if chat_type not in _CHAT_TYPES:
        raise ControlError(400, f"type must be one of {', '.join(_CHAT_TYPES)}")
    is_forum = _bool(data, "is_forum") if "is_forum" in data else None
    forum = is_forum if is_forum is not None else bool(known and known.is_forum)
    if forum and chat_type != "supergroup":
        raise ControlError(400, "only a supergroup can be a forum (is_forum)")
    topics = _topics(data.get("topics"))
    if topics and not forum:
        raise ControlError(400, "topics need a forum: pass is_forum: true (type supergroup)")
    chat = state.register_chat(
        Chat(
            chat_id,
            chat_type,
            title=data.get("title"),
            first_name=data.get("first_name"),
            username=data.get("username"),
            is_forum=is_forum,
        )
    )
    for topic in topics:
        if topic.message_thread_id == 0:
            topic.message_thread_id = max(chat.next_message_id, GENERAL_TOPIC_ID + 1)
        try:
            state.add_topic(chat, topic)
        except ValueError as err:
            raise ControlError(409, str(err)) from None
    return JSONResponse({"chat": _chat_dict(chat)})


def _topics(specs: Any) -> list[Topic]:
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise ControlError(400, 'topics must be a list of {"message_thread_id"?, "name", "icon_color"?}')
    topics = []
    for spec in specs:
        if not isinstance(spec, dict):
            raise ControlError(400, 'each topic must be an object {"message_thread_id"?, "name", "icon_color"?}')
        name = spec.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= _MAX_TOPIC_NAME:
            raise ControlError(400, f"a topic name must be 1-{_MAX_TOPIC_NAME} characters")
        thread_id = _optional_int(spec, "message_thread_id") or 0  # 0: the next free message id
        if thread_id == GENERAL_TOPIC_ID or thread_id < 0:
            raise ControlError(400, "message_thread_id 1 is the General topic, which is not a topic to send to")
        icon_color = _optional_int(spec, "icon_color")
        if icon_color is None:
            icon_color = TOPIC_ICON_COLORS[0]
        if icon_color not in TOPIC_ICON_COLORS:
            raise ControlError(400, f"icon_color must be one of {list(TOPIC_ICON_COLORS)}")
        topics.append(Topic(thread_id, name, icon_color))
    return topics


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
    out = {
        "message_id": message.message_id,
        "from_bot": message.from_bot,
        "date": message.date,
        "edit_date": message.edit_date,
        "deleted": message.deleted,
        "reply_to_message_id": message.reply_to,
        "message_thread_id": message.thread_id,
        **_version_dict(message.current),
        "history": [_version_dict(version) for version in message.versions[:-1]],
    }
    if message.service is not None:
        out["service"] = message.service
    return out


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
        "slow_chats": {str(chat_id): delay for chat_id, delay in sorted(state.slow_chats.items())},
        "faults": [fault.to_dict() for fault in state.faults],
        "webhook": state.webhook,
        "waiting_polls": state.waiting_polls,
        "delayed_calls": state.delayed_calls,
        "pending_updates": len(state.updates),
    }


async def get_config(request: Request) -> JSONResponse:
    return JSONResponse(_config_snapshot(_state(request)))


async def post_config(request: Request) -> JSONResponse:
    """Change flood limits (keys given), blocked and slow chats (replaced), faults (appended, or cleared first).

    Everything is checked before anything changes, so a refused request leaves the configuration as it was.
    """
    state, data = _state(request), await _body(request)
    flood = data.get("flood") or {}
    if not isinstance(flood, dict):
        raise ControlError(400, "flood must be an object")
    limits = {name: _optional_int(flood, name) for name in ("per_chat_per_s", "global_per_s", "group_per_min")}
    blocked: set[int] | None = None
    if "blocked_chats" in data:
        listed = data["blocked_chats"] or []
        if not isinstance(listed, list):
            raise ControlError(400, "blocked_chats must be a list of chat ids")
        blocked = {_int({"chat_id": chat_id}, "chat_id") for chat_id in listed}
    slow = _slow_chats(data["slow_chats"]) if "slow_chats" in data else None
    faults = data.get("faults") or []
    if not isinstance(faults, list):
        raise ControlError(400, "faults must be a list")
    parsed = [_fault(spec) for spec in faults]
    for name, value in limits.items():
        if name in flood:
            setattr(state.flood.limits, name, value if value and value > 0 else None)
    if blocked is not None:
        state.blocked_chats = blocked
    if slow is not None:
        state.slow_chats = slow
    if data.get("clear_faults"):
        state.faults.clear()
    state.faults.extend(parsed)
    return JSONResponse(_config_snapshot(state))


def _slow_chats(spec: Any) -> dict[int, float]:
    spec = spec or {}
    if not isinstance(spec, dict):
        raise ControlError(400, 'slow_chats must be an object {"<chat_id>": delay_s, ...}')
    slow = {}
    for chat_id, delay in spec.items():
        seconds = _float({"delay_s": delay}, "delay_s")
        if seconds > 0:
            slow[_int({"chat_id": chat_id}, "chat_id")] = seconds
    return slow


def _fault(spec: Any) -> Fault:
    if not isinstance(spec, dict) or not isinstance(spec.get("method"), str) or not spec["method"]:
        raise ControlError(400, "each fault needs a method name")
    status = _optional_int(spec, "status")
    delay_s = _float(spec, "delay_s")
    drop = _bool(spec, "drop")
    has_result = "result" in spec
    after_effect = _bool(spec, "after_effect") if "after_effect" in spec else has_result
    kinds = [name for name, given in (("status", status is not None), ("drop", drop), ("result", has_result)) if given]
    if len(kinds) > 1:
        raise ControlError(400, f"a fault answers one way: {' and '.join(kinds)} exclude each other")
    if not kinds and delay_s <= 0:
        raise ControlError(400, "a fault needs a status, drop, result or delay_s")
    if has_result and not after_effect:
        raise ControlError(400, "a result replaces the answer of a call that took effect: after_effect must be true")
    if status is not None and not 400 <= status <= 599:
        raise ControlError(400, "fault status must be 4xx or 5xx")
    raw_body = spec.get("raw_body")
    if raw_body is not None and (status is None or not isinstance(raw_body, str)):
        raise ControlError(400, "raw_body is the text of an error answer: it needs a status")
    retry_after = _optional_int(spec, "retry_after")
    if retry_after is not None and retry_after < 1:
        raise ControlError(400, "retry_after is whole seconds, at least 1 (as Telegram sends it)")
    count = _int(spec, "count", 1)
    if count < 1:
        raise ControlError(400, "count must be at least 1")
    description = spec.get("description")
    return Fault(
        method=spec["method"].lower(),
        remaining=count,
        status=status,
        description=None if description is None else str(description),
        retry_after=retry_after,
        delay_s=delay_s,
        drop=drop,
        after_effect=after_effect,
        has_result=has_result,
        result=spec.get("result"),
        raw_body=raw_body,
    )


async def flood_record(request: Request) -> JSONResponse:
    """Per-chat and total counts of admitted and refused (429) sends and edits, with the peak rates seen."""
    return JSONResponse(_state(request).flood.to_dict())


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
    Route("/_sandbox/flood", flood_record, methods=["GET"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/requests", request_log, methods=["GET"]),
]
