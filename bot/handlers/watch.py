"""/watch [game] [level] [min_profit%], /watch (list), /unwatch N: validate, answer at once, queue the change.

The bot holds no database: a worker makes the change and edits the "queued" answer with the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.arguments import UsageError, usage_reply
from bot.observed import INVALID_ARGUMENT, UNAVAILABLE, command_status, observed_command
from bot.pending import edit_quietly, pending_reply
from bot.producer import QueueUnavailable
from bot.runtime import language, runtime_of
from bot.texts import Catalogue, Language, text, translate
from common.contract import MAX_WATCH_PROFIT_BP, WatchCommandTask
from common.i18n import N_
from common.markets import DEFAULT_GAME, DEFAULT_LEVEL, LEVELS, canonical_game, game_names

COMMANDS: Catalogue = {
    "watch": N_("get told about new deals: /watch [game] [level] [min profit %]; /watch lists them"),
    "unwatch": N_("remove a subscription: /unwatch N"),
}

TEXTS: Catalogue = {
    "usage": N_(
        "Usage: /watch [game] [level] [min profit %]\n"
        "Without arguments: your subscriptions; remove one: /unwatch N.\n"
        "Games: {games} (default {game}). Levels: {levels} (default {level}).\n"
        "Profit is a percentage of the buy price, up to two decimals (default: the level's threshold).\n"
        "Example: /watch dota2 pro 5"
    ),
    "unwatch_usage": N_("Usage: /unwatch N, the subscription's number in /watch's list, e.g. /unwatch 1"),
    "queued": N_("⏳ One moment…"),
}

EXPECTED = "[game] [level] [min profit %]"
MAX_INDEX = 1000


@dataclass(frozen=True)
class WatchChoice:
    action: str  # add | list
    game: str | None = None
    level: str | None = None
    min_profit_bp: int | None = None


def _percent_bp(word: str) -> int | None:
    """``5``, ``2.5`` or ``7%`` as basis points; None when it is not such a number (0..1000, two decimals)."""
    try:
        value = Decimal(word.removesuffix("%").replace(",", "."))
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        return None
    bp = int(value * 100)
    return bp if 0 <= bp <= MAX_WATCH_PROFIT_BP else None


def parse_watch(args: list[str]) -> WatchChoice:
    """``[]`` lists; otherwise ``[game] [level] [percent]``, each optional, in that order."""
    if not args:
        return WatchChoice("list")
    game, level, threshold = DEFAULT_GAME, DEFAULT_LEVEL, None
    rest = list(args)
    if rest and canonical_game(rest[0]) is not None:
        game = canonical_game(rest.pop(0)) or game
    if rest and rest[0].lower() in LEVELS:
        level = rest.pop(0).lower()
    if rest:
        threshold = _percent_bp(rest[0])
        if threshold is None:
            raise UsageError(rest[0], EXPECTED)
        rest.pop(0)
    if rest:
        raise UsageError(rest[0], EXPECTED)
    return WatchChoice("add", game, level, threshold)


def parse_unwatch(args: list[str]) -> int:
    if len(args) != 1:
        raise UsageError(args[1] if len(args) > 1 else None, "N")
    word = args[0]
    if not word.isascii() or not word.isdigit() or not 1 <= int(word) <= MAX_INDEX:
        raise UsageError(word, "N")
    return int(word)


def usage(lang: Language, value: str | None = None) -> str:
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


async def _queue(
    update: Update, context: ContextTypes.DEFAULT_TYPE, make: Callable[[int, int], WatchCommandTask]
) -> None:
    """Answer "one moment" at once and queue the call ``make`` builds for that answer's chat and message."""
    lang = language(context)
    runtime = runtime_of(context)
    message = update.effective_message
    assert message is not None
    async with pending_reply(message, translate(TEXTS, "queued", lang), lang) as queued:
        call = make(queued.chat_id, queued.message_id)
        try:
            await runtime.producer.send(call, task_id=str(uuid.uuid4()))
        except QueueUnavailable as exc:
            command_status(UNAVAILABLE)
            await edit_quietly(queued, text("queue_unavailable", lang, event_id=exc.event_id or "-"))


Build = Callable[[int, int, int], WatchCommandTask]  # user id, chat id, message id -> the call


async def _run(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    parse: Callable[[list[str]], Build],
    usage_text: Callable[[Language, str | None], str],
) -> None:
    """Parse the arguments (usage reply when they do not fit), then queue the call they describe."""
    lang = language(context)
    message, user = update.effective_message, update.effective_user
    assert message is not None
    if user is None:  # channel posts have no sender to subscribe
        return
    try:
        build = parse(context.args or [])
    except UsageError as exc:
        command_status(INVALID_ARGUMENT)
        await message.reply_text(usage_text(lang, exc.value))
        return
    await _queue(update, context, lambda chat_id, message_id: build(user.id, chat_id, message_id))


def _watch_call(args: list[str]) -> Build:
    choice = parse_watch(args)
    return lambda user_id, chat_id, message_id: WatchCommandTask(
        user_id, chat_id, message_id, choice.action, choice.game, choice.level, choice.min_profit_bp
    )


def _unwatch_call(args: list[str]) -> Build:
    index = parse_unwatch(args)
    return lambda user_id, chat_id, message_id: WatchCommandTask(user_id, chat_id, message_id, "remove", index=index)


def unwatch_usage(lang: Language, value: str | None = None) -> str:
    return usage_reply(translate(TEXTS, "unwatch_usage", lang), lang, value)


@observed_command("watch")
async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Subscribe to a band, or list the user's subscriptions."""
    await _run(update, context, _watch_call, usage)


@observed_command("unwatch")
async def unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remove the user's N-th subscription."""
    await _run(update, context, _unwatch_call, unwatch_usage)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CommandHandler("watch", watch), CommandHandler("unwatch", unwatch)]
