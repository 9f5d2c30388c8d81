"""The bot↔worker contract: every task that crosses a process boundary, its queue and its argument shape.

The bot (and beat) send these by name; the worker's tasks accept exactly these keyword arguments. Both sides
import this module and nothing else of each other, so the shapes cannot drift apart. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Self

from common.i18n import LANGUAGES, Language
from common.markets import GAME_IDS, LEVELS

# Queues by kind of work (DESIGN.md §4). Interactive work (scans, self-tests) never waits behind
# maintenance: `make run` and compose give each family its own worker pool.
QUEUES = ("scans", "sentry", "maintenance", "default")
INTERACTIVE_QUEUES = ("scans", "sentry", "default")
MAINTENANCE_QUEUES = ("maintenance",)

# /test_sentry's tests, in the order `all` runs them.
TEST_TYPES = ("breadcrumbs", "error", "api_error", "division")
ALL_TESTS = "all"

# The preview's inline button carries this prefix and the command arguments (callback_data <= 64 bytes).
CLEANUP_RUN_CALLBACK_PREFIX = "cleanup:run:"
# A delete run asks first: these buttons answer the question.
CLEANUP_CONFIRM_CALLBACK_PREFIX = "cleanup:yes:"
CLEANUP_CANCEL_CALLBACK = "cleanup:no"
# The largest --old (and `/cleanup old N`) accepted: ten years. Beyond it the number is a typo.
MAX_OLD_DAYS = 3650
# Where the worker answers a SentryStatusTask: the bot waits on this list with BLPOP, so no result backend
# (and no SUBSCRIBE per send) is needed for the one command that waits for a worker.
REPLY_KEY_PREFIX = "reply:"
REPLY_TTL_S = 60


def abandoned_key(task_id: str) -> str:
    """Set by the bot when it told the user a send failed: a worker that still receives the task drops it."""
    return f"task:abandoned:{task_id}"


class ContractError(ValueError):
    """A task's arguments do not have the contract's shape; the message says which and what is expected."""


def _check_type(task: str, name: str, value: object, expected: type | tuple[type, ...]) -> None:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    # bool is an int to Python, never to this contract.
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        wanted = " or ".join("null" if kind is type(None) else kind.__name__ for kind in allowed)
        raise ContractError(f"{task}: {name} must be {wanted}, got {value!r}")


def _check_language(task: str, language: object) -> None:
    if language is not None and language not in LANGUAGES:
        raise ContractError(f"{task}: language must be one of {', '.join(LANGUAGES)} or null, got {language!r}")


@dataclass(frozen=True)
class TaskCall:
    """One task invocation as plain JSON values: ``NAME`` on ``QUEUE`` with :meth:`kwargs`."""

    NAME: ClassVar[str]
    QUEUE: ClassVar[str]

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments to send (tuples become lists, as JSON would make them anyway)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Self:
        """The call a worker received; ContractError if a name is missing, unknown or of the wrong type."""
        names = {field.name for field in fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ContractError(f"{cls.NAME}: unexpected arguments {unknown}, expected {sorted(names)}")
        try:
            call = cls(**{key: tuple(v) if isinstance(v, list) else v for key, v in kwargs.items()})
        except TypeError as exc:
            raise ContractError(f"{cls.NAME}: {exc}") from None
        return call


@dataclass(frozen=True)
class ScanTask(TaskCall):
    """/arbitrage: scan ``game``/``level`` for ``user_id`` and edit the bot's "queued" message with the result."""

    NAME: ClassVar[str] = "arbitrage.scan"
    QUEUE: ClassVar[str] = "scans"

    user_id: int
    chat_id: int
    message_id: int | None
    game: str
    level: str
    language: Language | None = None  # the language of the bot's "queued" reply; None: BOT_LANGUAGE

    def __post_init__(self) -> None:
        _check_language(self.NAME, self.language)
        _check_type(self.NAME, "user_id", self.user_id, int)
        _check_type(self.NAME, "chat_id", self.chat_id, int)
        _check_type(self.NAME, "message_id", self.message_id, (int, type(None)))
        if self.game not in GAME_IDS:
            raise ContractError(f"{self.NAME}: unknown game {self.game!r}, expected one of {', '.join(GAME_IDS)}")
        if self.level not in LEVELS:
            raise ContractError(f"{self.NAME}: unknown level {self.level!r}, expected one of {', '.join(LEVELS)}")


@dataclass(frozen=True)
class SentryStatusTask(TaskCall):
    """/sentry_info: a worker pushes its Sentry status (JSON) onto the Redis list ``reply_to``."""

    NAME: ClassVar[str] = "selftest.status"
    QUEUE: ClassVar[str] = "sentry"

    reply_to: str

    def __post_init__(self) -> None:
        _check_type(self.NAME, "reply_to", self.reply_to, str)
        if not self.reply_to.startswith(REPLY_KEY_PREFIX):
            raise ContractError(f"{self.NAME}: reply_to must start with {REPLY_KEY_PREFIX!r}, got {self.reply_to!r}")


@dataclass(frozen=True)
class SelfTestTask(TaskCall):
    """/test_sentry: send ``tests``' events and edit the bot's "queued" message with their ids."""

    NAME: ClassVar[str] = "selftest.run_tests"
    QUEUE: ClassVar[str] = "sentry"

    tests: tuple[str, ...]
    user_id: int
    chat_id: int
    message_id: int
    language: Language | None = None  # the language of the bot's "queued" reply; None: BOT_LANGUAGE

    def __post_init__(self) -> None:
        _check_language(self.NAME, self.language)
        for name in ("user_id", "chat_id", "message_id"):
            _check_type(self.NAME, name, getattr(self, name), int)
        unknown = [test for test in self.tests if test not in TEST_TYPES]
        if not self.tests or unknown:
            raise ContractError(f"{self.NAME}: tests must be some of {list(TEST_TYPES)}, got {list(self.tests)}")


@dataclass(frozen=True)
class CleanupTask(TaskCall):
    """The Sentry cleanup (beat weekly/monthly, the bot's /cleanup); ``chat_id``/``message_id``: the message to edit."""

    NAME: ClassVar[str] = "cleanup.run"
    QUEUE: ClassVar[str] = "maintenance"

    test_only: bool = False
    older_than_days: int | None = None
    delete: bool = False
    execute: bool = False
    environment: str | None = None
    max_actions: int | None = None
    trigger: str = "beat"
    chat_id: int | None = None
    message_id: int | None = None
    bot_args: str = ""
    language: Language | None = None  # the language of the bot's "queued" reply; None: BOT_LANGUAGE

    def __post_init__(self) -> None:
        _check_language(self.NAME, self.language)
        for name in ("test_only", "delete", "execute"):
            _check_type(self.NAME, name, getattr(self, name), bool)
        for name in ("older_than_days", "max_actions", "chat_id", "message_id"):
            _check_type(self.NAME, name, getattr(self, name), (int, type(None)))
        _check_type(self.NAME, "environment", self.environment, (str, type(None)))
        if self.trigger not in ("beat", "bot", "cli"):
            raise ContractError(f"{self.NAME}: trigger must be beat, bot or cli, got {self.trigger!r}")


@dataclass(frozen=True)
class UpkeepTask(TaskCall):
    """Beat, every minute: deliver what the Telegram outbox holds, end abandoned scans. No arguments."""

    NAME: ClassVar[str] = "upkeep.run"
    QUEUE: ClassVar[str] = "default"


# Every task the bot or beat sends, so routing is decided in one place.
TASK_CALLS: tuple[type[TaskCall], ...] = (ScanTask, SentryStatusTask, SelfTestTask, CleanupTask, UpkeepTask)
ROUTES: dict[str, str] = {call.NAME: call.QUEUE for call in TASK_CALLS}
