"""What /sentry_info renders from the processes' status dicts."""

from __future__ import annotations

from typing import Any

from bot.selftest_view import WorkerAnswer, WorkerSilent, render_details, render_public

ON: dict[str, Any] = {
    "enabled": True,
    "process": "bot",
    "dsn_host": "o1.ingest.sentry.io",
    "project_id": "42",
    "environment": "production",
    "release": "bot@1.2.3",
    "traces_sample_rate": 0.5,
    "sdk_version": "2.19.0",
    "integrations": ["celery", "logging"],
    "monitor_beat_tasks": True,
}
OFF: dict[str, Any] = {
    "enabled": False,
    "environment": "development",
    "traces_sample_rate": 1.0,
    "sdk_version": "2.19.0",
}


def test_everyone_sees_the_guides_status_line() -> None:
    assert render_public(ON, "ru") == "✅ Sentry инициализирован\nПодробности доступны администраторам."
    assert (
        render_public(OFF, "en")
        == "❌ Sentry is not initialised (SENTRY_DSN is not set)\nDetails are available to administrators."
    )


def test_admins_see_each_process_with_its_checklist() -> None:
    text = render_details(ON, WorkerAnswer("celery@host", 7, OFF), "en")
    assert text.splitlines() == [
        "🤖 Bot: ✅ Sentry initialised",
        "• DSN: o1.ingest.sentry.io, project 42",
        "• Environment: production",
        "• Release: bot@1.2.3",
        "• Traces sample rate: 0.5",
        "• sentry-sdk: 2.19.0",
        "• Integrations: celery, logging",
        "• Beat tasks monitored as Crons: yes",
        "Production checklist:",
        "✅ SENTRY_DSN is set",
        "✅ Environment: production",
        "❌ Traces sample rate 0.5: production needs ≤ 0.1 (SENTRY_TRACES_SAMPLE_RATE)",
        "✅ sentry-sdk 2.19.0 ≥ 1.40",
        "",
        "⚙️ Worker celery@host (pid 7): ❌ Sentry is not initialised (SENTRY_DSN is not set)",
        "• Environment: development",
        "• Release: —",
        "• Traces sample rate: 1",
        "• sentry-sdk: 2.19.0",
        "Production checklist:",
        "❌ SENTRY_DSN is not set",
        "➖ Environment: development; for production set SENTRY_ENVIRONMENT=production",
        "➖ Traces sample rate 1 (the 0.1 limit applies in production only)",
        "✅ sentry-sdk 2.19.0 ≥ 1.40",
    ]


def test_in_russian_every_label_reads_naturally() -> None:
    text = render_details(OFF, None, "ru")
    assert text.splitlines()[:9] == [
        "🤖 Бот: ❌ Sentry не инициализирован (SENTRY_DSN не задан)",
        "• Окружение: development",
        "• Релиз: —",
        "• Доля трассируемых транзакций: 1",
        "• sentry-sdk: 2.19.0",
        "Проверка перед боевым запуском:",
        "❌ SENTRY_DSN не задан",
        "➖ Окружение: development; на боевом сервере задайте SENTRY_ENVIRONMENT=production",
        "➖ Доля трассируемых транзакций 1 (предел 0,1 действует только на боевом сервере)",
    ]
    assert "Traces" not in text
    assert "Environment" not in text
    assert "production:" not in text


def test_while_waiting_and_when_no_worker_answers_it_says_so() -> None:
    assert render_details(ON, None, "ru").endswith("\n\n⏳ Спрашиваю воркеры (очередь sentry)…")
    silent = render_details(ON, WorkerSilent("no_worker", timeout_s=3.0), "en")
    assert silent.endswith("\n\n⚠️ No worker answered within 3 seconds. Is a worker consuming the sentry queue?")
    russian = render_details(ON, WorkerSilent("no_worker", timeout_s=3.0), "ru")
    assert russian.endswith(
        "\n\n⚠️ Ни один воркер не ответил за 3 секунды. Запущен ли воркер, который слушает очередь sentry?"
    )
    unavailable = render_details(ON, WorkerSilent("queue_unavailable", event_id="abc"), "en")
    assert unavailable.endswith("⚠️ The task queue is unavailable; workers were not asked. Error id: abc")
