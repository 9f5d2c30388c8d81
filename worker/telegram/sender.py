"""A small synchronous Bot API client for workers. The token lives only in the base URL, which is never logged."""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from common.http_deadline import send_within
from common.retry import RetryPolicy
from worker.ratelimit import BudgetExhausted
from worker.telegram.flood import FloodControl

log = logging.getLogger(__name__)

# One call: four attempts within 30 s. A 429's retry_after is honoured exactly; a longer one than the
# deadline allows fails the call at once with TelegramRateLimited, whose retry_after_s tells the caller
# (the outbox) when to try again.
MAX_MESSAGE_UTF16 = 4096
# Calls that put something in a chat, and so count against Telegram's flood limits.
SENDING_METHODS = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup", "deleteMessage"})
_TAG_RE = re.compile(r"<[^>]*>")
DEFAULT_POLICY = RetryPolicy(max_attempts=4, deadline_s=30.0, base_s=0.5, max_backoff_s=10.0)
TIMEOUT_S = 10.0


class TelegramNotConfigured(RuntimeError):
    """TELEGRAM_BOT_TOKEN is not set, so workers cannot message anyone."""


class TelegramSendError(RuntimeError):
    """The Bot API refused a call (400 bad request, 403 blocked, ...) or kept failing."""

    def __init__(self, method: str, status: int | None, description: str) -> None:
        super().__init__(f"Telegram {method} failed ({status if status is not None else 'no answer'}): {description}")
        self.method = method
        self.status = status
        self.description = description

    @property
    def definitive(self) -> bool:
        """Sending the same call again can never succeed (bad request, blocked, chat gone)."""
        return self.status in (400, 401, 403, 404)


class TelegramRateLimited(TelegramSendError):
    """429: Telegram asks us to wait ``retry_after_s`` seconds before this chat (or the bot) may send again."""

    def __init__(self, method: str, description: str, retry_after_s: float) -> None:
        super().__init__(method, 429, description)
        self.retry_after_s = retry_after_s


class TelegramFloodWait(TelegramRateLimited):
    """Our own shared flood control: this chat's next slot is further away than the call may wait. Not sent."""


class TelegramTransient(TelegramSendError):
    """A 5xx or a transport error: the same call may well succeed later."""


class TelegramSender:
    """Bot API calls over httpx, each under a retry policy. Create once per process; :meth:`close` at exit."""

    def __init__(
        self,
        token: str,
        api_base_url: str,
        timeout_s: float = TIMEOUT_S,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        flood: FloodControl | None = None,
    ) -> None:
        self._client = httpx.Client(base_url=f"{api_base_url}/bot{token}/", timeout=timeout_s)
        self.policy = policy
        self._sleep = sleep
        self._flood = flood

    def __repr__(self) -> str:
        return "TelegramSender()"

    def close(self) -> None:
        self._client.close()

    def call(
        self, method: str, payload: dict[str, Any], policy: RetryPolicy | None = None, flood_wait_s: float | None = None
    ) -> Any:
        """POST one Bot API method and return its ``result``; TelegramSendError (or a subclass) when it fails.

        ``flood_wait_s``: how long to wait for the chat's slot under the shared flood limits; by default a
        courtesy call (one attempt) does not wait at all, and others wait up to half their deadline.
        """
        policy = policy or self.policy
        if flood_wait_s is None:
            flood_wait_s = 0.0 if policy.max_attempts == 1 else policy.deadline_s / 2
        retrying = policy.retrying(_retryable, _server_wait_s, sleep=self._sleep)
        return retrying(self._attempt, method, payload, flood_wait_s)

    def _attempt(self, method: str, payload: dict[str, Any], flood_wait_s: float = 0.0) -> Any:
        chat_id = payload.get("chat_id")
        if self._flood is not None and method in SENDING_METHODS and isinstance(chat_id, int):
            try:
                self._flood.acquire(chat_id, flood_wait_s)
            except BudgetExhausted as exc:
                raise TelegramFloodWait(
                    method, "shared flood limit: the chat's next slot is later", exc.wait_s
                ) from None
        try:
            response = send_within(self._client, self._client.build_request("POST", method, json=payload))
        except httpx.TransportError as exc:
            raise TelegramTransient(method, None, type(exc).__name__) from None
        body = _json_or_none(response)
        if response.status_code == 200 and body and body.get("ok"):
            return body.get("result")
        description = str((body or {}).get("description") or response.reason_phrase)
        if response.status_code == 429:
            retry_after = ((body or {}).get("parameters") or {}).get("retry_after", 1)
            retry_after_s = float(retry_after) if isinstance(retry_after, int | float) else 1.0
            log.warning("Telegram %s rate-limited: retry after %ss", method, retry_after_s)
            raise TelegramRateLimited(method, description, max(1.0, retry_after_s))
        if response.status_code >= 500:
            raise TelegramTransient(method, response.status_code, description)
        raise TelegramSendError(method, response.status_code, description)

    def send_message(
        self,
        chat_id: int,
        text: str,
        parse_mode: str | None = "HTML",
        reply_markup: dict[str, Any] | None = None,
        policy: RetryPolicy | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """Send ``text`` (into forum topic ``message_thread_id`` when given); the new message's id."""
        payload = _message_payload(text, parse_mode, reply_markup) | {"chat_id": chat_id}
        if message_thread_id is not None:
            payload["message_thread_id"] = message_thread_id
        result = self.call("sendMessage", payload, policy)
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
            raise TelegramSendError("sendMessage", 200, f"answer without a message_id: {str(result)[:100]}")
        return int(result["message_id"])

    def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        parse_mode: str | None = "HTML",
        reply_markup: dict[str, Any] | None = None,
        policy: RetryPolicy | None = None,
        flood_wait_s: float | None = None,
    ) -> None:
        """Replace the text of a message the bot sent. Whatever the answer's shape, success is success."""
        payload = _message_payload(text, parse_mode, reply_markup) | {"chat_id": chat_id, "message_id": message_id}
        try:
            self.call("editMessageText", payload, policy, flood_wait_s)
        except TelegramSendError as exc:
            # Re-sending the same text (e.g. a redelivered task) is not an error for us.
            if "message is not modified" not in exc.description:
                raise


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def cut_utf16(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units; a surrogate pair is never split."""
    if utf16_len(text) <= limit:
        return text
    units = text.encode("utf-16-le")[: limit * 2]
    return units.decode("utf-16-le", errors="ignore")  # a half pair at the end is dropped, not sent


def fit_message(text: str, parse_mode: str | None) -> tuple[str, str | None]:
    """``text`` within Telegram's 4,096 UTF-16 units, never cut inside a tag or an entity.

    Every message builder keeps to the limit itself (it shortens the plain parts before adding markup); this is
    the last line of defence. Plain text is cut at a safe boundary; HTML that is too long is sent as its plain
    text, cut, rather than as markup Telegram would refuse, so the message is never lost.
    """
    if utf16_len(text) <= MAX_MESSAGE_UTF16:
        return text, parse_mode
    if parse_mode == "HTML":
        log.error("A %d-unit HTML message reached the sender; sending it as plain text", utf16_len(text))
        text = html.unescape(_TAG_RE.sub("", text))
    return cut_utf16(text, MAX_MESSAGE_UTF16 - 1) + "…", None


def _message_payload(text: str, parse_mode: str | None, reply_markup: dict[str, Any] | None) -> dict[str, Any]:
    text, parse_mode = fit_message(text, parse_mode)
    payload: dict[str, Any] = {"text": text, "link_preview_options": {"is_disabled": True}}
    if parse_mode:
        payload["parse_mode"] = parse_mode
    if reply_markup is not None:
        payload["reply_markup"] = reply_markup
    return payload


def _retryable(error: BaseException) -> bool:
    return isinstance(error, TelegramRateLimited | TelegramTransient)


def _server_wait_s(error: BaseException) -> float | None:
    return error.retry_after_s if isinstance(error, TelegramRateLimited) else None


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
