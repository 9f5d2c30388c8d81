"""What Sentry does after an event or a status change: issue webhooks, issue alert rules and their actions.

Mirrors ``sentry.receivers.sentry_apps`` (workflow webhooks) and the rule processor in post-processing:
a new issue sends ``issue.created``; a regression ``issue.unresolved``; a Web API status change
``resolved``/``ignored``/``unresolved``/``assigned`` (un-archiving by hand sends nothing: Sentry's
``issue_unignored`` has no webhook); then every rule whose environment, triggers and filters pass, and
whose ``frequency`` has elapsed for the issue, runs its actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .models import TOKEN_USER, now_ms, to_iso
from .rules import EMAIL_ACTION, SENTRY_APP_ACTION, EventFacts, rule_matches
from .serialize import event_webhook_data, issue_webhook_data
from .store import Ingested, SentryState, Transition

MINUTE_MS = 60_000
SENTRY_APP_ID = 1  # the sandbox integration's id, as `issue_alert.sentry_app_id` names it
# A Web API call is made by the token's user.
API_ACTOR: dict[str, Any] = {"type": "user", "id": int(TOKEN_USER.id), "name": TOKEN_USER.name}


def after_error_event(state: SentryState, ingested: Ingested, base_url: str) -> None:
    issue = ingested.issue
    if ingested.is_new:
        state.webhooks.send(
            "issue", "created", {"issue": issue_webhook_data(state, issue, base_url, created=True)}, None
        )
    elif ingested.is_regression:
        data = {"issue": issue_webhook_data(state, issue, base_url, created=False)}
        state.webhooks.send("issue", "unresolved", data, None)
    _run_rules(state, ingested, base_url)


def _facts(state: SentryState, ingested: Ingested) -> EventFacts:
    event = state.events_by_issue[ingested.issue.id][-1]
    received = [e.received_ms for e in state.events_by_issue[ingested.issue.id]]
    environment = event.payload.get("environment")
    return EventFacts(
        payload=event.payload,
        tags=event.tags,
        environment=None if environment is None else str(environment),
        is_new=ingested.is_new,
        is_new_in_environment=ingested.is_new_in_environment,
        is_regression=ingested.is_regression,
        count_between=lambda start, end: sum(1 for ms in received if start <= ms <= end),
        now_ms=now_ms(),
    )


def _run_rules(state: SentryState, ingested: Ingested, base_url: str) -> None:
    issue = ingested.issue
    if issue.status == "ignored":
        return  # archived issues do not alert until they escalate
    facts = _facts(state, ingested)
    event = state.events_by_issue[issue.id][-1]
    for rule_id, rule in state.rules.items():
        if not rule_matches(rule, facts):
            continue
        last = state.rule_fired_ms.get((rule_id, issue.id))
        if last is not None and facts.now_ms - last < int(rule["frequency"]) * MINUTE_MS:
            continue  # fires at most once per `frequency` minutes per issue
        state.rule_fired_ms[(rule_id, issue.id)] = facts.now_ms
        rule["lastTriggered"] = to_iso(facts.now_ms)
        for action in rule["actions"]:
            if (
                action["id"] == SENTRY_APP_ACTION
                and action["sentryAppInstallationUuid"] == state.webhooks.installation_uuid
            ):
                data: dict[str, Any] = {
                    "event": event_webhook_data(state, event, base_url),
                    "triggered_rule": rule["name"],
                }
                if action.get("settings"):
                    data["issue_alert"] = {
                        "id": rule_id,
                        "title": rule["name"],
                        "sentry_app_id": SENTRY_APP_ID,
                        "settings": action["settings"],
                    }
                state.webhooks.send("event_alert", "triggered", data, None)
            elif action["id"] == EMAIL_ACTION:
                state.emails.append(
                    {
                        "rule_id": str(rule_id),
                        "rule": rule["name"],
                        "issue_id": str(issue.id),
                        "event_id": event.event_id,
                        "targetType": action.get("targetType"),
                        "targetIdentifier": action.get("targetIdentifier"),
                        "fallthroughType": action.get("fallthroughType"),
                        "at": to_iso(facts.now_ms),
                    }
                )


def _status_action(old: str, new: str, *, automatic: bool) -> str | None:
    if new == "resolved":
        return "resolved"
    if new == "ignored":
        return "ignored"  # the "archived" of Sentry's docs; new installations receive "ignored"
    if old == "resolved" or automatic:
        return "unresolved"  # a regression or an escalation (Sentry's issue_escalating sends this too)
    return None  # un-archived by hand: issue_unignored, which sends no webhook


def after_transitions(
    state: SentryState, transitions: Iterable[Transition], base_url: str, *, automatic: bool = False
) -> None:
    """Workflow webhooks for Web API changes (by the token's user) or Sentry's own (``automatic``)."""
    actor = None if automatic else API_ACTOR
    for transition in transitions:
        issue = transition.issue
        serialized = issue_webhook_data(state, issue, base_url, created=False)
        action = (
            None
            if issue.status == transition.old_status
            else _status_action(transition.old_status, issue.status, automatic=automatic)
        )
        if action is not None:
            extra = {"resolution_type": "now"} if action == "resolved" else {}
            state.webhooks.send("issue", action, {**extra, "issue": serialized}, actor)
        if transition.assigned and issue.assigned_to is not None:
            assignee = dict(issue.assigned_to)
            if assignee.get("type") == "user":
                assignee["id"] = int(assignee["id"])
            state.webhooks.send("issue", "assigned", {"assignee": assignee, "issue": serialized}, actor)
