"""What the in-process worker's tasks ended with, seen through Celery's own signals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery.signals import task_failure


@contextmanager
def task_failures(task_name: str) -> Iterator[list[BaseException]]:
    """The exceptions ``task_name`` fails with (Celery's FAILURE state) while the block runs, in order."""
    failures: list[BaseException] = []

    def on_failure(sender: Any, exception: BaseException, **_: Any) -> None:
        if getattr(sender, "name", None) == task_name:
            failures.append(exception)

    task_failure.connect(on_failure, weak=False)
    try:
        yield failures
    finally:
        task_failure.disconnect(on_failure)
