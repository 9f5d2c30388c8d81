"""`python -m bot`: the Telegram front end."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import sentry_sdk

from bot.app import run
from common.logs import configure_logging
from common.observability import init_sentry
from common.settings import ConfigError, get_settings
from worker.celery_app import app as celery_app
from worker.celery_app import use_fast_fail_producer

log = logging.getLogger("bot")


def main() -> int:
    # PTB 22 deprecates int seconds for retry_after & co.; opt in to timedeltas (PTB reads this variable itself).
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings)
    init_sentry(settings, process="bot")
    use_fast_fail_producer(celery_app)
    try:
        asyncio.run(run(settings))
    except Exception:
        # CRITICAL (Sentry `fatal`, the guide's "bot crashed" alert): the bot is down. The excepthook reports
        # the same exception again as a plain error; the Dedupe integration drops that second copy.
        log.critical("Bot crashed and stopped", exc_info=True)
        raise
    finally:
        sentry_sdk.flush(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
