"""Housekeeping tasks: liveness for the bot, Flower and compose healthchecks."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import shared_task


@shared_task(name="worker.tasks.system.ping", soft_time_limit=5, time_limit=10, acks_late=False)
def ping() -> dict[str, Any]:
    """Answer which worker ran it; proves the broker, a worker and the result backend work together."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}
