"""Housekeeping tasks: liveness for tools and tests."""

from __future__ import annotations

import os
import socket
from typing import Any

from worker.app import app


@app.task(name="system.ping", soft_time_limit=5, time_limit=10, acks_late=False)
def ping() -> dict[str, Any]:
    """Answer which worker ran it; proves the broker, a worker and the result backend work together."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}
