"""The Celery and bot benchmarks run end to end (quick sizes). It checks that it works, not how fast: no timings here.

Round trips are counted, not timed, so the producer's two per send is checked here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def run_bench(arguments: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``python -m <arguments>`` from the project root, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=timeout_s
    )


def test_bench_celery_quick_run_prints_both_tables() -> None:
    """Enqueue latency for the producer, the previous path and the hop; Redis traffic; throughput off/bare/ours."""
    done = run_bench(["bench.bench_celery", "--quick"], timeout_s=90)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for header in ("Celery enqueue latency", "p50", "p99", "Redis per enqueue", "Worker throughput", "median"):
        assert header in out, out
    for row in ("previous: apply_async in to_thread (baseline)", "bot.producer.Producer.send", "to_thread hop alone"):
        assert row in out, out
    for mode in ("off", "bare sdk, Celery integration only", "ours (init_sentry)"):
        assert f"\n{mode} " in out, out
    # What the producer exists for: two round trips a send, no result-channel SUBSCRIBE.
    assert "goal: the producer is 2 round trips per enqueue: met" in out, out
    assert "ours / bare, per-task cost above off: CPU " in out, out


def test_bench_celery_rejects_bad_arguments_with_a_clear_message() -> None:
    done = run_bench(["bench.bench_celery", "--tasks", "0"], timeout_s=30)

    assert done.returncode == 2
    assert "--tasks must be between" in done.stderr


def test_bench_celery_rejects_a_redis_url_that_is_not_redis() -> None:
    done = run_bench(["bench.bench_celery", "--redis-url", "http://127.0.0.1:6379/14"], timeout_s=30)

    assert done.returncode == 2
    assert "--redis-url must look like redis://" in done.stderr


def test_bench_webhook_quick_run_prints_both_measurements() -> None:
    """Receiver latency under an open-loop load and webhook-to-page latency; no timing goals asserted here."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_webhook", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("Sentry webhook receiver:", "latency ms: p50", "Webhook to Telegram page", "Receiver CPU per request"):
        assert line in done.stdout, done.stdout
    assert "still queued" in done.stdout


def test_bench_bot_quick_run_prints_the_table_for_both_scenarios_and_modes() -> None:
    """A few users, a short slow chat: the bot benchmark runs end to end and prints its table (no timings)."""
    done = run_bench(["bench.bench_bot", "--users", "5", "--slow-s", "0.5"], timeout_s=90)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Bot: first reply to /start, 5 users" in out, out
    for header in ("p50", "p99", "max", "p99 ratio", "p99 / allowed"):
        assert header in out, out
    for scenario in ("a. one slow chat (0.5 s a call)", "b. flood limits 1/s per chat, 30/s overall"):
        for mode in (1, 32):
            assert f"| {scenario} | {mode} |" in out, out
    assert "goal (a)" in out, out
    assert "goal (b)" in out, out


def test_bench_bot_rejects_a_bad_user_count_with_a_clear_message() -> None:
    done = run_bench(["bench.bench_bot", "--users", "0"], timeout_s=30)

    assert done.returncode == 2
    assert "--users must be between 1 and 1000" in done.stderr
