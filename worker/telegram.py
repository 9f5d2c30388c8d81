"""Messages from workers back to Telegram: a small synchronous Bot API client and an idempotent outbox."""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import httpx
from sqlalchemy import select

from common.db import SentMessage, session_scope
from common.settings import Settings

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
# Telegram asks us to wait `retry_after` seconds on 429; we wait at most this long per call before giving up.
MAX_RETRY_AFTER_S = 30.0
MAX_ATTEMPTS = 4


class TelegramNotConfigured(RuntimeError):
    """TELEGRAM_BOT_TOKEN is not set, so workers cannot message anyone."""


class TelegramSendError(RuntimeError):
    """The Bot API refused a call (400 bad request, 403 blocked, ...) or kept failing."""

    def __init__(self, method: str, status: int | None, description: str) -> None:
        super().__init__(f"Telegram {method} failed ({status}): {description}")
        self.status = status
        self.description = description


class TelegramSender:
    """Bot API calls over httpx. The token lives only in the base URL, which is never logged."""

    def __init__(self, token: str, api_base_url: str, timeout_s: float = 10.0) -> None:
        self._client = httpx.Client(base_url=f"{api_base_url}/bot{token}/", timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, payload: dict[str, Any]) -> Any:
        """POST one Bot API method; wait out 429s and retry 5xx/transport errors a bounded number of times."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self._client.post(method, json=payload)
            except httpx.TransportError as exc:
                if attempt == MAX_ATTEMPTS:
                    raise TelegramSendError(method, None, type(exc).__name__) from None
                time.sleep(_backoff_s(attempt))
                continue
            body = _json_or_none(response)
            if response.status_code == 200 and body and body.get("ok"):
                return body["result"]
            description = str((body or {}).get("description") or response.reason_phrase)
            if response.status_code == 429 and attempt < MAX_ATTEMPTS:
                retry_after_s = float(((body or {}).get("parameters") or {}).get("retry_after", 1))
                if retry_after_s <= MAX_RETRY_AFTER_S:
                    log.warning("Telegram %s rate-limited, retrying in %ss", method, retry_after_s)
                    time.sleep(retry_after_s)
                    continue
            if response.status_code >= 500 and attempt < MAX_ATTEMPTS:
                time.sleep(_backoff_s(attempt))
                continue
            raise TelegramSendError(method, response.status_code, description)
        raise AssertionError("unreachable: the loop returns or raises")

    def send_message(self, chat_id: int, text: str, parse_mode: str | None = "HTML") -> int:
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text[:MAX_MESSAGE_CHARS]}
        if parse_mode:
            payload["parse_mode"] = parse_mode
        result = self.call("sendMessage", {**payload, "link_preview_options": {"is_disabled": True}})
        return int(result["message_id"])

    def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        parse_mode: str | None = "HTML",
        reply_markup: dict[str, Any] | None = None,
    ) -> None:
        payload: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": text[:MAX_MESSAGE_CHARS]}
        if parse_mode:
            payload["parse_mode"] = parse_mode
        if reply_markup is not None:
            payload["reply_markup"] = reply_markup
        try:
            self.call("editMessageText", {**payload, "link_preview_options": {"is_disabled": True}})
        except TelegramSendError as exc:
            # Re-sending the same text (e.g. a redelivered task) is not an error for us.
            if "message is not modified" not in exc.description:
                raise


def _backoff_s(attempt: int) -> float:
    """Exponential backoff with full jitter, so workers retrying together do not retry in step."""
    return random.uniform(0, min(2.0**attempt, 10.0))  # noqa: S311 - jitter, not cryptography


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


_senders: dict[tuple[str, str], TelegramSender] = {}
_senders_lock = threading.Lock()


def get_sender(settings: Settings) -> TelegramSender:
    """The process's sender (one connection pool), or TelegramNotConfigured without a token."""
    if settings.telegram_bot_token is None:
        raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set; cannot send Telegram messages")
    key = (settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base_url)
    with _senders_lock:
        if key not in _senders:
            _senders[key] = TelegramSender(*key)
        return _senders[key]


def close_senders() -> None:
    with _senders_lock:
        for sender in _senders.values():
            sender.close()
        _senders.clear()


def send_once(sender: TelegramSender, database_url: str, key: str, chat_id: int, text: str) -> int:
    """Send ``text`` under an idempotency ``key``: a second call (a redelivered task) edits the first message.

    Telegram has no idempotency key, so this is at-least-once: a worker killed between sendMessage and the
    insert below (one HTTP round trip) leaves no record, and its redelivery sends the message again.
    """
    with session_scope(database_url) as session:
        existing = session.scalar(select(SentMessage).where(SentMessage.key == key))
        if existing is not None:
            sender.edit_message_text(existing.chat_id, existing.message_id, text)
            return existing.message_id
    message_id = sender.send_message(chat_id, text)
    with session_scope(database_url) as session:
        session.add(SentMessage(key=key, chat_id=chat_id, message_id=message_id))
    return message_id
