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
    """A chat known before any user writes, e.g. the admin chat (``--chat -100123:supergroup:Admins``).

    ``is_forum`` and ``topics`` (``(message_thread_id, name)`` pairs) make a supergroup a forum with topics.
    """

    id: int
    type: str = "private"
    title: str | None = None
    is_forum: bool = False
    topics: tuple[tuple[int, str], ...] = ()

    @classmethod
    def parse(cls, spec: str) -> ChatSpec:
        chat_id, _, rest = spec.partition(":")
        chat_type, _, title = rest.partition(":")
        return cls(int(chat_id), chat_type or ("private" if int(chat_id) > 0 else "group"), title or None)


# The General topic of a forum: messages there carry no message_thread_id, and sending with 1 is refused.
GENERAL_TOPIC_ID = 1
# Topic icon colours Telegram allows (createForumTopic); the first is the default here.
TOPIC_ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
# Who "created" the topics registered through the control API (topics are threads of that service message).
TOPIC_CREATOR = {"id": 1000, "is_bot": False, "first_name": "Forum admin", "language_code": "en"}


@dataclass
class Topic:
    message_thread_id: int
    name: str
    icon_color: int = TOPIC_ICON_COLORS[0]

    def to_dict(self) -> dict[str, Any]:
        return {"message_thread_id": self.message_thread_id, "name": self.name, "icon_color": self.icon_color}


@dataclass
class Chat:
    id: int
    type: str = "private"
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    is_forum: bool | None = None  # None: not given (register_chat keeps the existing value)
    next_message_id: int = 1
    revision: int = 0  # bumped on every bot send/edit/delete so control-API readers can wait for change
    topics: dict[int, Topic] = field(default_factory=dict)

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
        if self.is_forum:
            chat["is_forum"] = True
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
    reply_to: int | None = None  # an explicit reply; topic messages also show their topic's root (see to_api)
    deleted: bool = False
    thread_id: int | None = None  # the forum topic (message_thread_id) the message is in
    service: dict[str, Any] | None = None  # service content instead of text, e.g. {"forum_topic_created": ...}

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
    """What the next ``remaining`` calls of ``method`` meet instead of (or on top of) a normal answer.

    Before the call (``after_effect`` false): wait ``delay_s``, then answer ``status``, close the connection
    (``drop``), or carry the call out. After the call (``after_effect`` true, implied by ``has_result``): only
    calls that succeeded use the fault up; their answer waits ``delay_s``, then becomes ``status``, a closed
    connection, or ``{"ok": true, "result": result}`` -- the call has taken effect either way.
    """

    method: str  # lower-case; Telegram method names are case-insensitive
    remaining: int
    status: int | None
    description: str | None = None
    retry_after: int | None = None
    delay_s: float = 0.0
    drop: bool = False
    after_effect: bool = False
    has_result: bool = False
    result: Any = None
    raw_body: str | None = None  # answer this text (text/html) instead of a JSON error body

    def to_dict(self) -> dict[str, Any]:
        out = {
            "method": self.method,
            "remaining": self.remaining,
            "status": self.status,
            "description": self.description,
            "retry_after": self.retry_after,
            "delay_s": self.delay_s,
            "drop": self.drop,
            "after_effect": self.after_effect,
            "raw_body": self.raw_body,
        }
        if self.has_result:
            out["result"] = self.result
        return out


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
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


# Telegram's group limit also holds in channels (per @BotSupport, quoted in python-telegram-bot's wiki).
_GROUP_TYPES = frozenset({"group", "supergroup", "channel"})


@dataclass
class FloodRecord:
    """What one chat (or the whole bot) sent and was refused: for asserting that a bot kept to the limits.

    ``peak_per_s`` / ``peak_per_min`` are the most admitted sends seen in any sliding 1 s / 60 s window, kept
    whether or not a limit is set.
    """

    sent: int = 0
    refused: int = 0
    refused_by: dict[str, int] = field(default_factory=dict)
    last_retry_after: int | None = None
    peak_per_s: int = 0
    peak_per_min: int = 0
    _recent: deque[float] = field(default_factory=deque)  # admitted sends of the last 60 s

    def admitted(self, now: float) -> None:
        self.sent += 1
        self._recent.append(now)
        while self._recent and self._recent[0] <= now - 60.0:
            self._recent.popleft()
        self.peak_per_min = max(self.peak_per_min, len(self._recent))
        in_last_second = sum(1 for at in self._recent if at > now - 1.0)
        self.peak_per_s = max(self.peak_per_s, in_last_second)

    def refusal(self, limit: str, retry_after: int) -> None:
        self.refused += 1
        self.refused_by[limit] = self.refused_by.get(limit, 0) + 1
        self.last_retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "refused": self.refused,
            "refused_by": dict(self.refused_by),
            "last_retry_after": self.last_retry_after,
            "peak_per_s": self.peak_per_s,
            "peak_per_min": self.peak_per_min,
        }


@dataclass
class FloodGate:
    """Telegram's flood control over sends and edits (they share the limits, per tdlib's maintainer)."""

    limits: FloodLimits = field(default_factory=FloodLimits)
    records: dict[int, FloodRecord] = field(default_factory=dict)
    total: FloodRecord = field(default_factory=FloodRecord)
    _per_chat: dict[int, deque[float]] = field(default_factory=dict)
    _per_group: dict[int, deque[float]] = field(default_factory=dict)
    _global: deque[float] = field(default_factory=deque)

    def admit(self, chat: Chat, now: float) -> None:
        """Record a send to ``chat`` or raise 429 with the whole seconds until every full window frees a slot."""
        windows = [
            ("global_per_s", self.limits.global_per_s, 1.0, self._global),
            ("per_chat_per_s", self.limits.per_chat_per_s, 1.0, self._per_chat.setdefault(chat.id, deque())),
        ]
        if chat.type in _GROUP_TYPES:
            per_group = self._per_group.setdefault(chat.id, deque())
            windows.append(("group_per_min", self.limits.group_per_min, 60.0, per_group))
        record = self.records.setdefault(chat.id, FloodRecord())
        for _, _, span, sent in windows:
            # Windows keep a span's worth of sends even while their limit is off, so turning one on is exact.
            while sent and sent[0] <= now - span:
                sent.popleft()
        waits = {name: _window_wait(limit, span, sent, now) for name, limit, span, sent in windows if limit is not None}
        if any(waits.values()):
            # The caller may only retry once all full windows have room, so the answer is the longest wait.
            name, retry_after = max(waits.items(), key=lambda item: item[1])
            record.refusal(name, retry_after)
            self.total.refusal(name, retry_after)
            raise too_many_requests(retry_after)
        for _, _, _, sent in windows:
            sent.append(now)
        record.admitted(now)
        self.total.admitted(now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "limits": self.limits.to_dict(),
            "total": self.total.to_dict(),
            "chats": {str(chat_id): record.to_dict() for chat_id, record in self.records.items()},
        }


def _window_wait(limit: int, span: float, sent: deque[float], now: float) -> int:
    if len(sent) < limit:
        return 0
    # A slot frees when enough of the oldest sends leave the window to bring it under the limit (more than one
    # if the limit was lowered). Telegram reports whole seconds and never 0.
    frees_at = sent[len(sent) - limit] + span
    return max(1, math.ceil(frees_at - now))


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
        self.epoch = 0  # bumped by every reset: calls still waiting out a delay give up when it changes
        self.delayed_calls = 0  # Bot API calls waiting out an injected delay or a slow chat right now
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
        self.slow_chats: dict[int, float] = {}  # chat id -> seconds every call to that chat waits first
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        for spec in self.chat_specs:
            chat = self.register_chat(Chat(spec.id, spec.type, title=spec.title, is_forum=spec.is_forum or None))
            for thread_id, name in spec.topics:
                self.add_topic(chat, Topic(thread_id, name))
        self.epoch += 1
        # Wake long polls and delayed calls so none keeps waiting on a world that no longer exists.
        self.changes.notify()

    # -- chats and messages -------------------------------------------------------------------------

    def register_chat(self, chat: Chat) -> Chat:
        existing = self.chats.get(chat.id)
        if existing is None:
            self.chats[chat.id] = chat
            return chat
        for name in ("type", "title", "first_name", "username", "is_forum"):
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
        self,
        chat: Chat,
        sender: dict[str, Any],
        version: Version,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> StoredMessage:
        message = StoredMessage(
            chat.next_message_id, chat.id, sender, version.at, [version], reply_to, thread_id=thread_id
        )
        chat.next_message_id += 1
        self.messages[(chat.id, message.message_id)] = message
        if message.from_bot:
            self.touch(chat)
        return message

    def add_topic(self, chat: Chat, topic: Topic) -> Topic:
        """Open a forum topic: on Telegram a topic is the thread of its "topic created" service message.

        That service message gets the topic's id as its message id (so later messages count on from there);
        a topic already open is renamed instead.
        """
        existing = chat.topics.get(topic.message_thread_id)
        if existing is not None:
            existing.name, existing.icon_color = topic.name, topic.icon_color
            return existing
        root_id = topic.message_thread_id
        if (chat.id, root_id) in self.messages or root_id < 1:
            raise ValueError(f"message {root_id} already exists in chat {chat.id}; a topic needs a fresh id")
        created = {"name": topic.name, "icon_color": topic.icon_color}
        version = Version("", "", None, [], None, int(time.time()))
        root = StoredMessage(
            root_id,
            chat.id,
            dict(TOPIC_CREATOR),
            version.at,
            [version],
            thread_id=root_id,
            service={"forum_topic_created": created},
        )
        self.messages[(chat.id, root_id)] = root
        chat.next_message_id = max(chat.next_message_id, root_id + 1)
        chat.topics[root_id] = topic
        return topic

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
        if message.thread_id is not None:
            out["message_thread_id"] = message.thread_id
            out["is_topic_message"] = True
            if with_reply and replied is None and message.message_id != message.thread_id:
                # A topic message that replies to nothing else is, on Telegram, a reply to its topic's root.
                root = self.message(message.chat_id, message.thread_id)
                if root is not None:
                    out["reply_to_message"] = self.message_to_api(root, with_reply=False)
        if message.service is not None:
            out.update(message.service)
            return out
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

    def take_fault(self, method: str, *, after_effect: bool) -> Fault | None:
        """Use up one call of the first fault for ``method`` of the given kind (before or after the effect)."""
        for fault in self.faults:
            if fault.method == method.lower() and fault.after_effect == after_effect and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def log_request(
        self, method: str, path: str, params: dict[str, Any], status: int | None, outcome: str = "answered"
    ) -> None:
        self.requests.append(
            {
                "seq": self._next_request_seq,
                "time": time.time(),
                "method": method,
                "path": path,
                "params": params,
                "status": status,
                "outcome": outcome,
            }
        )
        self._next_request_seq += 1
