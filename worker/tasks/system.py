"""Housekeeping tasks: liveness for tools and tests."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery.worker.control import inspect_command

from common.observability.sdk import sentry_status
from worker.app import app


@app.task(name="system.ping", soft_time_limit=5, time_limit=10, acks_late=False)
def ping() -> dict[str, Any]:
    """Answer which worker ran it; proves the broker, a worker and the result backend work together."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}


# A remote-control command, answered by every worker's main process (where celeryd_init set Sentry up), so
# the doctor learns each worker's Sentry status at once instead of whichever worker takes a queued task.
@inspect_command(name="sentry_status")
def sentry_status_command(state: Any, **_: Any) -> dict[str, Any]:
    """This worker's Sentry status, as /sentry_info shows it."""
    return sentry_status("worker").as_dict()
