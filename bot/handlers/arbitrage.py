"""/arbitrage [game] [level]: validate, claim the user's one scan slot, answer at once, queue the scan."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import redis.asyncio
import sentry_sdk
from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.arguments import UsageError, usage_reply
from bot.observed import observed_command
from bot.queue import QueueUnavailable, enqueue
from bot.runtime import language, settings_of
from bot.texts import Catalogue, Language, text, translate
from common import scan_guard
from common.markets import DEFAULT_GAME, DEFAULT_LEVEL, LEVELS, canonical_game, game_names
from worker.celery_app import app as celery_app
from worker.tasks.scans import SCAN_TASK_NAME

log = logging.getLogger(__name__)

# The bot's event loop must not wait on a dead Redis for long (DESIGN.md §1).
GUARD_TIMEOUT_S = 1.0

COMMANDS: Catalogue = {
    "arbitrage": {
        "ru": "поиск арбитража на DMarket: /arbitrage [игра] [уровень]",
        "en": "find DMarket arbitrage: /arbitrage [game] [level]",
    },
}

TEXTS: Catalogue = {
    "usage": {
        "ru": (
            "Использование: /arbitrage [игра] [уровень]\n"
            "Игры: {games} (по умолчанию {game}).\nУровни: {levels} (по умолчанию {level}).\n"
            "Например: /arbitrage dota2 pro"
        ),
        "en": (
            "Usage: /arbitrage [game] [level]\n"
            "Games: {games} (default {game}).\nLevels: {levels} (default {level}).\n"
            "Example: /arbitrage dota2 pro"
        ),
    },
    "queued": {
        "ru": "⏳ Скан {game}/{level} в очереди. Прогресс и результат появятся в этом сообщении.",
        "en": "⏳ Scan of {game}/{level} queued. Progress and the result will appear in this message.",
    },
    "already_running": {
        "ru": "⏳ Ваш предыдущий скан ещё идёт. Дождитесь его результата, потом запустите новый.",
        "en": "⏳ Your previous scan is still running. Wait for its result, then start a new one.",
    },
}


EXPECTED = "[game] [level]"


@dataclass(frozen=True)
class ScanChoice:
    game: str
    level: str


def parse_arguments(args: list[str]) -> ScanChoice:
    """``[]``, ``[game]``, ``[level]`` or ``[game, level]`` (any case) → the scan to run."""
    if len(args) > 2:
        raise UsageError(" ".join(args[2:]), EXPECTED)
    game, level = DEFAULT_GAME, DEFAULT_LEVEL
    if len(args) == 1 and args[0].lower() in LEVELS:
        return ScanChoice(game, args[0].lower())  # "/arbitrage pro": games and levels never share a name
    if args:
        known = canonical_game(args[0])
        if known is None:
            raise UsageError(args[0], EXPECTED)
        game = known
    if len(args) == 2:
        level = args[1].lower()
        if level not in LEVELS:
            raise UsageError(args[1], EXPECTED)
    return ScanChoice(game, level)


def usage(lang: Language, value: str | None = None) -> str:
    """The usage text, after what was not understood (shortened, so the reply always fits one message)."""
    body = translate(
        TEXTS,
        "usage",
        lang,
        games=", ".join(game_names()),
        game=DEFAULT_GAME,
        levels=", ".join(LEVELS),
        level=DEFAULT_LEVEL,
    )
    return usage_reply(body, lang, value)


@observed_command("arbitrage")
async def arbitrage(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Queue a scan and answer at once; the worker edits that answer with progress and the result."""
    lang = language(context)
    settings = settings_of(context)
    message, user = update.effective_message, update.effective_user
    assert message is not None
    if user is None:  # channel posts have no sender to attribute a scan to
        return
    try:
        choice = parse_arguments(context.args or [])
    except UsageError as exc:
        await message.reply_text(usage(lang, exc.value))
        return

    task_id = str(uuid.uuid4())
    guard = redis.asyncio.Redis.from_url(
        settings.redis_url, socket_timeout=GUARD_TIMEOUT_S, socket_connect_timeout=GUARD_TIMEOUT_S
    )
    try:
        try:
            acquired = await scan_guard.acquire(guard, user.id, task_id)
        except (RedisError, OSError) as exc:
            # Redis is the broker too: nothing could be queued anyway. One event, one clear answer.
            with sentry_sdk.new_scope() as scope:
                scope.set_tag("component", "telegram")
                event_id = sentry_sdk.capture_exception(exc)
            log.warning("Scan guard unavailable for user %s: %r (Sentry event %s)", user.id, exc, event_id)
            await message.reply_text(text("queue_unavailable", lang, event_id=event_id or "-"))
            return
        if not acquired:
            await message.reply_text(translate(TEXTS, "already_running", lang))
            return

        queued = await message.reply_text(translate(TEXTS, "queued", lang, game=choice.game, level=choice.level))
        # Bound to the production app explicitly: Celery's "current app" is per thread, and enqueue() publishes
        # from a worker thread where it would be a default app with no broker.
        signature = celery_app.signature(
            SCAN_TASK_NAME,
            kwargs={
                "user_id": user.id,
                "chat_id": queued.chat_id,
                "message_id": queued.message_id,
                "game": choice.game,
                "level": choice.level,
            },
            options={"task_id": task_id},  # the guard names this id, so only this scan's worker clears it
        )
        try:
            await enqueue(signature)
        except QueueUnavailable as exc:
            await _release_quietly(guard, user.id, task_id)
            await queued.edit_text(text("queue_unavailable", lang, event_id=exc.event_id or "-"))
    finally:
        await guard.aclose()


async def _release_quietly(guard: redis.asyncio.Redis, user_id: int, task_id: str) -> None:
    try:
        await scan_guard.release_async(guard, user_id, task_id)
    except (RedisError, OSError) as exc:  # it expires by itself; the user may wait SCAN_GUARD_TTL_S at worst
        log.warning("Could not release the scan slot of user %s: %r", user_id, exc)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CommandHandler("arbitrage", arbitrage)]
