"""A synchronous client for the Telegram sandbox's control API, for tests, scripts and the console chat."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx

Message = dict[str, Any]
# How long one server-side long poll may last inside a wait; the deadline is enforced across polls.
_POLL_SLICE_S = 5.0


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
    ) -> dict[str, Any]:
        """A user writes ``text``; returns ``{"update_id", "message_id", "update"}``."""
        body = {
            "chat_id": chat_id,
            "user_id": user_id,
            "text": text,
            "first_name": first_name,
            "username": username,
            "chat_type": chat_type,
            "reply_to_message_id": reply_to_message_id,
        }
        return dict(self._request("POST", "/_sandbox/updates/message", json=_without_none(body)))

    def press_button(self, chat_id: int, user_id: int, message_id: int, data: str) -> dict[str, Any]:
        """A user presses the inline button with ``callback_data == data``; returns the callback query id."""
        body = {"chat_id": chat_id, "user_id": user_id, "message_id": message_id, "data": data}
        return dict(self._request("POST", "/_sandbox/updates/callback_query", json=body))

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
    ) -> dict[str, Any]:
        body = {"chat_id": chat_id, "type": chat_type, "title": title, "first_name": first_name, "username": username}
        return dict(self._request("POST", "/_sandbox/chats", json=_without_none(body))["chat"])

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
    ) -> dict[str, Any]:
        """Change flood limits, blocked chats and faults; see docs/sandbox-telegram.md for the fields."""
        body = {"flood": flood, "blocked_chats": blocked_chats, "faults": faults, "clear_faults": clear_faults}
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

    def inject_fault(
        self,
        method: str,
        status: int | None = None,
        *,
        count: int = 1,
        description: str | None = None,
        retry_after: int | None = None,
        delay_s: float = 0.0,
    ) -> dict[str, Any]:
        """Make the next ``count`` calls of ``method`` fail with ``status`` and/or answer after ``delay_s``."""
        fault = {
            "method": method,
            "status": status,
            "count": count,
            "description": description,
            "retry_after": retry_after,
            "delay_s": delay_s,
        }
        return self.configure(faults=[_without_none(fault)])

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Bot API calls received so far: ``{"seq", "time", "method", "path", "params", "status"}``."""
        params = {"method": method} if method else {}
        return list(self._request("GET", "/_sandbox/requests", params=params)["requests"])

    def reset(self) -> None:
        """Forget chats, messages, updates, faults and limits; pre-registered chats come back."""
        self._request("POST", "/_sandbox/reset")


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}
