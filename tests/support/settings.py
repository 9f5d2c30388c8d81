"""Settings for tests, built from explicit values only: never the environment, never a .env file."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from common.settings import ConfigError, Settings, format_validation_error
from tests.support.environment import TEST_REDIS_URL

TEST_DEFAULTS: dict[str, Any] = {
    "redis_url": TEST_REDIS_URL,
    "sentry_environment": "test",
    "bot_language": "ru",
    "database_url": "sqlite:///var/test-default.sqlite3",
}


class _ArgumentsOnly(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def make_settings(**values: Any) -> Settings:
    """Settings from the test defaults and ``values`` (field names, lower case); ConfigError like production."""
    try:
        return _ArgumentsOnly(**{**TEST_DEFAULTS, **values})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that give a subprocess exactly these settings."""
    env: dict[str, str] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, frozenset | set):
            value = ",".join(str(item) for item in sorted(value))
        elif isinstance(value, dict):
            value = ",".join(f"{key}={item}" for key, item in value.items())
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    return env
