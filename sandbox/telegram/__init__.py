"""A local Telegram Bot API: python-telegram-bot and raw HTTP callers cannot tell it from the real one.

``python -m sandbox.telegram`` serves it; :func:`build_app` gives the ASGI app for tests;
:class:`TelegramSandboxClient` drives the control API. See docs/sandbox-telegram.md.
"""

from sandbox.telegram.app import DEFAULT_BOT_USERNAME, DEFAULT_TOKEN, TelegramSandboxSettings, build_app
from sandbox.telegram.client import TelegramSandboxClient
from sandbox.telegram.state import ChatSpec

__all__ = [
    "DEFAULT_BOT_USERNAME",
    "DEFAULT_TOKEN",
    "ChatSpec",
    "TelegramSandboxClient",
    "TelegramSandboxSettings",
    "build_app",
]
