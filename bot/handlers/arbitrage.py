"""/arbitrage [game] [level]: validate, claim the user's one scan slot, answer at once, queue the scan."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import sentry_sdk
from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.arguments import UsageError, usage_reply
from bot.observed import ALREADY_RUNNING, INVALID_ARGUMENT, UNAVAILABLE, command_status, observed_command
from bot.pending import edit_quietly, pending_reply
from bot.producer import QueueUnavailable
from bot.runtime import language, runtime_of
from bot.slots import SlotTaken, SlotUnavailable, scan_slot
from bot.texts import Language, Messages, text, translator
from common.contract import ScanTask
from common.i18n import N_
from common.markets import DEFAULT_GAME, DEFAULT_LEVEL, LEVELS, canonical_game, game_names

log = logging.getLogger(__name__)

COMMANDS: Messages = {"arbitrage": N_("scan DMarket for arbitrage: /arbitrage [game] [level] [suggested]")}


EXPECTED = "[game] [level] [suggested]"
SUGGESTED_WORD = "suggested"


@dataclass(frozen=True)
class ScanChoice:
    game: str
    level: str
    method: str = "valuation"


def parse_arguments(args: list[str]) -> ScanChoice:
    """``[]``, ``[game]``, ``[level]`` or ``[game, level]`` (any case), optionally ending in ``suggested``.

    Words are read in order, and the first one that does not fit is the one named in the usage reply.
    """
    game, level = DEFAULT_GAME, DEFAULT_LEVEL
    rest = list(args)
    method = "valuation"
    if rest and rest[-1].lower() == SUGGESTED_WORD:  # asked for DMarket's estimate by name
        rest.pop()
        method = "suggested"
    if rest:
        first = rest.pop(0)
        known = canonical_game(first)
        if known is not None:
            game = known
            if rest:
                if rest[0].lower() not in LEVELS:
                    raise UsageError(rest[0], EXPECTED)
                level = rest.pop(0).lower()
        elif first.lower() in LEVELS:  # "/arbitrage pro": games and levels never share a name
            level = first.lower()
        else:
            raise UsageError(first, EXPECTED)
    if rest:
        raise UsageError(rest[0], EXPECTED)
    return ScanChoice(game, level, method)


def usage(lang: Language, value: str | None = None) -> str:
    """The usage text, after what was not understood (shortened, so the reply always fits one message)."""
    body = translator(lang).gettext(
        "Usage: /arbitrage [game] [level] [suggested]\n"
        "Games: {games} (default {game}).\nLevels: {levels} (default {level}).\n"
        "Resale is valued at the best buy order or the median of recent sales; "
        "suggested values at DMarket's own estimate (suggestedPrice) instead.\n"
        "Example: /arbitrage dota2 pro",
        games=", ".join(game_names()),
        game=DEFAULT_GAME,
        levels=", ".join(LEVELS),
        level=DEFAULT_LEVEL,
    )
    return usage_reply(body, lang, value)


@observed_command("arbitrage")
async def arbitrage(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Queue a scan and answer at once; the worker edits that answer with progress and the result."""
    lang = language(context, update)
    runtime = runtime_of(context)
    message, user = update.effective_message, update.effective_user
    assert message is not None
    if user is None:  # channel posts have no sender to attribute a scan to
        return
    try:
        choice = parse_arguments(context.args or [])
    except UsageError as exc:
        command_status(INVALID_ARGUMENT)
        await message.reply_text(usage(lang, exc.value))
        return

    task_id = str(uuid.uuid4())  # the slot names this id, so only this scan's worker releases it
    queued_text = translator(lang).gettext(
        "⏳ Scan of {game}/{level} queued. Progress and the result will appear in this message.",
        game=choice.game,
        level=choice.level,
    )
    try:
        # Every way out of this block gives the slot back unless the scan was queued, and leaves the reply true.
        async with (
            scan_slot(runtime.redis, user.id, task_id) as slot,
            pending_reply(message, queued_text, lang) as queued,
        ):
            call = ScanTask(
                user.id, queued.chat_id, queued.message_id, choice.game, choice.level, choice.method, language=lang
            )
            try:
                await runtime.producer.send(call, task_id=task_id)
            except QueueUnavailable as exc:
                command_status(UNAVAILABLE)
                await edit_quietly(queued, text("queue_unavailable", lang, event_id=exc.event_id or "-"))
                return
            slot.hand_over()
    except SlotTaken:
        command_status(ALREADY_RUNNING)
        await message.reply_text(
            translator(lang).gettext(
                "⏳ Your previous scan is still running. Wait for its result, then start a new one."
            )
        )
    except SlotUnavailable as exc:
        command_status(UNAVAILABLE)
        # Redis is the broker too: nothing could be queued anyway. One event, one clear answer.
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("component", "telegram")
            event_id = sentry_sdk.capture_exception(exc)
        log.warning("Scan slot unavailable for user %s: %r (Sentry event %s)", user.id, exc, event_id)
        await message.reply_text(text("queue_unavailable", lang, event_id=event_id or "-"))


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CommandHandler("arbitrage", arbitrage)]
