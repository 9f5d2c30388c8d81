"""Settings: each invalid value is refused with a message naming the variable and the expected form."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT, SANDBOX_CREDENTIALS, ConfigError, Settings, load_settings


@pytest.fixture
def from_environment(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings as a process builds them: from the environment (the test's), no .env file."""
    monkeypatch.delenv("ENV_FILE", raising=False)

    def load(**overrides: object) -> Settings:
        return load_settings(_env_file=None, **overrides)

    return load


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
        ("CELERY_TIMEZONE", "+03:00", "IANA time zone name such as UTC, Europe/Moscow"),
        ("CELERY_TIMEZONE", "MSK", "not an offset or an abbreviation"),
        ("CELERY_TIMEZONE", "europe/moscow", "did you mean Europe/Moscow?"),
        ("CELERY_TIMEZONE", "Mars/Olympus_Mons", "IANA time zone name"),
    ],
)
def test_invalid_value_names_the_variable_and_the_expected_form(
    monkeypatch: pytest.MonkeyPatch,
    from_environment: Callable[..., Settings],
    variable: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        from_environment()
    message = str(caught.value)
    line = next(line for line in message.splitlines() if line.strip().startswith(f"{variable}:"))
    assert expected in line


def test_every_problem_is_reported_at_once(
    monkeypatch: pytest.MonkeyPatch, from_environment: Callable[..., Settings]
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "2")
    monkeypatch.setenv("BOT_LANGUAGE", "fr")
    with pytest.raises(ConfigError) as caught:
        from_environment()
    assert "SENTRY_TRACES_SAMPLE_RATE:" in str(caught.value)
    assert "BOT_LANGUAGE:" in str(caught.value)


def test_valid_values_are_parsed(monkeypatch: pytest.MonkeyPatch, from_environment: Callable[..., Settings]) -> None:
    monkeypatch.setenv("SENTRY_DSN", "https://abc123@o4500.ingest.de.sentry.io/4501")
    monkeypatch.setenv("ADMIN_USER_IDS", " 123456789, 987654321 ")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot@db/bot")
    monkeypatch.setenv("DMARKET_SECRET_KEY", "ab" * 64)
    settings = from_environment()
    assert settings.sentry_enabled
    assert settings.admin_user_ids == frozenset({123456789, 987654321})
    assert settings.database_url == "postgresql+psycopg://bot@db/bot"
    assert "ab" * 64 in settings.secret_values()
    assert "ab" * 32 in settings.secret_values()


def test_secrets_are_not_shown_in_repr(
    monkeypatch: pytest.MonkeyPatch, from_environment: Callable[..., Settings]
) -> None:
    token = "7312345678:AAHfakeTokenForTests_0123456789abcdefXY"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    assert token not in repr(from_environment())


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


def test_a_copied_env_example_loads_and_leaves_redis_to_make_run(
    tmp_path: Path, from_environment: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL")
    copied = tmp_path / ".env"
    shutil.copy(PROJECT_ROOT / ".env.example", copied)
    settings = load_settings(_env_file=copied)
    # Not "set to the default": `make run` starts its embedded Redis only when REDIS_URL is not set at all.
    assert "redis_url" not in settings.model_fields_set
    assert settings.sentry_dsn is None
    assert settings.telegram_bot_token is None


def test_empty_values_mean_not_set(monkeypatch: pytest.MonkeyPatch, from_environment: Callable[..., Settings]) -> None:
    for name in ("SENTRY_DSN", "BOT_WEBHOOK_PORT", "ADMIN_CHAT_ID", "DMARKET_TIMEOUT_S"):
        monkeypatch.setenv(name, "")
    settings = from_environment()
    assert settings.sentry_dsn is None
    assert settings.admin_chat_id is None
    assert (settings.bot_webhook_port, settings.dmarket_timeout_s) == (8080, 10.0)


def test_a_relative_sqlite_path_is_in_the_project_wherever_the_process_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_environment: Callable[..., Settings]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///var/app.sqlite3")
    assert from_environment().database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'app.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'abs.sqlite3'}")
    assert from_environment().database_url == f"sqlite:///{tmp_path / 'abs.sqlite3'}"


@pytest.mark.parametrize("environment", ["production", "Production", "PRODUCTION"])
@pytest.mark.parametrize("variable", sorted(SANDBOX_CREDENTIALS))
def test_the_sandboxes_demo_credentials_are_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, from_environment: Callable[..., Settings], environment: str, variable: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", environment)
    monkeypatch.setenv(variable, SANDBOX_CREDENTIALS[variable])
    with pytest.raises(ConfigError, match=f"{variable}: the local sandbox's demo credentials"):
        from_environment()
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    assert from_environment().sentry_environment == "staging"  # fine anywhere else


def test_the_demo_credentials_named_in_settings_are_the_sandboxes_own() -> None:
    from sandbox.dmarket import DEMO_PUBLIC_KEY_HEX
    from sandbox.sentry import SandboxOptions
    from sandbox.telegram import DEFAULT_TOKEN

    assert {
        "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
        "DMARKET_PUBLIC_KEY": DEMO_PUBLIC_KEY_HEX,
        "SENTRY_AUTH_TOKEN": SandboxOptions().token,
    } == SANDBOX_CREDENTIALS


def test_env_file_names_the_one_file_to_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = tmp_path / "bot.env"
    chosen.write_text("BOT_LANGUAGE=en\n")
    monkeypatch.setenv("ENV_FILE", str(chosen))
    monkeypatch.delenv("BOT_LANGUAGE")
    assert load_settings().bot_language == "en"
    monkeypatch.setenv("ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(ConfigError, match="ENV_FILE: no such file"):
        load_settings()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Moscow", "Asia/Kolkata", "America/New_York"])
def test_celery_timezone_takes_iana_names_and_defaults_to_utc(
    monkeypatch: pytest.MonkeyPatch, from_environment: Callable[..., Settings], zone: str
) -> None:
    assert from_environment().celery_timezone == "UTC"
    monkeypatch.setenv("CELERY_TIMEZONE", f" {zone} ")
    assert from_environment().celery_timezone == zone
