"""Housekeeping tasks: liveness for tools and tests."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery.worker import state as worker_state
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


# /status asks every worker once: what it consumes and runs, in one reply (one broadcast, one timeout).
@inspect_command(name="ops_overview")
def ops_overview_command(state: Any, **_: Any) -> dict[str, Any]:
    """The queues this worker consumes and the tasks it runs now (name and start time only: no arguments)."""
    consumer = state.consumer.task_consumer
    queues = sorted(str(queue.name) for queue in consumer.queues) if consumer else []
    running = [
        {"task": str(request.name), "started": request.time_start} for request in list(worker_state.active_requests)
    ]
    return {"queues": queues, "running": running}
