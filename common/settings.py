"""The one settings object, read from the environment and `.env`, validated at start-up."""

from __future__ import annotations

import functools
import os
import re
import sys
import zoneinfo
from decimal import Decimal, InvalidOperation
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from common.markets import LEVELS, SALES_RULES, SalesRule, canonical_game, game_names

# The checkout (or the image's /app): relative paths in settings mean paths in here, whatever the current
# directory, so `python scripts/sentry_cleanup.py` run from elsewhere uses the same database as the bot.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "sqlite:///var/app.sqlite3"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The project's .env, then one in the current directory (when that is another one): later files win.
# ENV_FILE=/path/to/file reads that file instead (one file; an empty file reads nothing).
ENV_FILES = (PROJECT_ROOT / ".env", Path(".env"))
ENV_FILE_VARIABLE = "ENV_FILE"

# What the local sandboxes accept (sandbox/*): fine for `make run`, never for production. Kept here as plain
# values because the production image does not ship the sandbox package; tests check they match it.
SANDBOX_CREDENTIALS = {
    # Joined, so no scanner for leaked tokens takes the demo value for a real one.
    "TELEGRAM_BOT_TOKEN": "123456789:" + "SANDBOX-token-not-real-000000000000",
    "DMARKET_PUBLIC_KEY": "b021f3b549a31f74333abc8f0da89fa12a99de169b1f674803e715107a86ccbd",
    "SENTRY_AUTH_TOKEN": "sandbox-token",
}

_TELEGRAM_TOKEN_RE = re.compile(r"^\d{5,12}:[A-Za-z0-9_-]{30,}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_REDIS_SCHEMES = {"redis", "rediss", "redis+socket", "unix", "sentinel"}
_DATABASE_DRIVERS = {"sqlite", "postgresql"}


class ConfigError(Exception):
    """Settings are invalid; the message names each variable and the expected form."""


def _package_version() -> str:
    try:
        return version("dmarket-bot-workers")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def _require_http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL such as https://host[:port], got {value!r}")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Every knob of every process. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILES,
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
        # `SENTRY_DSN=` in a copied .env.example means "not set", not "set to the empty string".
        env_ignore_empty=True,
    )

    # Sentry (names from the operators' guide)
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "development"
    sentry_traces_sample_rate: float = 1.0
    sentry_release: str = Field(default_factory=lambda: f"dmarket-bot-workers@{_package_version()}")
    sentry_auth_token: SecretStr | None = None
    sentry_organization: str | None = None
    sentry_project: str | None = None
    sentry_api_url: str = "https://sentry.io"
    sentry_webhook_secret: SecretStr | None = None
    sentry_debug: bool = False

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    admin_chat_id: int | None = None
    admin_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    bot_language: Literal["ru", "en"] = "ru"
    bot_webhook_host: str = "127.0.0.1"
    bot_webhook_port: int = Field(default=8080, ge=1, le=65535)
    # Updates handled at once (per chat, still one at a time and in order): bot/updates.py.
    bot_max_concurrent_updates: int = Field(default=32, ge=1, le=1024)

    # DMarket
    dmarket_public_key: SecretStr | None = None
    dmarket_secret_key: SecretStr | None = None
    dmarket_api_url: str = "https://api.dmarket.com"

    # Arbitrage
    # Requests/second to DMarket's market items endpoint, shared by every worker process and host.
    dmarket_rate_limit_rps: float = Field(default=10.0, gt=0, le=1000)
    dmarket_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Attempts per DMarket request (the first try included) before a 429/5xx/timeout fails the scan.
    dmarket_max_attempts: int = Field(default=5, ge=1, le=20)
    arbitrage_fee_percent: Decimal = Decimal(7)
    arbitrage_game_fees: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)
    arbitrage_min_profit: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)
    arbitrage_max_pages: int = Field(default=50, ge=1, le=1000)

    # Sentry cleanup
    # How long an acting cleanup's Redis lock lives without a refresh (it is refreshed before every call).
    sentry_cleanup_lock_ttl_s: int = Field(default=600, ge=30, le=86_400)
    # Environments whose non-test issues are never touched (DESIGN.md §6), comma-separated.
    sentry_cleanup_production_environments: Annotated[frozenset[str], NoDecode] = frozenset({"production"})

    @field_validator("sentry_cleanup_production_environments", mode="before")
    @classmethod
    def _split_production_environments(cls, value: object) -> object:
        if isinstance(value, str):
            names = frozenset(item.strip() for item in value.split(",") if item.strip())
            if not names:
                raise ValueError("must name at least one environment, e.g. production or production,prod")
            return names
        return value

    # Infrastructure
    redis_url: str = DEFAULT_REDIS_URL
    database_url: str = DEFAULT_DATABASE_URL
    flower_basic_auth: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Celery beat: the IANA time zone the crontab fields of beat_schedule.py are read in; Sentry Crons monitors
    # carry the same zone, so Sentry expects each check-in at the time beat really sends the task.
    celery_timezone: str = "UTC"

    @field_validator("celery_timezone", mode="before")
    @classmethod
    def _check_timezone(cls, value: object) -> object:
        return None if value is None else iana_zone(str(value))

    # Languages (docs/i18n.md)
    # true: answer each user in their Telegram app's language when it is ru or en; BOT_LANGUAGE for the rest.
    bot_language_from_user: bool = False

    @field_validator("sentry_dsn", mode="before")
    @classmethod
    def _check_dsn(cls, value: object) -> object:
        if value in (None, ""):
            return None
        text = str(value.get_secret_value() if isinstance(value, SecretStr) else value).strip()
        parts = urlsplit(text)
        project = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if parts.scheme not in {"http", "https"} or not parts.username or not parts.hostname or not project.isdigit():
            raise ValueError("must look like https://KEY@oXXXX.ingest.sentry.io/PROJECT (PROJECT is a number)")
        return text

    @field_validator("sentry_traces_sample_rate")
    @classmethod
    def _check_rate(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"must be a number from 0 to 1 (0.1 means 10% of transactions), got {value}")
        return value

    @field_validator("sentry_environment")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        # Sentry refuses environment names with slashes or newlines, and caps them at 64 characters.
        if not value or len(value) > 64 or "/" in value or not value.isprintable():
            raise ValueError("must be 1-64 printable characters without '/', e.g. production or staging")
        return value

    @field_validator("sentry_api_url", "telegram_api_base_url", "dmarket_api_url")
    @classmethod
    def _check_http_url(cls, value: str) -> str:
        return _require_http_url("the value", value)

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _check_bot_token(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not _TELEGRAM_TOKEN_RE.match(str(value)):
            raise ValueError(
                "must be the token from @BotFather, in the form 123456789:AAH... (digits, colon, 35 characters)"
            )
        return value

    @field_validator("dmarket_public_key", mode="before")
    @classmethod
    def _check_public_key(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if len(str(value)) != 64 or not _HEX_RE.match(str(value)):
            raise ValueError("must be the 64-character hex public key from DMarket's API settings")
        return value

    @field_validator("dmarket_secret_key", mode="before")
    @classmethod
    def _check_secret_key(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if len(str(value)) not in (64, 128) or not _HEX_RE.match(str(value)):
            raise ValueError("must be a hex Ed25519 key: 64 characters (seed) or 128 characters (seed + public key)")
        return value

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",") if item.strip()]
            if not all(re.fullmatch(r"-?\d+", item) for item in items):
                raise ValueError(f"must be comma-separated Telegram user ids, e.g. 123456789,987654321, got {value!r}")
            return frozenset(int(item) for item in items)
        return value

    @field_validator("admin_chat_id", mode="before")
    @classmethod
    def _empty_chat_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in _REDIS_SCHEMES:
            raise ValueError(
                "must be a Redis URL: redis://[:password@]host:port/db, rediss://... or redis+socket:///path/to/redis.sock"
                ", or Sentinels: sentinel://host:26379/0;sentinel://host2:26379/0 (with REDIS_SENTINEL_MASTER)"
            )
        if urlsplit(value).scheme == "sentinel":
            from common.redis_client import parse_sentinel_url

            parse_sentinel_url(value)  # ValueError names the part that is wrong
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(
                f"must be a SQLAlchemy URL such as {DEFAULT_DATABASE_URL} or postgresql+psycopg://user@host/db"
            ) from exc
        if url.get_backend_name() not in _DATABASE_DRIVERS:
            raise ValueError(f"must use sqlite or postgresql, got {url.get_backend_name()!r}")
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            # Plain postgresql:// would pick psycopg2, which we do not ship; psycopg 3 is the driver we install.
            value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not Path(database).is_absolute():
            value = url.set(database=str(PROJECT_ROOT / database)).render_as_string(hide_password=False)
        return value

    @field_validator("flower_basic_auth", mode="before")
    @classmethod
    def _check_basic_auth(cls, value: object) -> object:
        if value in (None, ""):
            return None
        pairs = str(value).split(",")
        if not all(":" in pair and pair.split(":", 1)[0] and pair.split(":", 1)[1] for pair in pairs):
            raise ValueError("must be user:password (several separated by commas)")
        return value

    @field_validator("arbitrage_fee_percent", mode="before")
    @classmethod
    def _check_fee(cls, value: object) -> Decimal:
        return _percent(value, "a fee percentage from 0 to 99.99, e.g. 7 or 7.5")

    @field_validator("arbitrage_game_fees", mode="before")
    @classmethod
    def _check_game_fees(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        fees = {}
        for name, percent in _pairs(value, "game=percent pairs such as dota2=10,tf2=10").items():
            game = canonical_game(name)
            if game is None:
                raise ValueError(f"unknown game {name!r}: expected one of {', '.join(game_names())}")
            fees[game] = _percent(percent, f"a fee percentage for {name} from 0 to 99.99")
        return fees

    @field_validator("arbitrage_min_profit", mode="before")
    @classmethod
    def _check_min_profit(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        thresholds = {}
        for name, percent in _pairs(value, "level=percent pairs such as boost=12,pro=2.5").items():
            if name.lower() not in LEVELS:
                raise ValueError(f"unknown level {name!r}: expected one of {', '.join(LEVELS)}")
            thresholds[name.lower()] = _percent(percent, f"a minimum profit percentage for {name} from 0 to 99.99")
        return thresholds

    @model_validator(mode="after")
    def _no_sandbox_credentials_in_production(self) -> Settings:
        if not self.is_production:
            return self
        configured = {
            "TELEGRAM_BOT_TOKEN": self.telegram_bot_token,
            "DMARKET_PUBLIC_KEY": self.dmarket_public_key,
            "SENTRY_AUTH_TOKEN": self.sentry_auth_token,
        }
        used = [
            name
            for name, value in configured.items()
            if value is not None and value.get_secret_value().lower() == SANDBOX_CREDENTIALS[name].lower()
        ]
        if used:
            raise ValueError(
                f"{', '.join(used)}: the local sandbox's demo credentials cannot be used with "
                "SENTRY_ENVIRONMENT=production; set the real ones"
            )
        return self

    # Derived views -------------------------------------------------------------------------------

    @property
    def sentry_enabled(self) -> bool:
        return self.sentry_dsn is not None

    @property
    def is_production(self) -> bool:
        # Sentry environment names are case-sensitive, but "Production" is production to every operator.
        return self.sentry_environment.lower() == "production"

    def arbitrage_fee_bp(self, game: str) -> int:
        """DMarket's sale fee for ``game`` (a canonical name) in basis points: the override or the default."""
        return _to_bp(self.arbitrage_game_fees.get(game, self.arbitrage_fee_percent))

    def arbitrage_min_profit_bp(self, level: str) -> int:
        """The least profit (bp of the buy price) worth reporting at ``level``: the override or the default."""
        override = self.arbitrage_min_profit.get(level)
        return LEVELS[level].min_profit_bp if override is None else _to_bp(override)

    def secret_values(self) -> list[str]:
        """Every configured secret, for the scrubbers that keep them out of logs and events."""
        secrets = [
            self.sentry_auth_token,
            self.sentry_webhook_secret,
            self.telegram_bot_token,
            self.dmarket_secret_key,
            self.flower_basic_auth,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None]
        # The DMarket secret key may arrive as a 64-char seed whose 128-char form (seed + public) is also secret.
        if self.dmarket_secret_key is not None:
            values.append(self.dmarket_secret_key.get_secret_value()[:64])
        # The public key is not a secret to DMarket, but it names the trading account: never in logs or events.
        if self.dmarket_public_key is not None:
            public = self.dmarket_public_key.get_secret_value()
            values += [public, public.lower()]
        if self.sentry_dsn is not None:
            username = urlsplit(self.sentry_dsn.get_secret_value()).username
            if username:
                values.append(username)
        # Connection URLs are plain strings (they name hosts operators need to see), but their passwords are not.
        for url in (self.database_url, self.redis_url):
            password = urlsplit(url).password
            if password:
                values.append(password)
        # Short values would redact innocent text everywhere (a password "test" vs the tag test=true); the
        # patterns in scrubbing.py still catch short passwords inside URLs and conninfo strings.
        return [v for v in values if len(v) >= 8]

    # Sentry alerts (docs/alerts.md): the webhook receiver and the router
    # Largest webhook body accepted (413 beyond it); Sentry's own payloads are a few KB.
    sentry_webhook_max_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # How far Sentry-Hook-Timestamp may be from the bot's clock, either way; also how long Request-IDs are kept.
    sentry_webhook_tolerance_s: int = Field(default=300, ge=10, le=3600)
    # One page per Sentry issue within this window; repeats update its counter.
    alert_dedupe_window_s: int = Field(default=1800, ge=60, le=7 * 86_400)
    # Where pages and digests go: ALERT_CHAT_ID, else ADMIN_CHAT_ID; optional forum topics per tier.
    alert_chat_id: int | None = None
    alert_tier1_thread_id: int | None = Field(default=None, ge=1)
    alert_tier2_thread_id: int | None = Field(default=None, ge=1)

    @field_validator("alert_chat_id", "alert_tier1_thread_id", "alert_tier2_thread_id", mode="before")
    @classmethod
    def _empty_alert_target_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            raise ValueError(f"must be an integer (a chat id such as -1001234567890, or a topic id), got {value!r}")
        return value

    # The internal integration's installation (Settings → Integrations → the integration): the rules' webhook action.
    sentry_alert_installation_uuid: str | None = None

    @field_validator("sentry_alert_installation_uuid", mode="before")
    @classmethod
    def _check_installation_uuid(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return installation_uuid(str(value))

    @property
    def alert_target_chat_id(self) -> int | None:
        """Where alert pages go: ALERT_CHAT_ID, else ADMIN_CHAT_ID (None: alerts are only logged)."""
        return self.alert_chat_id if self.alert_chat_id is not None else self.admin_chat_id

    # Valuation and watch subscriptions (issue 16, docs/arbitrage.md) ----------------------------------
    # DMarket's other per-family budgets (market items: DMARKET_RATE_LIMIT_RPS), shared by every worker.
    dmarket_last_sales_rps: float = Field(default=6.0, gt=0, le=1000)
    dmarket_other_rps: float = Field(default=20.0, gt=0, le=1000)
    # The share of each budget watch sweeps may use; interactive scans always keep the rest.
    watch_budget_share_percent: int = Field(default=50, ge=1, le=100)
    # Per level: K (least sales in the window), N (sales the median is taken of, <= 20), D (window in days).
    arbitrage_min_sales: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    arbitrage_sales_count: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    arbitrage_sales_window_days: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    # How long a title's buy orders and sales are reused (Redis) by other scans and sweeps of the same band.
    arbitrage_valuation_ttl_s: int = Field(default=120, ge=1, le=3600)
    # Titles one scan values at most (each costs a last-sales call at 6/s): the best pre-filtered first.
    arbitrage_max_valued_titles: int = Field(default=300, ge=1, le=5000)
    watch_period_min: int = Field(default=10, ge=1, le=1440)
    watch_max_per_user: int = Field(default=5, ge=1, le=100)
    # A subscriber is not told about the same item (or title at the same or a higher price) again within this.
    watch_cooldown_min: int = Field(default=360, ge=1, le=43_200)

    @field_validator("arbitrage_min_sales", "arbitrage_sales_count", "arbitrage_sales_window_days", mode="before")
    @classmethod
    def _check_level_ints(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        numbers = {}
        for name, number in _pairs(value, "level=number pairs such as boost=10,pro=5").items():
            if name.lower() not in LEVELS:
                raise ValueError(f"unknown level {name!r}: expected one of {', '.join(LEVELS)}")
            if not number.isascii() or not number.isdigit():
                raise ValueError(f"must be level=whole number pairs such as boost=10, got {name}={number!r}")
            numbers[name.lower()] = int(number)
        return numbers

    @model_validator(mode="after")
    def _check_sales_rules(self) -> Settings:
        for level in LEVELS:
            try:
                self.arbitrage_sales_rule(level)
            except ValueError as exc:
                raise ValueError(
                    f"ARBITRAGE_MIN_SALES / ARBITRAGE_SALES_COUNT / ARBITRAGE_SALES_WINDOW_DAYS for {level}: {exc}"
                ) from None
        return self

    def arbitrage_sales_rule(self, level: str) -> SalesRule:
        """K, N and D of ``level``: the overrides or the defaults of common/markets.py."""
        default = SALES_RULES[level]
        return SalesRule(
            min_sales=self.arbitrage_min_sales.get(level, default.min_sales),
            sales_count=self.arbitrage_sales_count.get(level, default.sales_count),
            window_days=self.arbitrage_sales_window_days.get(level, default.window_days),
        )

    # Operations (issue 14, docs/deploy.md)
    # Which scheduler beat runs: Celery's own (exactly one beat process) or "redbeat" (celery-redbeat: the
    # schedule and a lock in Redis, so any number of beat replicas run and one of them fires each entry).
    beat_scheduler: Literal["celery", "redbeat"] = "celery"

    # With REDIS_URL=sentinel://...: the name of the master group the Sentinels watch (`sentinel monitor NAME`).
    redis_sentinel_master: str | None = None

    @model_validator(mode="after")
    def _sentinel_needs_a_master(self) -> Settings:
        if urlsplit(self.redis_url).scheme == "sentinel" and not self.redis_sentinel_master:
            raise ValueError(
                "REDIS_SENTINEL_MASTER: REDIS_URL names Redis Sentinels; set the master group's name, e.g. mymaster"
            )
        return self

    @field_validator("beat_scheduler", mode="before")
    @classmethod
    def _check_beat_scheduler(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() not in ("celery", "redbeat"):
            raise ValueError(f"must be celery (one beat process) or redbeat (several, Redis-locked), got {value!r}")
        return value.strip().lower() if isinstance(value, str) else value


def installation_uuid(value: str) -> str:
    """A Sentry integration installation UUID, lower case; ValueError naming the expected form."""
    text = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text):
        raise ValueError(f"must be a UUID such as 5f6a2e1c-7b3d-4c8e-9a10-2b4c6d8e0f12, got {value!r}")
    return text


@functools.cache
def _available_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def iana_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine has data for (``Europe/Moscow``, ``UTC``); else ValueError.

    Offsets and abbreviations (``+03:00``, ``MSK``) are refused: they do not follow daylight saving, so beat
    and Sentry would disagree twice a year.
    """
    text = name.strip()
    expected = "an IANA time zone name such as UTC, Europe/Moscow or America/New_York"
    zones = _available_zones()
    if text in zones:
        return text
    if not zones:
        raise ValueError(f"cannot check {text!r}: this machine has no time zone data (install tzdata)")
    close = [zone for zone in zones if zone.lower() == text.lower()]
    if close:
        raise ValueError(f"must be {expected} (names are case-sensitive: did you mean {close[0]}?), got {text!r}")
    raise ValueError(f"must be {expected} (not an offset or an abbreviation), got {text!r}")


def _percent(value: object, expected: str) -> Decimal:
    """A percentage with at most two decimals (whole basis points), 0 <= p < 100."""
    try:
        percent = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be {expected}, got {value!r}") from None
    if not percent.is_finite() or not 0 <= percent < 100 or percent != percent.quantize(Decimal("0.01")):
        raise ValueError(f"must be {expected} (at most two decimals), got {value!r}")
    return percent


def _pairs(value: str, expected: str) -> dict[str, str]:
    """Parse ``a=1,b=2`` (spaces allowed, empty means none)."""
    pairs: dict[str, str] = {}
    for chunk in filter(None, (part.strip() for part in value.split(","))):
        name, sep, number = (piece.strip() for piece in chunk.partition("="))
        if not sep or not name or not number:
            raise ValueError(f"must be {expected}, got {value!r}")
        pairs[name] = number
    return pairs


def _to_bp(percent: Decimal) -> int:
    return int(percent * 100)


def format_validation_error(error: ValidationError) -> str:
    """Render pydantic's error as one line per variable: NAME: what is expected."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        # A rule across variables (model validator) names them itself.
        lines.append(f"{name}: {message}" if name else message)
    return "Invalid configuration:\n  " + "\n  ".join(lines)


def env_files() -> tuple[Path, ...]:
    """The .env files to read: ENV_FILE's, or the project's and the current directory's."""
    chosen = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if not chosen:
        return ENV_FILES
    path = Path(chosen)
    if not path.is_file():
        raise ConfigError(f"Invalid configuration:\n  {ENV_FILE_VARIABLE}: no such file {chosen!r}")
    return (path,)


def load_settings(**overrides: object) -> Settings:
    """Build settings from env and `.env`; raise ConfigError with a readable message if invalid."""
    overrides.setdefault("_env_file", env_files())
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_settings_or_exit(**overrides: object) -> Settings:
    """What every entry point does first: the settings, or the named errors on stderr and exit status 2."""
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
