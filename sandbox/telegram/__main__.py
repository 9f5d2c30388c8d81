"""``python -m sandbox.telegram``: serve the Telegram Bot API sandbox in the foreground."""

from __future__ import annotations

import argparse
import re

from starlette.types import ASGIApp

from sandbox.server import cli_main
from sandbox.telegram.app import (
    DEFAULT_BOT_NAME,
    DEFAULT_BOT_USERNAME,
    DEFAULT_TOKEN,
    TelegramSandboxSettings,
    build_app,
)
from sandbox.telegram.state import ChatSpec

DEFAULT_PORT = 8994
_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")


def _token(value: str) -> str:
    if not _TOKEN_RE.fullmatch(value):
        raise argparse.ArgumentTypeError("a bot token looks like <digits>:<35 characters of A-Za-z0-9_->")
    return value


def _chat(value: str) -> ChatSpec:
    try:
        return ChatSpec.parse(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected CHAT_ID[:TYPE[:TITLE]], e.g. -1001234:supergroup:Admins") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token",
        action="append",
        type=_token,
        help=f"accepted bot token; repeat to accept several (default: {DEFAULT_TOKEN}). "
        "The bot id is the first token's digits.",
    )
    parser.add_argument("--bot-username", default=DEFAULT_BOT_USERNAME, help="getMe username (default: %(default)s)")
    parser.add_argument("--bot-name", default=DEFAULT_BOT_NAME, help="getMe first_name (default: %(default)s)")
    parser.add_argument(
        "--chat",
        action="append",
        type=_chat,
        default=[],
        metavar="ID[:TYPE[:TITLE]]",
        help="pre-register a chat the bot may write to before anyone writes to it (e.g. the admin chat); repeatable",
    )


def build(args: argparse.Namespace) -> ASGIApp:
    settings = TelegramSandboxSettings(
        tokens=tuple(args.token or [DEFAULT_TOKEN]),
        bot_username=args.bot_username,
        bot_name=args.bot_name,
        chats=tuple(args.chat),
    )
    return build_app(settings)


def main(argv: list[str] | None = None) -> int:
    return cli_main("telegram", DEFAULT_PORT, build, add_arguments, argv)


if __name__ == "__main__":
    raise SystemExit(main())
