"""The Sentry sandbox as an internal integration: signed issue and event_alert webhooks to a real receiver,
issue alert rules evaluated on incoming events, and Sentry's strict rule validation."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sentry_sdk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.server import running
from tests.e2e.test_sandbox_sentry import sdk_client
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.support.waiting import wait_until

SECRET = "integration-client-secret"
FIRST_SEEN = {"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}
EVERY_EVENT = {"id": "sentry.rules.conditions.every_event.EveryEventCondition"}
REGRESSION = {"id": "sentry.rules.conditions.regression_event.RegressionEventCondition"}
SENTRY_APP = "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction"
EMAIL = {"id": "sentry.mail.actions.NotifyEmailAction", "targetType": "IssueOwners", "fallthroughType": "ActiveMembers"}


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def kind(self) -> tuple[str, str]:
        return self.headers["sentry-hook-resource"], self.json["action"]


@dataclass
class Receiver:
    """A webhook endpoint that keeps every request's headers and raw body."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)

    def wait_for(self, resource: str, action: str, count: int = 1) -> list[Delivery]:
        def matching() -> list[Delivery]:
            found = [d for d in self.deliveries if d.kind == (resource, action)]
            return found if len(found) >= count else []

        return wait_until(matching, what=f"{count} {resource}.{action} webhook(s)")

    def kinds(self) -> list[tuple[str, str]]:
        return [d.kind for d in self.deliveries]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    deliveries: list[Delivery] = []

    async def hook(request: Request) -> Response:
        deliveries.append(Delivery(dict(request.headers), await request.body()))
        return Response(status_code=200)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(2.5)  # the receiver under test is slow; Sentry gives up after 1 s
        return Response(status_code=200)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/slow", slow, methods=["POST"])])
    with running(app) as server:
        yield Receiver(f"{server.url}/hook", deliveries)


@pytest.fixture
def api(sentry_sandbox: SentrySandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sentry_sandbox.token}"}
    with httpx.Client(base_url=sentry_sandbox.url, headers=headers, timeout=10.0) as client:
        yield client


@pytest.fixture
def hooked(sentry_sandbox: SentrySandbox, receiver: Receiver) -> SentrySandbox:
    sentry_sandbox.client.configure(webhook_url=receiver.url, webhook_secret=SECRET)
    return sentry_sandbox


def rules_path(sandbox: SentrySandbox) -> str:
    return f"/api/0/projects/{sandbox.org}/{sandbox.project}/rules/"


def create_rule(api: httpx.Client, sandbox: SentrySandbox, **fields: Any) -> dict[str, Any]:
    rule = {
        "actionMatch": "all",
        "filterMatch": "all",
        "frequency": 5,
        "conditions": [FIRST_SEEN],
        "actions": [{"id": SENTRY_APP, "sentryAppInstallationUuid": sandbox.installation_uuid}],
        **fields,
    }
    response = api.post(rules_path(sandbox), json=rule)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def post_event(sandbox: SentrySandbox, event: dict[str, Any]) -> float:
    """One error event through the envelope endpoint; returns how long the ingestion reply took."""
    body = f'{{}}\n{{"type":"event"}}\n{json.dumps(event)}\n'
    started = time.monotonic()
    response = httpx.post(f"{sandbox.url}/api/{sandbox.project_id}/envelope/?sentry_key=k", content=body)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def verified(delivery: Delivery, secret: str = SECRET) -> bool:
    """What a receiver must do: HMAC-SHA256 over the raw body bytes, compared in constant time."""
    expected = hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, delivery.headers["sentry-hook-signature"])


# ---- issue webhooks -------------------------------------------------------------------------------------


def test_issue_lifecycle_webhooks_are_signed_like_sentrys(
    hooked: SentrySandbox, receiver: Receiver, api: httpx.Client
) -> None:
    post_event(hooked, {"exception": {"values": [{"type": "TimeoutError", "value": "DMarket slow"}]}})
    (created,) = receiver.wait_for("issue", "created")
    assert verified(created)
    assert not verified(created, secret="another-secret")
    assert created.headers["content-type"] == "application/json"
    assert len(created.headers["request-id"]) == 32
    assert abs(int(created.headers["sentry-hook-timestamp"]) - time.time()) < 60
    payload = created.json
    assert payload["installation"] == {"uuid": hooked.installation_uuid}
    assert payload["actor"] == {"type": "application", "id": "sentry", "name": "Sentry"}
    issue = payload["data"]["issue"]
    assert issue["title"] == "TimeoutError: DMarket slow"
    assert (issue["status"], issue["substatus"], issue["level"], issue["count"]) == ("unresolved", "new", "error", "1")
    assert issue["project"]["slug"] == hooked.project
    assert issue["web_url"] == f"{hooked.url}/organizations/{hooked.org}/issues/{issue['id']}/"
    assert issue["url"] == f"{hooked.url}/api/0/organizations/{hooked.org}/issues/{issue['id']}/"
    assert issue["permalink"] is None  # Sentry serializes webhook issues without a user
    assert httpx.get(issue["web_url"]).status_code == 200

    assert api.put(f"/api/0/issues/{issue['id']}/", json={"status": "resolved"}).status_code == 200
    (resolved,) = receiver.wait_for("issue", "resolved")
    assert verified(resolved)
    assert resolved.json["actor"]["type"] == "user"
    assert resolved.json["data"]["resolution_type"] == "now"
    assert resolved.json["data"]["issue"]["status"] == "resolved"
    assert "web_url" not in resolved.json["data"]["issue"]  # only `created` carries the links

    hooked.client.update_issue(issue["id"], status="unresolved")  # a regression, behind the client's back
    (regressed,) = receiver.wait_for("issue", "unresolved")
    assert regressed.json["data"]["issue"]["substatus"] == "regressed"
    assert regressed.json["actor"]["id"] == "sentry"

    api.put(f"/api/0/organizations/{hooked.org}/issues/", params={"id": issue["id"]}, json={"status": "ignored"})
    receiver.wait_for("issue", "ignored")
    api.put(f"/api/0/issues/{issue['id']}/", json={"assignedTo": "user:1"})
    (assigned,) = receiver.wait_for("issue", "assigned")
    assert assigned.json["data"]["assignee"]["email"] == "sandbox@example.com"
    assert receiver.kinds() == [
        ("issue", "created"),
        ("issue", "resolved"),
        ("issue", "unresolved"),
        ("issue", "ignored"),
        ("issue", "assigned"),
    ]

    logged = hooked.client.wait_for_webhooks(count=5)
    assert [(d["resource"], d["action"], d["status"]) for d in logged][:2] == [
        ("issue", "created", 200),
        ("issue", "resolved", 200),
    ]
    assert logged[0]["body"].encode() == created.body  # exactly the bytes that were signed
    assert logged[0]["request_headers"]["Sentry-Hook-Signature"] == created.headers["sentry-hook-signature"]
    assert SECRET not in json.dumps(logged)


def test_ingestion_never_waits_for_a_slow_receiver(sentry_sandbox: SentrySandbox, receiver: Receiver) -> None:
    sentry_sandbox.client.configure(webhook_url=receiver.url.replace("/hook", "/slow"))
    assert post_event(sentry_sandbox, {"message": "first of its kind"}) < 1.0
    (attempt,) = sentry_sandbox.client.wait_for_webhooks(timeout_s=10.0)
    assert attempt["status"] is None
    assert attempt["error"].startswith("timeout")
    assert attempt["duration_ms"] < 2500  # one attempt, given up after Sentry's 1 s


def test_no_webhooks_without_a_url(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    create_rule(api, sentry_sandbox, name="Every new issue", actions=[EMAIL])
    post_event(sentry_sandbox, {"message": "nobody listens"})
    wait_until(sentry_sandbox.client.emails, what="the email action to be recorded")
    assert sentry_sandbox.client.webhooks() == []


# ---- issue alert rules ----------------------------------------------------------------------------------


def test_a_matching_rule_sends_event_alert_and_a_non_matching_one_nothing(
    hooked: SentrySandbox, receiver: Receiver, api: httpx.Client
) -> None:
    app_action = {"id": SENTRY_APP, "sentryAppInstallationUuid": hooked.installation_uuid}
    # Created first, so had it fired its webhook would have been delivered before the matching rule's.
    create_rule(
        api,
        hooked,
        name="Production only",
        environment="production",
        actions=[app_action],
    )
    create_rule(
        api,
        hooked,
        name="Not a test",
        filters=[
            {"id": "sentry.rules.filters.tagged_event.TaggedEventFilter", "key": "test", "match": "ne", "value": "true"}
        ],
        actions=[app_action],
    )
    matching = create_rule(
        api,
        hooked,
        name="Test errors from the bot",
        actionMatch="any",
        conditions=[FIRST_SEEN, REGRESSION],
        filters=[
            {"id": "sentry.rules.filters.level.LevelFilter", "match": "gte", "level": "40"},
            {
                "id": "sentry.rules.filters.tagged_event.TaggedEventFilter",
                "key": "test",
                "match": "eq",
                "value": "TRUE",
            },
            {
                "id": "sentry.rules.filters.event_attribute.EventAttributeFilter",
                "attribute": "exception.type",
                "match": "eq",
                "value": "ValueError",
            },
        ],
        actions=[app_action, EMAIL],
    )
    with sdk_client(hooked.dsn, environment="staging", release="bot@1.2.3"):
        sentry_sdk.set_tag("test", "true")
        try:
            raise ValueError("price feed returned garbage")
        except ValueError as exc:
            event_id = sentry_sdk.capture_exception(exc)

    (alert,) = receiver.wait_for("event_alert", "triggered")
    assert receiver.kinds() == [("issue", "created"), ("event_alert", "triggered")]
    assert verified(alert)
    data = alert.json["data"]
    assert data["triggered_rule"] == "Test errors from the bot"
    event = data["event"]
    assert event["event_id"] == event_id
    assert (event["title"], event["level"], event["environment"], event["release"]) == (
        "ValueError: price feed returned garbage",
        "error",
        "staging",
        "bot@1.2.3",
    )
    assert ["test", "true"] in event["tags"]
    assert event["exception"]["values"][-1]["type"] == "ValueError"
    issue_id = event["issue_id"]
    assert event["web_url"] == f"{hooked.url}/organizations/{hooked.org}/issues/{issue_id}/events/{event_id}/"
    assert httpx.get(event["web_url"]).status_code == 200
    assert event["url"] == f"{hooked.url}/api/0/projects/{hooked.org}/{hooked.project}/events/{event_id}/"
    assert api.get(event["url"]).json()["eventID"] == event_id
    assert event["issue_url"] == f"{hooked.url}/api/0/organizations/{hooked.org}/issues/{issue_id}/"
    assert isinstance(event["timestamp"], float)
    assert "message" in event
    assert "culprit" in event

    (email,) = hooked.client.emails()
    assert (email["rule"], email["issue_id"], email["targetType"]) == (
        "Test errors from the bot",
        issue_id,
        "IssueOwners",
    )
    assert api.get(f"{rules_path(hooked)}{matching['id']}/").json()["lastTriggered"] is not None


def test_frequency_lets_a_rule_fire_once_per_issue(
    hooked: SentrySandbox, receiver: Receiver, api: httpx.Client
) -> None:
    create_rule(api, hooked, name="Every event", conditions=[EVERY_EVENT], frequency=60)
    for value in ("first", "second"):  # one issue: the values differ, the type does not
        post_event(hooked, {"exception": {"values": [{"type": "RateLimitError", "value": value}]}})
    post_event(hooked, {"exception": {"values": [{"type": "AuthError", "value": "other issue"}]}})
    alerts = receiver.wait_for("event_alert", "triggered", count=2)
    issues = [a.json["data"]["event"]["issue_id"] for a in alerts]
    assert len(set(issues)) == 2
    # Deliveries go out in order: once a later webhook arrives, no second alert can still be on its way.
    api.put(f"/api/0/issues/{issues[0]}/", json={"status": "resolved"})
    receiver.wait_for("issue", "resolved")
    assert len([k for k in receiver.kinds() if k[0] == "event_alert"]) == 2


def test_event_frequency_and_regression_conditions(
    hooked: SentrySandbox, receiver: Receiver, api: httpx.Client
) -> None:
    frequent = {"id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition", "value": 2, "interval": "1h"}
    create_rule(api, hooked, name="More than twice an hour", conditions=[frequent])
    create_rule(api, hooked, name="Came back", conditions=[REGRESSION], frequency=5)
    event = {"exception": {"values": [{"type": "DMarketError", "value": "502"}]}}
    for _ in range(3):
        post_event(hooked, event)
    (often,) = receiver.wait_for("event_alert", "triggered")
    assert often.json["data"]["triggered_rule"] == "More than twice an hour"
    assert often.json["data"]["event"]["issue_id"] == "1"

    api.put("/api/0/issues/1/", json={"status": "resolved"})
    post_event(hooked, event)
    receiver.wait_for("issue", "unresolved")
    alerts = receiver.wait_for("event_alert", "triggered", count=2)
    assert alerts[1].json["data"]["triggered_rule"] == "Came back"


# ---- rule validation ------------------------------------------------------------------------------------


def base_rule(sandbox: SentrySandbox, **fields: Any) -> dict[str, Any]:
    return {
        "name": "Rule",
        "actionMatch": "all",
        "frequency": 30,
        "conditions": [FIRST_SEEN],
        "actions": [{"id": SENTRY_APP, "sentryAppInstallationUuid": sandbox.installation_uuid}],
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"frequency": 4}, {"frequency": ["Ensure this value is greater than or equal to 5."]}),
        ({"frequency": 43201}, {"frequency": ["Ensure this value is less than or equal to 43200."]}),
        ({"actionMatch": "some"}, {"actionMatch": ['"some" is not a valid choice.']}),
        ({"name": "x" * 257}, {"name": ["Ensure this field has no more than 256 characters."]}),
        (
            {"conditions": [{"id": "sentry.rules.conditions.nope"}]},
            {"conditions": ["Invalid node. Could not find 'sentry.rules.conditions.nope'"]},
        ),
        ({"conditions": [{"interval": "1h"}]}, {"conditions": ["Missing attribute 'id'"]}),
        (
            {"conditions": [{"id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition", "value": 1}]},
            {"conditions": ["Ensure all required fields are filled in."]},
        ),
        (
            {
                "conditions": [
                    {
                        "id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition",
                        "value": 1,
                        "interval": "2h",
                    }
                ]
            },
            {"conditions": ["Select a valid choice. 2h is not one of the available choices."]},
        ),
        (
            {
                "filterMatch": "all",
                "filters": [{"id": "sentry.rules.filters.level.LevelFilter", "match": "eq", "level": "45"}],
            },
            {"filters": ["Select a valid choice. 45 is not one of the available choices."]},
        ),
        (
            {
                "filterMatch": "all",
                "filters": [
                    {"id": "sentry.rules.filters.tagged_event.TaggedEventFilter", "key": "test", "match": "eq"}
                ],
            },
            {"filters": ["Ensure all required fields are filled in."]},
        ),
        (
            {"filters": [{"id": "sentry.rules.filters.level.LevelFilter", "match": "eq", "level": "50"}]},
            {"filterMatch": ["Must select a filter match (all, any, none) if filters are supplied."]},
        ),
        ({"actions": []}, {"actions": ["You must add an action for this alert to fire."]}),
        ({"actions": [{"id": SENTRY_APP}]}, {"actions": ["Missing attribute 'sentryAppInstallationUuid'"]}),
        (
            {"actions": [{"id": SENTRY_APP, "sentryAppInstallationUuid": str(uuid.uuid4())}]},
            {"actions": ["Could not identify integration from the installation uuid."]},
        ),
        (
            {"actions": [{"id": "sentry.mail.actions.NotifyEmailAction", "targetType": "Team"}]},
            {"actions": ["Ensure all required fields are filled in."]},
        ),
    ],
)
def test_malformed_rules_get_sentrys_400(
    sentry_sandbox: SentrySandbox, api: httpx.Client, fields: dict[str, Any], errors: dict[str, Any]
) -> None:
    response = api.post(rules_path(sentry_sandbox), json=base_rule(sentry_sandbox, **fields))
    assert response.status_code == 400
    assert response.json() == errors
    assert api.get(rules_path(sentry_sandbox)).json() == []


def test_rules_are_stored_cleaned_and_duplicates_refused(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    rule = base_rule(
        sentry_sandbox,
        filterMatch="any",
        conditions=[
            {
                "id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition",
                "value": 10,
                "interval": "1h",
                "name": "label",
            }
        ],
        filters=[{"id": "sentry.rules.filters.tagged_event.TaggedEventFilter", "key": "test", "match": "is"}],
    )
    created = api.post(rules_path(sentry_sandbox), json=rule).json()
    assert created["conditions"] == [
        {
            "id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition",
            "value": 10,
            "interval": "1h",
            "comparisonType": "count",
        }
    ]
    assert created["filters"] == [
        {"id": "sentry.rules.filters.tagged_event.TaggedEventFilter", "key": "test", "match": "is", "value": ""}
    ]
    duplicate = api.post(rules_path(sentry_sandbox), json={**rule, "name": "Same again"})
    assert duplicate.status_code == 400
    assert duplicate.json() == {
        "name": ["This rule is an exact duplicate of 'Rule' in this project and may not be created."],
        "ruleId": [int(created["id"])],
    }
    # Saving a rule unchanged is not a duplicate of itself.
    assert api.put(f"{rules_path(sentry_sandbox)}{created['id']}/", json=rule).status_code == 200
