"""A synchronous client for the Telegram sandbox's control API, for tests, scripts and the console chat."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

Message = dict[str, Any]
# How long one server-side long poll may last inside a wait; the deadline is enforced across polls.
_POLL_SLICE_S = 5.0
# "No result given" for inject_fault, since None (JSON null) is a result one may want to inject.
_NO_RESULT: Any = object()


class SandboxControlError(RuntimeError):
    """The control API refused a request (bad input, unknown message, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class TelegramSandboxClient:
    """Act as Telegram users and read what the bot sent, via ``/_sandbox/`` on ``base_url``."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TelegramSandboxClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise SandboxControlError(response.status_code, message)
        return response.json()

    # -- acting as users -----------------------------------------------------------------------------

    def send_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        username: str | None = None,
        chat_type: str | None = None,
        reply_to_message_id: int | None = None,
        language_code: str | None = None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        """A user writes ``text``; returns ``{"update_id", "message_id", "update"}``.

        ``language_code`` is the user's app language (``from.language_code``; default ``en``, ``""`` omits it);
        ``message_thread_id`` writes in a forum topic.
        """
        body = {
            "chat_id": chat_id,
            "user_id": user_id,
            "text": text,
            "first_name": first_name,
            "username": username,
            "chat_type": chat_type,
            "reply_to_message_id": reply_to_message_id,
            "language_code": language_code,
            "message_thread_id": message_thread_id,
        }
        return dict(self._request("POST", "/_sandbox/updates/message", json=_without_none(body)))

    def press_button(
        self, chat_id: int, user_id: int, message_id: int, data: str, *, language_code: str | None = None
    ) -> dict[str, Any]:
        """A user presses the inline button with ``callback_data == data``; returns the callback query id."""
        body = {
            "chat_id": chat_id,
            "user_id": user_id,
            "message_id": message_id,
            "data": data,
            "language_code": language_code,
        }
        return dict(self._request("POST", "/_sandbox/updates/callback_query", json=_without_none(body)))

    def callback_answer(self, callback_query_id: str) -> dict[str, Any] | None:
        """What the bot answered to a button press (``answerCallbackQuery``), or ``None`` so far."""
        query = self._request("GET", f"/_sandbox/callback_queries/{callback_query_id}")
        answer: dict[str, Any] | None = query["answer"]
        return answer

    # -- chats and what the bot sent -----------------------------------------------------------------

    def register_chat(
        self,
        chat_id: int,
        *,
        chat_type: str | None = None,
        title: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        is_forum: bool | None = None,
        topics: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Register or update a chat; ``topics`` (``[{"message_thread_id"?, "name", "icon_color"?}]``) need
        ``is_forum=True`` on a supergroup. Returns the chat, with ``topics`` for a forum."""
        body = {
            "chat_id": chat_id,
            "type": chat_type,
            "title": title,
            "first_name": first_name,
            "username": username,
            "is_forum": is_forum,
            "topics": topics,
        }
        return dict(self._request("POST", "/_sandbox/chats", json=_without_none(body))["chat"])

    def chats(self) -> list[dict[str, Any]]:
        """Every known chat (forums with their ``topics``)."""
        return list(self._request("GET", "/_sandbox/chats")["chats"])

    def chat_messages(
        self,
        chat_id: int,
        *,
        after_message_id: int = 0,
        include_user: bool = False,
        since_revision: int | None = None,
        wait_s: float = 0.0,
    ) -> dict[str, Any]:
        """The raw snapshot ``{"chat_id", "revision", "messages"}``; with ``since_revision`` it long-polls."""
        params: dict[str, Any] = {"after_message_id": after_message_id, "include_user": str(include_user).lower()}
        if since_revision is not None:
            params.update(since_revision=since_revision, wait_s=wait_s)
        return dict(self._request("GET", f"/_sandbox/chats/{chat_id}/messages", params=params, timeout=wait_s + 10.0))

    def bot_messages(self, chat_id: int, after_message_id: int = 0) -> list[Message]:
        """The bot's messages in the chat that still exist, in send order, with their current content."""
        snapshot = self.chat_messages(chat_id, after_message_id=after_message_id)
        return [m for m in snapshot["messages"] if not m["deleted"]]

    def wait_for_bot_messages(
        self,
        chat_id: int,
        count: int = 1,
        timeout_s: float = 10.0,
        predicate: Callable[[Message], bool] | None = None,
        after_message_id: int = 0,
    ) -> list[Message]:
        """Wait until at least ``count`` existing bot messages match ``predicate``; return the matches.

        Each round trip is a server-side long poll that returns on the next change in the chat, so this
        reacts at once without sleeping; ``TimeoutError`` names what was there at the deadline.
        """
        deadline = time.monotonic() + timeout_s
        revision: int | None = None
        while True:
            remaining = deadline - time.monotonic()
            snapshot = self.chat_messages(
                chat_id,
                after_message_id=after_message_id,
                since_revision=revision,
                wait_s=max(0.0, min(remaining, _POLL_SLICE_S)),
            )
            existing = [m for m in snapshot["messages"] if not m["deleted"]]
            matched = [m for m in existing if predicate is None or predicate(m)]
            if len(matched) >= count:
                return matched
            if remaining <= 0:
                seen = [m["text"] for m in existing]
                raise TimeoutError(
                    f"chat {chat_id}: {len(matched)}/{count} matching bot messages after {timeout_s}s; bot sent {seen}"
                )
            revision = snapshot["revision"]

    def wait_for_text(
        self, chat_id: int, substring: str, timeout_s: float = 10.0, after_message_id: int = 0
    ) -> Message:
        """The first bot message whose text contains ``substring`` now or in any earlier (edited) version."""

        def has_text(message: Message) -> bool:
            return any(substring in version["text"] for version in [message, *message["history"]])

        return self.wait_for_bot_messages(chat_id, 1, timeout_s, predicate=has_text, after_message_id=after_message_id)[
            0
        ]

    # -- configuration -------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The bot's getMe, flood limits, blocked chats, pending faults and webhook."""
        return dict(self._request("GET", "/_sandbox/config"))

    def configure(
        self,
        *,
        flood: dict[str, int | None] | None = None,
        blocked_chats: list[int] | None = None,
        faults: list[dict[str, Any]] | None = None,
        clear_faults: bool = False,
        slow_chats: Mapping[int, float] | None = None,
    ) -> dict[str, Any]:
        """Change flood limits, blocked and slow chats, and faults; see docs/sandbox-telegram.md for the fields."""
        slow = None if slow_chats is None else {str(chat_id): delay for chat_id, delay in slow_chats.items()}
        body = {
            "flood": flood,
            "blocked_chats": blocked_chats,
            "slow_chats": slow,
            "faults": faults,
            "clear_faults": clear_faults,
        }
        return dict(self._request("POST", "/_sandbox/config", json=_without_none(body)))

    def set_flood_limits(
        self, *, per_chat_per_s: int | None = None, global_per_s: int | None = None, group_per_min: int | None = None
    ) -> dict[str, Any]:
        """Set all three limits at once; ``None`` turns a limit off."""
        limits = {"per_chat_per_s": per_chat_per_s, "global_per_s": global_per_s, "group_per_min": group_per_min}
        return self.configure(flood=limits)

    def block_chats(self, *chat_ids: int) -> dict[str, Any]:
        """Replace the set of chats whose user blocked the bot (403 on send); no arguments unblocks all."""
        return self.configure(blocked_chats=list(chat_ids))

    def set_slow_chats(self, delays: Mapping[int, float]) -> dict[str, Any]:
        """Replace the slow chats: every Bot API call aimed at one waits its delay first; ``{}`` clears them."""
        return self.configure(slow_chats=delays)

    def inject_fault(
        self,
        method: str,
        status: int | None = None,
        *,
        count: int = 1,
        description: str | None = None,
        retry_after: int | None = None,
        delay_s: float = 0.0,
        result: Any = _NO_RESULT,
        drop: bool = False,
        after_effect: bool | None = None,
        raw_body: str | None = None,
    ) -> dict[str, Any]:
        """Give the next ``count`` calls of ``method`` an odd answer (docs/sandbox-telegram.md, "Faults").

        ``status``: answer that error instead; ``drop``: close the connection without an answer; ``result``:
        carry the call out and answer ``{"ok": true, "result": result}`` (``None`` is JSON null); ``delay_s``:
        wait first. ``after_effect=True`` applies the status, drop or delay after the call took effect.
        """
        fault = {
            "method": method,
            "status": status,
            "count": count,
            "description": description,
            "retry_after": retry_after,
            "delay_s": delay_s,
            "drop": drop or None,
            "after_effect": after_effect,
            "raw_body": raw_body,
        }
        spec = _without_none(fault)
        if result is not _NO_RESULT:
            spec["result"] = result
        return self.configure(faults=[spec])

    def clear_faults(self) -> dict[str, Any]:
        """Forget every pending fault."""
        return self.configure(clear_faults=True)

    def flood_record(self) -> dict[str, Any]:
        """Flood control so far: ``{"limits", "total", "chats": {chat_id: record}}``, each record
        ``{"sent", "refused", "refused_by", "last_retry_after", "peak_per_s", "peak_per_min"}``."""
        record = dict(self._request("GET", "/_sandbox/flood"))
        record["chats"] = {int(chat_id): chat for chat_id, chat in record["chats"].items()}
        return record

    def chat_flood_record(self, chat_id: int) -> dict[str, Any]:
        """One chat's flood record (zeros if the bot never sent there)."""
        empty = {
            "sent": 0,
            "refused": 0,
            "refused_by": {},
            "last_retry_after": None,
            "peak_per_s": 0,
            "peak_per_min": 0,
        }
        return dict(self.flood_record()["chats"].get(chat_id, empty))

    def requests(self, method: str | None = None, since_seq: int = 0) -> list[dict[str, Any]]:
        """Bot API calls received so far: ``{"seq", "time", "method", "path", "params", "status", "outcome"}``.

        ``status`` is null and ``outcome`` is ``dropped``, ``client_gone`` or ``reset`` for calls not answered.
        """
        params: dict[str, Any] = {"since_seq": since_seq}
        if method:
            params["method"] = method
        return list(self._request("GET", "/_sandbox/requests", params=params)["requests"])

    def reset(self) -> None:
        """Forget chats, messages, updates, faults and limits; pre-registered chats come back."""
        self._request("POST", "/_sandbox/reset")


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}
