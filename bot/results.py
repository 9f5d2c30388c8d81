"""Wait for a Celery task's result from the event loop without blocking it."""

from __future__ import annotations

import asyncio
from typing import Any

from celery.result import AsyncResult

# How often the result backend is asked; one Redis GET per poll, off the loop.
POLL_INTERVAL_S = 0.05


class NoAnswer(Exception):
    """No worker finished the task within the timeout (none running, none consuming its queue, or all busy)."""

    def __init__(self, task_id: str, timeout_s: float) -> None:
        super().__init__(f"no worker answered task {task_id} within {timeout_s:g}s")
        self.timeout_s = timeout_s


async def wait_for_result(result: AsyncResult, timeout_s: float, poll_interval_s: float = POLL_INTERVAL_S) -> Any:
    """The task's return value, or NoAnswer after ``timeout_s``; a task that failed re-raises its error.

    Polls ``ready()`` from a thread instead of calling ``get()``: ``get()`` blocks a thread on the backend's
    pub/sub for the whole wait, and the backend object is per-thread in Celery.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await asyncio.to_thread(result.ready):
        if loop.time() >= deadline:
            raise NoAnswer(str(result.id), timeout_s)
        await asyncio.sleep(poll_interval_s)
    # Ready: get() reads the cached state and returns (or re-raises) at once.
    return await asyncio.to_thread(result.get, timeout=poll_interval_s, propagate=True)
