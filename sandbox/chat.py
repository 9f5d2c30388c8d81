"""``python -m sandbox.chat``: talk to the bot through the Telegram sandbox from a terminal.

What you type is posted as a Telegram user's message; the bot's replies, and its later edits and deletions,
are printed as they arrive. ``!press MESSAGE_ID DATA`` presses an inline button. ``--send TEXT`` sends one
message, prints the replies that arrive within ``--wait`` seconds and exits (for scripts).
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx

from sandbox.telegram.client import SandboxControlError, TelegramSandboxClient

DEFAULT_URL = "http://127.0.0.1:8994"
# The default user; scripts/run_local.py (make run) makes this id an admin when ADMIN_USER_IDS is not set.
DEFAULT_USER_ID = 1001
PROMPT = "you › "
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
_POLL_S = 2.0
_RESET = "\x1b[0m"
_STYLES = {
    "bold": "\x1b[1m",
    "italic": "\x1b[3m",
    "underline": "\x1b[4m",
    "strikethrough": "\x1b[9m",
    "spoiler": "\x1b[2m",
    "code": "\x1b[36m",
    "pre": "\x1b[36m",
    "text_link": "\x1b[4;34m",
    "blockquote": "\x1b[2m",
    "expandable_blockquote": "\x1b[2m",
}


def _utf16_index(text: str) -> dict[int, int]:
    """Map each UTF-16 offset (Telegram's unit) to the Python string index it falls on."""
    index, units = {}, 0
    for i, char in enumerate(text):
        index[units] = i
        units += 2 if ord(char) > 0xFFFF else 1
    index[units] = len(text)
    return index


def render(message: dict[str, Any], color: bool) -> str:
    """The message as a terminal shows it: entity styles as ANSI codes (if ``color``), links and buttons listed."""
    text, entities = message["text"], message["entities"] or []
    lines = [_styled(text, entities) if color else text]
    lines += [f"  ↳ {e['url']}" for e in entities if e["type"] == "text_link"]
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    for row in keyboard:
        lines.append("  " + "  ".join(_button(button) for button in row))
    return "\n".join(lines)


def _button(button: dict[str, Any]) -> str:
    if "callback_data" in button:
        return f"[{button['text']} ⟨{button['callback_data']}⟩]"
    if "url" in button:
        return f"[{button['text']} → {button['url']}]"
    return f"[{button['text']}]"


def _styled(text: str, entities: list[dict[str, Any]]) -> str:
    index = _utf16_index(text)
    active: list[set[str]] = [set() for _ in text]
    for entity in entities:
        style = _STYLES.get(entity["type"])
        start, end = index.get(entity["offset"]), index.get(entity["offset"] + entity["length"])
        if style is None or start is None or end is None:
            continue
        for i in range(start, end):
            active[i].add(style)
    out: list[str] = []
    previous: set[str] = set()
    for char, styles in zip(text, active, strict=True):
        if styles != previous:
            out.append(_RESET + "".join(sorted(styles)))
            previous = styles
        out.append(char)
    if previous:
        out.append(_RESET)
    return "".join(out)


@dataclass
class Transcript:
    """Turns successive snapshots of the chat into "new message / edited / deleted" lines, each printed once."""

    out: TextIO
    color: bool
    redraw_prompt: bool  # redraw the input prompt after each printed line (terminal chat)
    versions: dict[int, int] = field(default_factory=dict)  # message_id -> versions already shown
    deleted: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark_seen(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.versions[message["message_id"]] = len(message["history"]) + 1
            if message["deleted"]:
                self.deleted.add(message["message_id"])

    def show(self, messages: list[dict[str, Any]]) -> int:
        """Print what changed since the last call; return how many new bot messages appeared."""
        new = 0
        for message in messages:
            message_id, count = message["message_id"], len(message["history"]) + 1
            topic = f" [topic {message['message_thread_id']}]" if message.get("message_thread_id") else ""
            if message["deleted"] and message_id not in self.deleted:
                self.deleted.add(message_id)
                self._print(f"bot (deleted #{message_id})")
            elif message_id not in self.versions:
                new += 1
                self._print(f"bot #{message_id}{topic} › " + render(message, self.color))
            elif count > self.versions[message_id]:
                self._print(f"bot (edited #{message_id}){topic} › " + render(message, self.color))
            self.versions[message_id] = count
        return new

    def _print(self, text: str) -> None:
        with self.lock:
            if self.redraw_prompt:
                # Replace the prompt line, print, then show the prompt again for the person typing.
                self.out.write("\r\x1b[K" + text + "\n" + PROMPT)
            else:
                self.out.write(text + "\n")
            self.out.flush()


def _watch(
    client: TelegramSandboxClient, chat_id: int, transcript: Transcript, revision: int, stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            snapshot = client.chat_messages(chat_id, since_revision=revision, wait_s=_POLL_S)
        except httpx.HTTPError:
            if stop.wait(_POLL_S):
                return
            continue
        revision = snapshot["revision"]
        transcript.show(snapshot["messages"])


def _send_once(args: argparse.Namespace, client: TelegramSandboxClient, transcript: Transcript) -> int:
    snapshot = client.chat_messages(args.chat_id)
    transcript.mark_seen(snapshot["messages"])
    revision = snapshot["revision"]
    _post(client, args, args.send)
    deadline, replies = time.monotonic() + args.wait, 0
    while (remaining := deadline - time.monotonic()) > 0 and not (args.replies and replies >= args.replies):
        snapshot = client.chat_messages(args.chat_id, since_revision=revision, wait_s=min(remaining, _POLL_S))
        revision = snapshot["revision"]
        replies += transcript.show(snapshot["messages"])
    return 0 if replies else 1


def _post(client: TelegramSandboxClient, args: argparse.Namespace, text: str) -> None:
    client.send_message(
        args.chat_id,
        args.user_id,
        text,
        first_name=args.name,
        username=args.username,
        chat_type=args.chat_type,
        language_code=args.language,
        message_thread_id=args.thread_id,
    )


def _press(client: TelegramSandboxClient, args: argparse.Namespace, line: str, out: TextIO) -> None:
    parts = line.split(maxsplit=2)
    if len(parts) != 3 or not parts[1].isdigit():
        out.write("usage: !press MESSAGE_ID CALLBACK_DATA\n")
        return
    client.press_button(args.chat_id, args.user_id, int(parts[1]), parts[2], language_code=args.language)


def identity(args: argparse.Namespace, bot: str, chats: list[dict[str, Any]]) -> str:
    """Who this console speaks as, and where: printed at start so nobody wonders why a command is refused."""
    known = next((chat for chat in chats if chat["id"] == args.chat_id), None)
    if known is not None:
        where = f"chat {args.chat_id} ({known['type']}{', ' + repr(known['title']) if known.get('title') else ''})"
    else:
        where = f"chat {args.chat_id} ({args.chat_type or ('private' if args.chat_id > 0 else 'group')}, new)"
    if args.thread_id:
        where += f", topic {args.thread_id}"
    who = f"user {args.user_id} ({args.name}{', @' + args.username if args.username else ''})"
    if args.user_id == DEFAULT_USER_ID:
        who += " - an admin under make run unless ADMIN_USER_IDS is set"
    language = args.language or "en"
    return f"Sandbox {args.url}, bot @{bot}. Speaking as {who}, in {where}, language {language}."


def _interactive(args: argparse.Namespace, client: TelegramSandboxClient, transcript: Transcript, bot: str) -> int:
    snapshot = client.chat_messages(args.chat_id)
    transcript.mark_seen(snapshot["messages"])
    print(identity(args, bot, client.chats()))
    print("Type /start; !press MESSAGE_ID DATA presses a button; Ctrl-D or Ctrl-C quits.")
    stop = threading.Event()
    # The watcher gets its own client: one httpx.Client per thread keeps connection use simple.
    with TelegramSandboxClient(args.url) as watcher_client:
        watcher = threading.Thread(
            target=_watch, args=(watcher_client, args.chat_id, transcript, snapshot["revision"], stop), daemon=True
        )
        watcher.start()
        try:
            while True:
                line = input(PROMPT).strip()
                try:
                    if line.startswith("!press"):
                        _press(client, args, line, sys.stdout)
                    elif line:
                        _post(client, args, line)
                except SandboxControlError as err:
                    print(f"sandbox refused: {err}")
        except (EOFError, KeyboardInterrupt):
            print()
        finally:
            stop.set()
            watcher.join(_POLL_S + 1)
    return 0


def sandbox_url(value: str) -> str:
    """``--url``: the sandbox's root URL; ``host:port`` gets ``http://``, a trailing ``/`` or ``/bot`` is dropped."""
    url = value.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected the sandbox's http(s) URL, e.g. {DEFAULT_URL}; got {value!r}")
    path = parts.path.rstrip("/")
    # Accept TELEGRAM_API_BASE_URL-style values that already end in /bot.
    path = path.removesuffix("/bot")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _language(value: str) -> str:
    if not _LANGUAGE_RE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"expected a language code such as ru or en, got {value!r}")
    return value.lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.chat",
        description="Chat with the bot through the local Telegram sandbox, as a Telegram user. By default you are "
        f"user {DEFAULT_USER_ID} in your private chat with the bot; make run makes user {DEFAULT_USER_ID} an admin "
        "unless ADMIN_USER_IDS is set.",
    )
    parser.add_argument(
        "--url",
        type=sandbox_url,
        default=DEFAULT_URL,
        help="Telegram sandbox URL, as make run prints it (default: %(default)s)",
    )
    parser.add_argument("--chat-id", type=int, default=DEFAULT_USER_ID, help="chat to write in (default: %(default)s)")
    parser.add_argument("--user-id", type=int, help="user you appear as (default: the chat id, or 1001 in groups)")
    parser.add_argument("--name", default="Operator", help="your first name (default: %(default)s)")
    parser.add_argument("--username", help="your @username, without the @")
    parser.add_argument(
        "--language",
        type=_language,
        metavar="ru|en",
        help="your Telegram app language, sent as from.language_code (default: en)",
    )
    parser.add_argument(
        "--chat-type",
        choices=["private", "group", "supergroup"],
        help="default: the registered chat's type, else private for positive ids and group for negative ones",
    )
    parser.add_argument("--thread-id", type=int, help="write in this forum topic (message_thread_id)")
    parser.add_argument("--send", metavar="TEXT", help="send TEXT, print the replies within --wait seconds, exit")
    parser.add_argument(
        "--wait", type=float, default=5.0, help="seconds to wait for replies with --send (default: %(default)s)"
    )
    parser.add_argument("--replies", type=int, default=0, help="with --send, exit as soon as this many replies arrived")
    parser.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.user_id is None:
        # In a private chat the user is the chat; in a group, the default user writes.
        args.user_id = args.chat_id if args.chat_id > 0 else DEFAULT_USER_ID
    color = not args.no_color and sys.stdout.isatty()
    with TelegramSandboxClient(args.url) as client:
        try:
            bot = client.config()["bot"]["username"]
            # Redrawing the prompt around arriving replies only makes sense on a terminal.
            redraw = args.send is None and sys.stdout.isatty()
            transcript = Transcript(sys.stdout, color, redraw_prompt=redraw)
            if args.send is not None:
                # stdout carries only the replies, for scripts; who is speaking goes to stderr.
                print(identity(args, bot, client.chats()), file=sys.stderr)
                return _send_once(args, client, transcript)
            return _interactive(args, client, transcript, bot)
        except httpx.TransportError as err:
            hint = "start one with python -m sandbox.telegram"
            print(f"error: no Telegram sandbox reachable at {args.url} ({err}); {hint}", file=sys.stderr)
            return 2
        except SandboxControlError as err:
            print(f"error: the sandbox refused the request: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    raise SystemExit(main())
