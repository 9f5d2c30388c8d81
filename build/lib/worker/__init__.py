"""Celery workers: `celery -A worker worker|beat|flower`.

Importing this package (or any module in it) reads no settings and opens nothing: ``worker.app`` is looked
up on first use (PEP 562), which is what Celery's ``-A worker`` does, and the app reads the settings only
when Celery first needs its configuration.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from worker.app import app

        return app
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
