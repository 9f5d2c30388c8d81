"""Settings: each invalid value is refused with a message naming the variable and the expected form."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.settings import ConfigError, Settings


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SENTRY_DSN", "not-a-dsn", "https://KEY@oXXXX.ingest.sentry.io/PROJECT"),
        ("SENTRY_DSN", "https://o1.ingest.sentry.io/42", "https://KEY@oXXXX.ingest.sentry.io/PROJECT"),
        ("SENTRY_DSN", "https://key@o1.ingest.sentry.io/project", "PROJECT is a number"),
        ("SENTRY_TRACES_SAMPLE_RATE", "1.5", "from 0 to 1"),
        ("SENTRY_TRACES_SAMPLE_RATE", "-0.1", "from 0 to 1"),
        ("SENTRY_TRACES_SAMPLE_RATE", "ten", "valid number"),
        ("SENTRY_ENVIRONMENT", "prod/eu", "without '/'"),
        ("SENTRY_API_URL", "sentry.io", "http(s) URL"),
        ("TELEGRAM_BOT_TOKEN", "12345", "123456789:AAH"),
        ("TELEGRAM_API_BASE_URL", "ftp://example.org", "http(s) URL"),
        ("ADMIN_USER_IDS", "1,alice", "comma-separated Telegram user ids"),
        ("ADMIN_CHAT_ID", "general", "valid integer"),
        ("BOT_LANGUAGE", "de", "'ru' or 'en'"),
        ("BOT_WEBHOOK_PORT", "70000", "less than or equal to 65535"),
        ("DMARKET_PUBLIC_KEY", "abc", "64-character hex public key"),
        ("DMARKET_SECRET_KEY", "zz" * 32, "64 characters (seed) or 128"),
        ("DMARKET_API_URL", "api.dmarket.com", "http(s) URL"),
        ("REDIS_URL", "http://127.0.0.1:6379", "redis://"),
        ("DATABASE_URL", "mysql://root@localhost/db", "sqlite or postgresql"),
        ("DATABASE_URL", "::nonsense::", "SQLAlchemy URL"),
        ("FLOWER_BASIC_AUTH", "admin", "user:password"),
        ("LOG_LEVEL", "LOUD", "'DEBUG'"),
    ],
)
def test_invalid_value_names_the_variable_and_the_expected_form(
    monkeypatch: pytest.MonkeyPatch,
    settings_factory: Callable[..., Settings],
    variable: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        settings_factory()
    message = str(caught.value)
    line = next(line for line in message.splitlines() if line.strip().startswith(f"{variable}:"))
    assert expected in line
    if "KEY" not in value:
        assert "Traceback" not in message


def test_every_problem_is_reported_at_once(
    monkeypatch: pytest.MonkeyPatch, settings_factory: Callable[..., Settings]
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "2")
    monkeypatch.setenv("BOT_LANGUAGE", "fr")
    with pytest.raises(ConfigError) as caught:
        settings_factory()
    assert "SENTRY_TRACES_SAMPLE_RATE:" in str(caught.value) and "BOT_LANGUAGE:" in str(caught.value)


def test_valid_values_are_parsed(monkeypatch: pytest.MonkeyPatch, settings_factory: Callable[..., Settings]) -> None:
    monkeypatch.setenv("SENTRY_DSN", "https://abc123@o4500.ingest.de.sentry.io/4501")
    monkeypatch.setenv("ADMIN_USER_IDS", " 123456789, 987654321 ")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot@db/bot")
    monkeypatch.setenv("DMARKET_SECRET_KEY", "ab" * 64)
    settings = settings_factory()
    assert settings.sentry_enabled
    assert settings.admin_user_ids == frozenset({123456789, 987654321})
    assert settings.database_url == "postgresql+psycopg://bot@db/bot"
    assert "ab" * 64 in settings.secret_values() and "ab" * 32 in settings.secret_values()


def test_secrets_are_not_shown_in_repr(
    monkeypatch: pytest.MonkeyPatch, settings_factory: Callable[..., Settings]
) -> None:
    token = "7312345678:AAHfakeTokenForTests_0123456789abcdefXY"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    assert token not in repr(settings_factory())


def test_env_example_documents_every_variable() -> None:
    from pathlib import Path

    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (Path(__file__).parents[2] / ".env.example").read_text().splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].strip().isupper()
    }
    assert {name.upper() for name in Settings.model_fields} <= documented


def test_readme_configuration_table_lists_every_variable() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"| `{name.upper()}` |" not in readme]
    assert missing == []
