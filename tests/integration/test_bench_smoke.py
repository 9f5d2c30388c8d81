"""The Celery benchmark runs end to end (quick sizes). It checks that it works, not how fast: no timings here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_bench_celery_quick_run_prints_both_tables() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_celery", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    for header in ("Celery enqueue latency", "p50", "p99", "bot.queue.enqueue", "Worker throughput", "median"):
        assert header in done.stdout, done.stdout
    assert "on (traces 0.1)" in done.stdout


def test_bench_celery_rejects_bad_arguments_with_a_clear_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_celery", "--tasks", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2
    assert "--tasks must be between" in done.stderr
