"""Nothing happens at import: no settings are read, no socket is opened, and pure modules load no I/O library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "worker", "bot", "scripts")
# Pure logic (DESIGN.md §2): plain data in, plain data out.
PURE = (
    "common.contract",
    "common.markets",
    "common.http",
    "common.observability.checklist",
    "worker.arbitrage.engine",
    "worker.arbitrage.messages",
    "worker.cleanup.policy",
    "worker.dmarket.models",
    "worker.selftest.report",
    "bot.arguments",
    "bot.selftest_view",
)
IO_LIBRARIES = ("celery", "kombu", "redis", "httpx", "sqlalchemy", "sentry_sdk", "telegram", "nacl", "psycopg")

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, socket, sys

def refuse(*args, **kwargs):
    raise AssertionError(f"a socket was opened at import: {args!r}")

socket.socket.connect = refuse
socket.create_connection = refuse
imported, failed = [], {}
for package in PACKAGES:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        if info.name.endswith("__main__") or ".migrations" in info.name:
            continue
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except BaseException as exc:  # SystemExit included: an entry point that read the settings
            failed[info.name] = repr(exc)
print(json.dumps({"imported": imported, "failed": failed}))
"""

IMPORT_PURE = """
import importlib, json, sys
for name in PURE:
    importlib.import_module(name)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def run(code: str, **names: object) -> object:
    prelude = "".join(f"{key} = {value!r}\n" for key, value in names.items())
    env = {**os.environ, "SENTRY_DSN": "not-a-dsn", "DATABASE_URL": "mysql://nope", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_module_imports_with_invalid_settings_and_no_network() -> None:
    """The environment is invalid: any module that read the settings at import would fail here."""
    result = run(IMPORT_EVERYTHING, PACKAGES=PACKAGES)
    assert isinstance(result, dict)
    assert result["failed"] == {}
    assert {"worker.app", "worker.tasks.arbitrage", "bot.app", "bot.producer", "scripts.sentry_cleanup"} <= set(
        result["imported"]
    )


@pytest.fixture(scope="module")
def loaded_by_pure_modules() -> list[str]:
    loaded = run(IMPORT_PURE, PURE=PURE)
    assert isinstance(loaded, list)
    return loaded


@pytest.mark.parametrize("library", IO_LIBRARIES)
def test_pure_modules_load_no_io_library(library: str, loaded_by_pure_modules: list[str]) -> None:
    assert library not in loaded_by_pure_modules


def test_the_bot_imports_nothing_of_the_worker_but_the_shared_contract() -> None:
    """bot ↔ worker share common/contract.py only; the bot never loads the DMarket client, cleanup or models."""
    loaded = run(
        """
import importlib, json, pkgutil, sys
import bot, bot.handlers
for info in [*pkgutil.walk_packages(bot.__path__, prefix="bot.")]:
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
import bot.__main__  # noqa: F401
print(json.dumps(sorted(name for name in sys.modules if name == "worker" or name.startswith("worker."))))
"""
    )
    assert loaded == []
