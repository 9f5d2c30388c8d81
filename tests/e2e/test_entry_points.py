"""Every entry point, given a bad .env, prints the named errors and exits 2: never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ENTRY_POINTS = [
    ["-m", "bot"],
    ["-m", "celery", "-A", "worker", "worker"],
    ["-m", "celery", "-A", "worker", "beat"],
    ["-m", "celery", "-A", "worker", "flower"],
    ["-m", "common.db.migrate", "upgrade"],
    [str(ROOT / "scripts" / "sentry_cleanup.py"), "--test-only"],
    [str(ROOT / "scripts" / "beat_now.py"), "upkeep-every-minute"],
    ["-m", "scripts.run_local"],
]


@pytest.mark.parametrize("argv", ENTRY_POINTS, ids=lambda argv: " ".join(argv[-2:]))
def test_a_bad_env_file_stops_every_entry_point_with_the_named_errors(tmp_path: Path, argv: list[str]) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SENTRY_TRACES_SAMPLE_RATE=2\nLOG_LEVEL=LOUD\nCELERY_TIMEZONE=+03:00\n")
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=tmp_path,  # from another directory, as an operator may run it
        env={**os.environ, "ENV_FILE": str(env_file), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "SENTRY_TRACES_SAMPLE_RATE: must be a number from 0 to 1" in done.stderr
    assert "LOG_LEVEL:" in done.stderr
    assert "CELERY_TIMEZONE: must be an IANA time zone name" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
