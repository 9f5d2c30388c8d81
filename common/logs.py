"""Process-wide logging set-up: one format, secrets redacted on every handler, one event per broker outage."""

from __future__ import annotations

import logging
import sys
import threading

from common.observability.scrubbing import RedactingFilter, Scrubber
from common.settings import Settings

_FORMAT = "%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s"

# Where Celery reports that it lost the broker and retries, and where it says it is back.
RETRYING_LOGGERS = ("celery.worker.consumer.consumer", "celery.beat")
RECOVERED_LOGGERS = ("celery.worker.consumer.connection",)


class OneReportPerOutage(logging.Filter):
    """A broker outage is one problem: its first retry line keeps its level (one Sentry event), the rest of
    the outage's retries are WARNING (breadcrumbs and log lines only), until Celery says it is connected."""

    RETRYING = ("Cannot connect to", "Connection error", "Trying again in")

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._in_outage = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        with self._lock:
            if record.name in RECOVERED_LOGGERS and message.startswith("Connected to"):
                self._in_outage = False
            elif record.levelno >= logging.ERROR and any(part in message for part in self.RETRYING):
                if self._in_outage:
                    record.levelno, record.levelname = logging.WARNING, "WARNING"
                self._in_outage = True
        return True


_outages = OneReportPerOutage()


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
    # Logger filters run before sentry-sdk's logging integration sees the record, so a lowered level holds.
    for name in (*RETRYING_LOGGERS, *RECOVERED_LOGGERS):
        logger = logging.getLogger(name)
        if _outages not in logger.filters:
            logger.addFilter(_outages)
    install_redaction(Scrubber(settings.secret_values()))
