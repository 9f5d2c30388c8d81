"""Process-wide logging set-up: one format, secrets redacted on every handler."""

from __future__ import annotations

import logging
import sys

from common.observability.scrubbing import RedactingFilter, Scrubber
from common.settings import Settings

_FORMAT = "%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s"


def install_redaction(scrubber: Scrubber) -> None:
    """Attach the redacting filter to every root handler, including ones Celery installed."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(scrubber))


def configure_logging(settings: Settings) -> None:
    """Stderr logging at LOG_LEVEL with secrets redacted; quiet the chattiest libraries."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    # httpx logs every request URL at INFO; Telegram URLs carry the bot token (redacted anyway, but noisy).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    install_redaction(Scrubber(settings.secret_values()))
