"""Sentry alerts (queue `alerts`): route one verified webhook, send the tier-2 digest, act on a page's button."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import redis
from sqlalchemy.exc import OperationalError

from common.contract import AlertActionTask, AlertDigestTask, AlertTask
from common.observability.breadcrumbs import set_component
from worker.alerts import actions, router
from worker.app import BaseTask, app

# Redis or the database away for a moment: the alert waits and is routed when they are back (outage_policy).
_OUTAGES = (redis.RedisError, OperationalError)


@app.task(name=AlertTask.NAME, bind=True, acks_late=True, soft_time_limit=60, time_limit=90, max_retries=7)
def route_alert(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Page, count or edit for one alert; idempotent per Request-ID, so a redelivery changes nothing twice."""
    set_component("telegram")
    alert = AlertTask.from_kwargs(kwargs)
    try:
        return asdict(router.route(self.resources, alert))
    except _OUTAGES as exc:
        raise self.retry(exc=exc, countdown=self.outage_countdown_s()) from None


# Not acks_late: a lost digest is superseded by the next one 30 minutes later.
@app.task(name=AlertDigestTask.NAME, bind=True, acks_late=False, soft_time_limit=60, time_limit=90)
def alert_digest(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Beat, every 30 minutes (a Crons monitor): the digest of the tier-2 counters over their thresholds."""
    set_component("telegram")
    AlertDigestTask.from_kwargs(kwargs)
    return asdict(router.digest(self.resources))


# Not acks_late: a press acted on twice would be recorded twice; the admin can press again instead.
@app.task(name=AlertActionTask.NAME, bind=True, acks_late=False, soft_time_limit=30, time_limit=45)
def alert_action(self: BaseTask, **kwargs: Any) -> dict[str, Any]:
    """Resolve / Archive / Mute from an alert page's buttons."""
    set_component("telegram")
    self.drop_if_abandoned()
    return asdict(actions.act(self.resources, AlertActionTask.from_kwargs(kwargs)))
