"""The one settings object, read from the environment and `.env`, validated at start-up."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///var/app.sqlite3"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

_TELEGRAM_TOKEN_RE = re.compile(r"^\d{5,12}:[A-Za-z0-9_-]{30,}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_REDIS_SCHEMES = {"redis", "rediss", "redis+socket", "unix"}
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
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False, frozen=True
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

    # DMarket
    dmarket_public_key: SecretStr | None = None
    dmarket_secret_key: SecretStr | None = None
    dmarket_api_url: str = "https://api.dmarket.com"

    # Infrastructure
    redis_url: str = DEFAULT_REDIS_URL
    database_url: str = DEFAULT_DATABASE_URL
    flower_basic_auth: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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
            )
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

    # Derived views -------------------------------------------------------------------------------

    @property
    def sentry_enabled(self) -> bool:
        return self.sentry_dsn is not None

    @property
    def is_production(self) -> bool:
        return self.sentry_environment == "production"

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
        if self.sentry_dsn is not None:
            username = urlsplit(self.sentry_dsn.get_secret_value()).username
            if username:
                values.append(username)
        return [v for v in values if len(v) >= 8]


def format_validation_error(error: ValidationError) -> str:
    """Render pydantic's error as one line per variable: NAME: what is expected."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper() or "SETTINGS"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "Invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings from env and `.env`; raise ConfigError with a readable message if invalid."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once."""
    return load_settings()
