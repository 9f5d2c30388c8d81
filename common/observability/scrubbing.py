"""Keep secrets out of everything that leaves a process: log lines, Sentry events, breadcrumbs, spans."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[Filtered]"

# Telegram puts the bot token in every Bot API URL: https://api.telegram.org/bot<id>:<token>/sendMessage
# Flags are scoped ((?i:...)), never global, so the patterns can also be joined into one (_ANY_PATTERN).
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"bot\d{5,12}:[A-Za-z0-9_-]{20,}"), "bot" + REDACTED),
    (re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{30,}"), REDACTED),
    # DMarket request signatures and any Bearer/Sentry auth header value that was logged verbatim.
    (re.compile(r"dmar ed25519 [0-9a-fA-F]+"), "dmar ed25519 " + REDACTED),
    (re.compile(r"(?i:\bbearer\s+[A-Za-z0-9._~+/=-]{8,})"), "Bearer " + REDACTED),
    (re.compile(r"sntrys_[A-Za-z0-9_=+/-]{20,}"), REDACTED),
    (re.compile(r"(?i:(sentry_key=)[0-9a-f]{16,})"), r"\1" + REDACTED),
    # Passwords in connection URLs (postgresql://user:pw@host, redis://:pw@host) and libpq conninfo strings.
    (re.compile(r"(?i:\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@)"), r"\1" + REDACTED + "@"),
    (re.compile(r"(?i:\b(password\s*=\s*)('[^']*'|\S+))"), r"\1" + REDACTED),
)
# The fast paths, each a condition every match of every pattern needs, so skipping on it changes nothing
# (tests/unit/test_scrubbing.py checks each claim, and compares with the plain eight substitutions):
# - no pattern matches fewer than SHORTEST_PATTERN_MATCH characters ("a://:p@");
# - every match contains one of NEEDED_FRAGMENTS, looked for in the lower-cased text: ":" (tokens, URLs),
#   "=" (sentry_key=, password=), or the literal start of the other three;
# - a text none of the patterns matches anywhere is exactly one this alternation does not match anywhere.
# Only when all three pass do the eight substitutions run, in order, as before.
SHORTEST_PATTERN_MATCH = 7
NEEDED_FRAGMENTS = (":", "=", "dmar ed25519 ", "bearer", "sntrys_")
_ANY_PATTERN = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in _PATTERNS))

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
        # A text shorter than every secret and every pattern's shortest match cannot hold anything to replace.
        self._shortest = min([SHORTEST_PATTERN_MATCH, *(len(s) for s in self._secrets)])

    def text(self, value: str) -> str:
        if len(value) < self._shortest:
            return value
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        if ":" not in value and "=" not in value:  # NEEDED_FRAGMENTS, spelt out: no call per fragment
            lowered = value.lower()
            if "dmar ed25519 " not in lowered and "bearer" not in lowered and "sntrys_" not in lowered:
                return value
        if _ANY_PATTERN.search(value) is None:
            return value
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def data(self, value: Any, depth: int = 0) -> Any:
        """Scrub nested dicts, lists and strings; bounded depth so a cyclic structure cannot hang us."""
        if depth > 20:
            return value
        kind = type(value)
        # Exact types first (what JSON-like event data is made of); subclasses take the isinstance path below.
        if kind is str:
            return self.text(value)
        if kind in _SCALARS:
            return value  # numbers, booleans and None hold no text
        if kind is dict or isinstance(value, dict):
            return {
                key: REDACTED
                if isinstance(key, str) and key.lower() in SENSITIVE_KEYS and val
                else self.data(val, depth + 1)
                for key, val in value.items()
            }
        if kind is list or isinstance(value, list):
            return [self.data(item, depth + 1) for item in value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, tuple):
            return tuple(self.data(item, depth + 1) for item in value)
        return value


_SCALARS = frozenset({int, float, bool, type(None)})


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
