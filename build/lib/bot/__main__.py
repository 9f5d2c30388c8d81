"""`python -m bot`: the Telegram front end."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import sentry_sdk

from common.logs import configure_logging
from common.observability.sdk import init_sentry
from common.settings import load_settings_or_exit

log = logging.getLogger("bot")


def main() -> int:
    # PTB 22 deprecates int seconds for retry_after & co.; opt in to timedeltas (PTB reads this variable itself).
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    settings = load_settings_or_exit()
    configure_logging(settings)
    init_sentry(settings, process="bot")
    from bot.app import run  # after logging is set up: importing PTB logs nothing, but keep the order obvious

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
