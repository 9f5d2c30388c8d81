"""In-memory world of the Telegram sandbox: the bot, chats, messages, pending updates and injected faults.

All state lives on the server's event loop (Bot API and control API share one uvicorn loop), so it needs no
locks; :class:`Changes` wakes long polls when something they may be waiting for happens.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

REQUEST_LOG_SIZE = 5000
FIRST_UPDATE_ID = 700_000_000


class ApiError(Exception):
    """A Bot API error reply: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


@dataclass(frozen=True)
class ChatSpec:
    """A chat known before any user writes, e.g. the admin chat (``--chat -100123:supergroup:Admins``)."""

    id: int
    type: str = "private"
    title: str | None = None

    @classmethod
    def parse(cls, spec: str) -> ChatSpec:
        chat_id, _, rest = spec.partition(":")
        chat_type, _, title = rest.partition(":")
        return cls(int(chat_id), chat_type or ("private" if int(chat_id) > 0 else "group"), title or None)


@dataclass
class Chat:
    id: int
    type: str = "private"
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    next_message_id: int = 1
    revision: int = 0  # bumped on every bot send/edit/delete so control-API readers can wait for change

    def to_api(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            chat["first_name"] = self.first_name or f"User {self.id}"
        else:
            chat["title"] = self.title or f"Sandbox {self.type} {self.id}"
        if self.username:
            chat["username"] = self.username
        if self.type == "group":
            chat["all_members_are_administrators"] = True
        return chat


@dataclass
class Version:
    """One state of a message's content; edits append versions."""

    text: str
    source_text: str
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    at: int


@dataclass
class StoredMessage:
    message_id: int
    chat_id: int
    sender: dict[str, Any]
    date: int
    versions: list[Version]
    reply_to: int | None = None
    deleted: bool = False

    @property
    def from_bot(self) -> bool:
        return bool(self.sender.get("is_bot"))

    @property
    def current(self) -> Version:
        return self.versions[-1]

    @property
    def edit_date(self) -> int | None:
        return self.current.at if len(self.versions) > 1 else None


@dataclass
class Fault:
    """Answer the next ``remaining`` calls of ``method`` with ``status`` (and/or after ``delay_s``)."""

    method: str  # lower-case; Telegram method names are case-insensitive
    remaining: int
    status: int | None
    description: str | None = None
    retry_after: int | None = None
    delay_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "remaining": self.remaining,
            "status": self.status,
            "description": self.description,
            "retry_after": self.retry_after,
            "delay_s": self.delay_s,
        }


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def fault_error(fault: Fault) -> ApiError:
    assert fault.status is not None
    if fault.status == 429:
        retry_after = fault.retry_after if fault.retry_after is not None else 1
        error = too_many_requests(retry_after)
        if fault.description:
            error.description = fault.description
        return error
    description = fault.description or _DEFAULT_DESCRIPTIONS.get(fault.status, "Error")
    return ApiError(fault.status, description, retry_after=fault.retry_after)


@dataclass
class FloodLimits:
    """Sliding-window send limits; ``None`` turns a limit off (the default, so tests are not flaky)."""

    per_chat_per_s: int | None = None
    global_per_s: int | None = None
    group_per_min: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {
            "per_chat_per_s": self.per_chat_per_s,
            "global_per_s": self.global_per_s,
            "group_per_min": self.group_per_min,
        }


@dataclass
class FloodGate:
    limits: FloodLimits = field(default_factory=FloodLimits)
    _per_chat: dict[int, deque[float]] = field(default_factory=dict)
    _per_group: dict[int, deque[float]] = field(default_factory=dict)
    _global: deque[float] = field(default_factory=deque)

    def admit(self, chat: Chat, now: float) -> None:
        """Record a send to ``chat`` or raise 429 with the seconds until the busiest window frees a slot."""
        windows = [(self.limits.global_per_s, 1.0, self._global)]
        windows.append((self.limits.per_chat_per_s, 1.0, self._per_chat.setdefault(chat.id, deque())))
        if chat.type in ("group", "supergroup"):
            windows.append((self.limits.group_per_min, 60.0, self._per_group.setdefault(chat.id, deque())))
        waits = [_window_wait(limit, span, sent, now) for limit, span, sent in windows if limit is not None]
        if any(waits):
            raise too_many_requests(max(waits))
        for limit, _, sent in windows:
            if limit is not None:
                sent.append(now)


def _window_wait(limit: int, span: float, sent: deque[float], now: float) -> int:
    while sent and sent[0] <= now - span:
        sent.popleft()
    if len(sent) < limit:
        return 0
    # Telegram reports whole seconds and never 0.
    return max(1, math.ceil(sent[0] + span - now))


class Changes:
    """A broadcast "something changed" signal: waiters take the current event, notifiers set and replace it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event


@dataclass
class CallbackQuery:
    id: str
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None


@dataclass
class Bot:
    id: int
    username: str
    first_name: str

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def get_me(self) -> dict[str, Any]:
        return {
            **self.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


class SandboxState:
    """Everything a reset wipes, plus the fixed identity (bot, tokens, pre-registered chats)."""

    def __init__(self, bot: Bot, tokens: tuple[str, ...], chat_specs: tuple[ChatSpec, ...]) -> None:
        self.bot = bot
        self.tokens = frozenset(tokens)
        self.chat_specs = chat_specs
        self.changes = Changes()
        self._next_update_id = FIRST_UPDATE_ID
        self._next_request_seq = 1
        # Live connections, not world state, so a reset leaves them alone.
        self.poll_generation = 0  # bumped by each getUpdates; an older waiting poll then answers 409
        self.waiting_polls = 0  # getUpdates calls waiting right now: "is the bot polling?"
        self.reset()

    def reset(self) -> None:
        # Update ids keep counting across resets, as on Telegram, so a stale offset never confirms new updates.
        self.chats: dict[int, Chat] = {}
        self.messages: dict[tuple[int, int], StoredMessage] = {}
        self.updates: deque[dict[str, Any]] = deque()
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.webhook: dict[str, Any] | None = None
        self.allowed_updates: frozenset[str] | None = None
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.faults: list[Fault] = []
        self.flood = FloodGate()
        self.blocked_chats: set[int] = set()
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        for spec in self.chat_specs:
            self.register_chat(Chat(spec.id, spec.type, title=spec.title))
        # Wake long polls so none keeps waiting on a world that no longer exists.
        self.changes.notify()

    # -- chats and messages -------------------------------------------------------------------------

    def register_chat(self, chat: Chat) -> Chat:
        existing = self.chats.get(chat.id)
        if existing is None:
            self.chats[chat.id] = chat
            return chat
        for name in ("type", "title", "first_name", "username"):
            value = getattr(chat, name)
            if value is not None:
                setattr(existing, name, value)
        return existing

    def find_chat(self, chat_id: int | str) -> Chat:
        if isinstance(chat_id, str):
            chat = next((c for c in self.chats.values() if c.username and f"@{c.username}" == chat_id), None)
        else:
            chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def add_message(
        self, chat: Chat, sender: dict[str, Any], version: Version, reply_to: int | None = None
    ) -> StoredMessage:
        message = StoredMessage(chat.next_message_id, chat.id, sender, version.at, [version], reply_to)
        chat.next_message_id += 1
        self.messages[(chat.id, message.message_id)] = message
        if message.from_bot:
            self.touch(chat)
        return message

    def message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        message = self.messages.get((chat_id, message_id))
        return None if message is None or message.deleted else message

    def touch(self, chat: Chat) -> None:
        chat.revision += 1
        self.changes.notify()

    def message_to_api(self, message: StoredMessage, *, with_reply: bool = True) -> dict[str, Any]:
        version = message.current
        out: dict[str, Any] = {
            "message_id": message.message_id,
            "from": message.sender,
            "chat": self.chats[message.chat_id].to_api(),
            "date": message.date,
        }
        if message.edit_date is not None:
            out["edit_date"] = message.edit_date
        replied = self.message(message.chat_id, message.reply_to) if message.reply_to else None
        if with_reply and replied is not None:
            out["reply_to_message"] = self.message_to_api(replied, with_reply=False)
        out["text"] = version.text
        if version.entities:
            out["entities"] = version.entities
        # Telegram echoes only inline keyboards; reply keyboards are not part of the returned Message.
        if version.reply_markup and "inline_keyboard" in version.reply_markup:
            out["reply_markup"] = version.reply_markup
        return out

    # -- updates ------------------------------------------------------------------------------------

    def push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self.updates.append(update)
        self.changes.notify()
        return update

    def confirm_updates(self, offset: int) -> None:
        """Forget updates before ``offset``; a negative offset keeps only the last ``-offset`` updates."""
        if offset < 0:
            while len(self.updates) > -offset:
                self.updates.popleft()
            return
        while self.updates and self.updates[0]["update_id"] < offset:
            self.updates.popleft()

    # -- faults and request log ---------------------------------------------------------------------

    def take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method.lower() and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def log_request(self, method: str, path: str, params: dict[str, Any], status: int) -> None:
        self.requests.append(
            {
                "seq": self._next_request_seq,
                "time": time.time(),
                "method": method,
                "path": path,
                "params": params,
                "status": status,
            }
        )
        self._next_request_seq += 1
