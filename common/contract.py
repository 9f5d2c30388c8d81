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
QUEUES = ("scans", "sentry", "maintenance", "default", "alerts")
INTERACTIVE_QUEUES = ("scans", "sentry", "default", "alerts")
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


# How a scan values offers (ScanTask.method): the default first.
SCAN_METHODS = ("valuation", "suggested")


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


def _check_reply_to(task: str, reply_to: object) -> None:
    _check_type(task, "reply_to", reply_to, str)
    assert isinstance(reply_to, str)
    if not reply_to.startswith(REPLY_KEY_PREFIX):
        raise ContractError(f"{task}: reply_to must start with {REPLY_KEY_PREFIX!r}, got {reply_to!r}")


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
    # How to value an offer: "valuation" (buy orders and recent sales) or "suggested" (DMarket's estimate,
    # only when the user asks for it by name; labelled as such in the result).
    method: str = "valuation"
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
        if self.method not in SCAN_METHODS:
            raise ContractError(f"{self.NAME}: method must be one of {', '.join(SCAN_METHODS)}, got {self.method!r}")


@dataclass(frozen=True)
class SentryStatusTask(TaskCall):
    """/sentry_info: a worker pushes its Sentry status (JSON) onto the Redis list ``reply_to``."""

    NAME: ClassVar[str] = "selftest.status"
    QUEUE: ClassVar[str] = "sentry"

    reply_to: str

    def __post_init__(self) -> None:
        _check_reply_to(self.NAME, self.reply_to)


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


# Sentry alerts (docs/alerts.md) -----------------------------------------------------------------------

ALERT_RESOURCES = ("event_alert", "issue", "metric_alert")
ALERT_LEVELS = ("fatal", "error", "warning", "info", "debug")
# The buttons on an alert page: "alert:<action>:<page key>", always far below Telegram's 64 bytes.
ALERT_CALLBACK_PREFIX = "alert:"
ALERT_ACTIONS = ("resolve", "archive", "mute")
ALERT_PAGE_KEY_LEN = 12
_PAGE_KEY_CHARS = frozenset("0123456789abcdef")


def alert_callback_data(action: str, page_key: str) -> str:
    """The ``callback_data`` of one alert button (at most 29 bytes)."""
    return f"{ALERT_CALLBACK_PREFIX}{action}:{page_key}"


def parse_alert_callback(data: str) -> tuple[str, str] | None:
    """(action, page key) of an alert button's ``callback_data``, or None when it is not one of ours."""
    if not data.startswith(ALERT_CALLBACK_PREFIX):
        return None
    action, _, key = data[len(ALERT_CALLBACK_PREFIX) :].partition(":")
    if action not in ALERT_ACTIONS or len(key) != ALERT_PAGE_KEY_LEN or not set(key) <= _PAGE_KEY_CHARS:
        return None
    return action, key


@dataclass(frozen=True)
class AlertTask(TaskCall):
    """One verified Sentry webhook, normalized: the router pages, counts or edits (worker/alerts/).

    Built by the bot's receiver from any of the three resources (common/sentry_webhooks.py), so the router
    never sees Sentry's shapes. ``issue_id`` is None only for metric alerts. ``level`` is Sentry's level
    (metric alerts: ``fatal`` for critical, ``warning`` for warning, ``info`` for resolved).
    """

    NAME: ClassVar[str] = "alerts.route"
    QUEUE: ClassVar[str] = "alerts"

    request_id: str
    resource: str
    action: str
    title: str
    level: str
    received_at_s: float
    issue_id: str | None = None
    short_id: str | None = None
    culprit: str | None = None
    environment: str | None = None
    release: str | None = None
    component: str | None = None
    exception_type: str | None = None
    count: int | None = None
    user_count: int | None = None
    rule: str | None = None
    url: str | None = None
    actor: str | None = None
    test: bool = False

    def __post_init__(self) -> None:
        for name in ("request_id", "resource", "action", "title", "level"):
            _check_type(self.NAME, name, getattr(self, name), str)
        _check_type(self.NAME, "received_at_s", self.received_at_s, (int, float))
        for name in ("issue_id", "short_id", "culprit", "environment", "release", "component", "exception_type"):
            _check_type(self.NAME, name, getattr(self, name), (str, type(None)))
        for name in ("rule", "url", "actor"):
            _check_type(self.NAME, name, getattr(self, name), (str, type(None)))
        for name in ("count", "user_count"):
            _check_type(self.NAME, name, getattr(self, name), (int, type(None)))
        _check_type(self.NAME, "test", self.test, bool)
        if self.resource not in ALERT_RESOURCES:
            raise ContractError(f"{self.NAME}: resource must be one of {list(ALERT_RESOURCES)}, got {self.resource!r}")
        if self.level not in ALERT_LEVELS:
            raise ContractError(f"{self.NAME}: level must be one of {list(ALERT_LEVELS)}, got {self.level!r}")
        if self.resource != "metric_alert" and not (self.issue_id or "").isdigit():
            raise ContractError(f"{self.NAME}: issue_id must be a decimal string for {self.resource}")


@dataclass(frozen=True)
class AlertDigestTask(TaskCall):
    """Beat, every 30 minutes: one digest of the tier-2 counters that are over their thresholds."""

    NAME: ClassVar[str] = "alerts.digest"
    QUEUE: ClassVar[str] = "alerts"


@dataclass(frozen=True)
class AlertActionTask(TaskCall):
    """An admin pressed Resolve, Archive or Mute on the alert page ``page_key``; the worker acts, edits the page
    and answers the button press (``callback_query_id``) with the outcome."""

    NAME: ClassVar[str] = "alerts.action"
    QUEUE: ClassVar[str] = "alerts"

    action: str
    page_key: str
    user_id: int
    user_name: str
    chat_id: int
    message_id: int
    callback_query_id: str

    def __post_init__(self) -> None:
        for name in ("user_id", "chat_id", "message_id"):
            _check_type(self.NAME, name, getattr(self, name), int)
        _check_type(self.NAME, "user_name", self.user_name, str)
        _check_type(self.NAME, "callback_query_id", self.callback_query_id, str)
        if parse_alert_callback(alert_callback_data(self.action, self.page_key)) is None:
            raise ContractError(
                f"{self.NAME}: action must be one of {list(ALERT_ACTIONS)} and page_key "
                f"{ALERT_PAGE_KEY_LEN} hex digits, got {self.action!r}, {self.page_key!r}"
            )


WATCH_ACTIONS = ("add", "list", "remove")
# The most a /watch threshold may ask: 1000 % is a typo, not a strategy.
MAX_WATCH_PROFIT_BP = 100_000


@dataclass(frozen=True)
class WatchCommandTask(TaskCall):
    """/watch, /unwatch: change or list ``user_id``'s subscriptions; the worker edits ``message_id`` with the answer.

    ``add``: ``game``/``level`` with ``min_profit_bp`` (None: the level's default); ``remove``: ``index`` (1-based,
    as /watch lists them); ``list``: nothing else.
    """

    NAME: ClassVar[str] = "watch.command"
    QUEUE: ClassVar[str] = "default"

    user_id: int
    chat_id: int
    message_id: int | None
    action: str
    game: str | None = None
    level: str | None = None
    min_profit_bp: int | None = None
    index: int | None = None

    def __post_init__(self) -> None:
        for name in ("user_id", "chat_id"):
            _check_type(self.NAME, name, getattr(self, name), int)
        for name in ("message_id", "min_profit_bp", "index"):
            _check_type(self.NAME, name, getattr(self, name), (int, type(None)))
        if self.action not in WATCH_ACTIONS:
            raise ContractError(f"{self.NAME}: action must be one of {', '.join(WATCH_ACTIONS)}, got {self.action!r}")
        if self.action == "add" and (self.game not in GAME_IDS or self.level not in LEVELS):
            raise ContractError(f"{self.NAME}: add needs a known game and level, got {self.game!r}/{self.level!r}")
        if self.min_profit_bp is not None and not 0 <= self.min_profit_bp <= MAX_WATCH_PROFIT_BP:
            raise ContractError(
                f"{self.NAME}: min_profit_bp must be 0..{MAX_WATCH_PROFIT_BP}, got {self.min_profit_bp}"
            )
        if self.action == "remove" and (self.index is None or self.index < 1):
            raise ContractError(f"{self.NAME}: remove needs an index >= 1, got {self.index!r}")


@dataclass(frozen=True)
class WatchSweepTask(TaskCall):
    """Beat, every minute: queue a band sweep for every (game, level) with subscribers whose period is due."""

    NAME: ClassVar[str] = "watch.sweep"
    QUEUE: ClassVar[str] = "default"


@dataclass(frozen=True)
class WatchBandTask(TaskCall):
    """Sweep one band once in period ``period`` (minutes since the epoch // WATCH_PERIOD_MIN) for its subscribers."""

    NAME: ClassVar[str] = "watch.sweep_band"
    QUEUE: ClassVar[str] = "maintenance"

    game: str
    level: str
    period: int

    def __post_init__(self) -> None:
        if self.game not in GAME_IDS or self.level not in LEVELS:
            raise ContractError(f"{self.NAME}: unknown band {self.game!r}/{self.level!r}")
        _check_type(self.NAME, "period", self.period, int)


@dataclass(frozen=True)
class OpsStatusTask(TaskCall):
    """/status: a worker pushes what only workers can see (workers, running tasks, recent runs) onto ``reply_to``."""

    NAME: ClassVar[str] = "ops.status"
    QUEUE: ClassVar[str] = "default"

    reply_to: str

    def __post_init__(self) -> None:
        _check_reply_to(self.NAME, self.reply_to)


# Every task the bot or beat sends, so routing is decided in one place.
TASK_CALLS: tuple[type[TaskCall], ...] = (
    ScanTask,
    SentryStatusTask,
    SelfTestTask,
    CleanupTask,
    UpkeepTask,
    AlertTask,
    AlertDigestTask,
    AlertActionTask,
    WatchCommandTask,
    WatchSweepTask,
    WatchBandTask,
    OpsStatusTask,
)
ROUTES: dict[str, str] = {call.NAME: call.QUEUE for call in TASK_CALLS}
