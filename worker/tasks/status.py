"""/status: the worker's part of the admins' one-message overview (worker/status.py)."""

from __future__ import annotations

import json
import socket
from typing import Any

from common.contract import REPLY_TTL_S, OpsStatusTask
from worker.app import BaseTask, app
from worker.status import recent_runs, workers_view


# Not acks_late, and `expires` set by the bot: an answer nobody waits for any more is worthless.
@app.task(name=OpsStatusTask.NAME, bind=True, soft_time_limit=5, time_limit=10, acks_late=False)
def status(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Push the workers' view and the recent runs onto the bot's reply list."""
    call = OpsStatusTask.from_kwargs(kwargs)
    answer = {"answered_by": str(self.request.hostname or socket.gethostname())}
    answer |= workers_view(self.app)
    answer |= recent_runs(self.resources.database)
    with self.resources.redis.pipeline() as pipe:
        pipe.rpush(call.reply_to, json.dumps(answer))
        pipe.expire(call.reply_to, REPLY_TTL_S)
        pipe.execute()
    return answer
