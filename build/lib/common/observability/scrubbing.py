"""Keep secrets out of everything that leaves a process: log lines, Sentry events, breadcrumbs, spans."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[Filtered]"

# Telegram puts the bot token in every Bot API URL: https://api.telegram.org/bot<id>:<token>/sendMessage
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"bot\d{5,12}:[A-Za-z0-9_-]{20,}"), "bot" + REDACTED),
    (re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{30,}"), REDACTED),
    # DMarket request signatures and any Bearer/Sentry auth header value that was logged verbatim.
    (re.compile(r"dmar ed25519 [0-9a-fA-F]+"), "dmar ed25519 " + REDACTED),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer " + REDACTED),
    (re.compile(r"sntrys_[A-Za-z0-9_=+/-]{20,}"), REDACTED),
    (re.compile(r"(?i)(sentry_key=)[0-9a-f]{16,}"), r"\1" + REDACTED),
    # Passwords in connection URLs (postgresql://user:pw@host, redis://:pw@host) and libpq conninfo strings.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
    (re.compile(r"(?i)\b(password\s*=\s*)('[^']*'|\S+)"), r"\1" + REDACTED),
)

# Keys whose values are secret wherever they appear (headers, extra, breadcrumb data, frame locals).
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-request-sign",
        "x-sentry-auth",
        "sentry-hook-signature",
        "x-telegram-bot-api-secret-token",
        "token",
        "bot_token",
        "telegram_bot_token",
        "secret",
        "secret_key",
        "dmarket_secret_key",
        "dmarket_public_key",
        "auth_token",
        "sentry_auth_token",
        "webhook_secret",
        "sentry_webhook_secret",
        "password",
        "api_key",
        "private_key",
        "signature",
        "conninfo",
        "database_url",
        "redis_url",
        "broker_url",
        "result_backend",
    }
)


class Scrubber:
    """Replaces known secret values and secret-shaped strings in nested data."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        # Longest first, so a 128-char key is replaced before its 64-char prefix would leave half of it.
        self._secrets = sorted({s for s in secret_values if s}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def data(self, value: Any, depth: int = 0) -> Any:
        """Scrub nested dicts, lists and strings; bounded depth so a cyclic structure cannot hang us."""
        if depth > 20:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                key: REDACTED
                if isinstance(key, str) and key.lower() in SENSITIVE_KEYS and val
                else self.data(val, depth + 1)
                for key, val in value.items()
            }
        if isinstance(value, list):
            return [self.data(item, depth + 1) for item in value]
        if isinstance(value, tuple):
            return tuple(self.data(item, depth + 1) for item in value)
        return value


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record once and scrubs the text (httpx logs bot URLs at INFO)."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self._scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self._scrubber.text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrubber.text(record.exc_text)
        return True
