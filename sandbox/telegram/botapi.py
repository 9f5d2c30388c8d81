"""The Bot API methods the sandbox implements, each a coroutine ``(state, params, request) -> result``.

Error descriptions are Telegram's own wording, because callers (and python-telegram-bot's exception mapping)
match on them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from sandbox.telegram.params import get_bool, get_chat_id, get_int, get_json, get_str
from sandbox.telegram.state import ApiError, Chat, SandboxState, Version, bad_request
from sandbox.telegram.text import MAX_TEXT_UTF16, EntityParseError, parse_html, strip_text, utf16_len
from sandbox.telegram.waiting import wait_until

Method = Callable[[SandboxState, dict[str, Any], Request], Awaitable[Any]]

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
_BLOCKED_DESCRIPTIONS = {
    "private": "Forbidden: bot was blocked by the user",
    "group": "Forbidden: bot was kicked from the group chat",
    "supergroup": "Forbidden: bot was kicked from the supergroup chat",
    "channel": "Forbidden: bot is not a member of the channel chat",
}
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
_POLL_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)


# -- identity, updates, webhook ----------------------------------------------------------------------


async def get_me(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    return state.bot.get_me()


async def get_updates(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    if state.webhook is not None:
        raise ApiError(409, _WEBHOOK_CONFLICT)
    offset = get_int(params, "offset")
    limit = min(max(get_int(params, "limit") or 100, 1), 100)
    timeout = max(get_int(params, "timeout") or 0, 0)
    allowed = get_json(params, "allowed_updates")
    if isinstance(allowed, list):
        # Like Telegram, the setting sticks until changed; an empty list means "the default types".
        state.allowed_updates = frozenset(allowed) or None
    if offset:
        state.confirm_updates(offset)
    # A newer getUpdates ends any older one still waiting, as Telegram does with two pollers.
    state.poll_generation += 1
    generation = state.poll_generation
    state.changes.notify()

    def ready() -> bool:
        return state.poll_generation != generation or bool(_deliverable(state, limit))

    state.waiting_polls += 1
    try:
        await wait_until(state, ready, timeout, request)
    finally:
        state.waiting_polls -= 1
    if state.poll_generation != generation:
        raise ApiError(409, _POLL_CONFLICT)
    return _deliverable(state, limit)


def _deliverable(state: SandboxState, limit: int) -> list[dict[str, Any]]:
    allowed = state.allowed_updates
    updates = [u for u in state.updates if allowed is None or _update_kind(u) in allowed]
    return updates[:limit]


def _update_kind(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


async def set_webhook(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    url = get_str(params, "url") or ""
    if not url:
        state.webhook = None
        return True
    if not url.lower().startswith("https://"):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if get_bool(params, "drop_pending_updates"):
        state.updates.clear()
    state.webhook = {
        "url": url,
        "max_connections": get_int(params, "max_connections") or 40,
        "allowed_updates": get_json(params, "allowed_updates"),
        "has_secret_token": bool(get_str(params, "secret_token")),
    }
    return True


async def delete_webhook(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    state.webhook = None
    if get_bool(params, "drop_pending_updates"):
        state.updates.clear()
    return True


async def get_webhook_info(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    info: dict[str, Any] = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates),
    }
    if state.webhook is not None:
        info["url"] = state.webhook["url"]
        info["max_connections"] = state.webhook["max_connections"]
        if state.webhook["allowed_updates"]:
            info["allowed_updates"] = state.webhook["allowed_updates"]
    return info


# -- commands ----------------------------------------------------------------------------------------


def _commands_key(params: dict[str, Any]) -> str:
    scope = get_json(params, "scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True) + "|" + (get_str(params, "language_code") or "")


async def set_my_commands(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    commands = get_json(params, "commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("command description is empty")
    state.commands[_commands_key(params)] = [
        {"command": c["command"], "description": c["description"]} for c in commands
    ]
    return True


async def get_my_commands(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    return state.commands.get(_commands_key(params), [])


async def delete_my_commands(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    state.commands.pop(_commands_key(params), None)
    return True


# -- messages ----------------------------------------------------------------------------------------


def _target_chat(state: SandboxState, params: dict[str, Any]) -> Chat:
    chat = state.find_chat(get_chat_id(params))
    if chat.id in state.blocked_chats:
        raise ApiError(403, _BLOCKED_DESCRIPTIONS.get(chat.type, _BLOCKED_DESCRIPTIONS["private"]))
    return chat


def _content(params: dict[str, Any], *, edit: bool) -> Version:
    source = get_str(params, "text") or ""
    parse_mode = get_str(params, "parse_mode") or None
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            text, entities = parse_html(source)
        except EntityParseError as err:
            raise bad_request(f"can't parse entities: {err}") from None
    elif mode in ("", "markdown", "markdownv2"):
        # Markdown is stored verbatim (see docs/sandbox-telegram.md); explicit entities are kept as sent.
        text = source
        entities = _explicit_entities(params) if not mode else []
    else:
        raise bad_request("unsupported parse_mode")
    text, entities = strip_text(text, entities)
    if not text:
        raise bad_request("message text is empty")
    if utf16_len(text) > MAX_TEXT_UTF16:
        raise bad_request("MESSAGE_TOO_LONG" if edit else "message is too long")
    return Version(text, source, parse_mode, entities, _reply_markup(params), int(time.time()))


def _explicit_entities(params: dict[str, Any]) -> list[dict[str, Any]]:
    entities = get_json(params, "entities", "can't parse entities JSON object") or []
    valid = isinstance(entities, list) and all(
        isinstance(e, dict)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("offset"), int)
        and isinstance(e.get("length"), int)
        for e in entities
    )
    if not valid:
        raise bad_request("can't parse entities JSON object")
    return list(entities)


def _reply_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = get_json(params, "reply_markup", "can't parse reply keyboard markup JSON object")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
        if not _BUTTON_ACTIONS & button.keys():
            raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _reply_target(state: SandboxState, chat: Chat, params: dict[str, Any]) -> int | None:
    reply = get_json(params, "reply_parameters")
    if isinstance(reply, dict):
        message_id, allow = reply.get("message_id"), bool(reply.get("allow_sending_without_reply"))
    else:
        message_id, allow = get_int(params, "reply_to_message_id"), get_bool(params, "allow_sending_without_reply")
    if message_id is None:
        return None
    if state.message(chat.id, int(message_id)) is None:
        if allow:
            return None
        raise bad_request("message to be replied not found")
    return int(message_id)


def _thread(state: SandboxState, chat: Chat, params: dict[str, Any], reply_to: int | None) -> int | None:
    """The forum topic a new message goes to: the one named, else the replied message's (as on Telegram)."""
    thread_id = get_int(params, "message_thread_id") or None
    if thread_id is None:
        replied = state.message(chat.id, reply_to) if reply_to is not None else None
        return replied.thread_id if replied is not None else None
    # Only forum topics are accepted; the General topic (1) is "not found" too, as on Telegram.
    if not chat.is_forum or thread_id not in chat.topics:
        raise bad_request("message thread not found")
    return thread_id


async def send_message(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    chat = _target_chat(state, params)
    version = _content(params, edit=False)
    reply_to = _reply_target(state, chat, params)
    thread_id = _thread(state, chat, params, reply_to)
    state.flood.admit(chat, time.monotonic())
    message = state.add_message(chat, state.bot.to_api(), version, reply_to, thread_id)
    return state.message_to_api(message)


async def edit_message_text(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    if params.get("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = _target_chat(state, params)
    message_id = get_int(params, "message_id")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    message = state.message(chat.id, message_id)
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    # editMessageText has no message_thread_id (Telegram ignores unknown parameters): a message stays in its topic.
    version = _content(params, edit=True)
    current = message.current
    if (version.text, version.entities, version.reply_markup) == (
        current.text,
        current.entities,
        current.reply_markup,
    ):
        raise bad_request(_NOT_MODIFIED)
    # Edits count against the same flood limits as sends (tdlib's maintainer: "they share the limit").
    state.flood.admit(chat, time.monotonic())
    message.versions.append(version)
    state.touch(chat)
    return state.message_to_api(message)


async def edit_message_reply_markup(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    """Only the inline keyboard changes; omitting ``reply_markup`` removes it, as on Telegram."""
    if params.get("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = _target_chat(state, params)
    message_id = get_int(params, "message_id")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    message = state.message(chat.id, message_id)
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    current = message.current
    markup = _reply_markup(params)
    if markup == current.reply_markup:
        raise bad_request(_NOT_MODIFIED)
    state.flood.admit(chat, time.monotonic())
    message.versions.append(dataclasses.replace(current, reply_markup=markup, at=int(time.time())))
    state.touch(chat)
    return state.message_to_api(message)


async def delete_message(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    chat = state.find_chat(get_chat_id(params))
    message = state.message(chat.id, get_int(params, "message_id") or 0)
    if message is None:
        raise bad_request("message to delete not found")
    message.deleted = True
    state.touch(chat)
    return True


async def send_chat_action(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    _target_chat(state, params)
    if get_str(params, "action") not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


async def answer_callback_query(state: SandboxState, params: dict[str, Any], request: Request) -> Any:
    query = state.callback_queries.get(get_str(params, "callback_query_id") or "")
    if query is None or query.answer is not None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    query.answer = {
        "text": get_str(params, "text"),
        "show_alert": get_bool(params, "show_alert"),
        "url": get_str(params, "url"),
        "cache_time": get_int(params, "cache_time") or 0,
    }
    return True


_METHODS: dict[str, Method] = {
    "getMe": get_me,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "sendChatAction": send_chat_action,
    "answerCallbackQuery": answer_callback_query,
}
METHOD_NAMES = tuple(_METHODS)
# Telegram matches method names case-insensitively (sendmessage works too).
METHODS = {name.lower(): method for name, method in _METHODS.items()}
