"""The Sentry sandbox's newer surfaces: issues changed behind a client's back, holds and black holes,
issues by id, events by id and Crons monitors, over real HTTP with the real SDK where it applies."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sentry_sdk
from sentry_sdk.crons import capture_checkin

from tests.e2e.test_sandbox_sentry import org_issues, project_issues, raise_and_capture, sdk_client
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.support.waiting import wait_until

FORBIDDEN = {"detail": "You do not have permission to perform this action."}


@pytest.fixture
def api(sentry_sandbox: SentrySandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sentry_sandbox.token}"}
    with httpx.Client(base_url=sentry_sandbox.url, headers=headers, timeout=10.0) as client:
        yield client


def post_event(sandbox: SentrySandbox, event: dict[str, Any]) -> str:
    """One error event through the envelope endpoint; returns its event id."""
    event_id = event.setdefault("event_id", uuid.uuid4().hex)
    body = f'{{"event_id":"{event_id}"}}\n{{"type":"event"}}\n{json.dumps(event)}\n'
    response = httpx.post(f"{sandbox.url}/api/{sandbox.project_id}/envelope/?sentry_key=k", content=body)
    assert response.status_code == 200, response.text
    return str(event_id)


class Background:
    """Run one HTTP call in a thread, so a test can act while the sandbox holds it."""

    def __init__(self, call: Any) -> None:
        self.response: httpx.Response | None = None
        self.elapsed_s = 0.0
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Any) -> None:
        started = time.monotonic()
        self.response = call()
        self.elapsed_s = time.monotonic() - started

    def result(self, timeout_s: float = 10.0) -> httpx.Response:
        self._thread.join(timeout_s)
        assert self.response is not None, "the held request never finished"
        return self.response


# ---- issues changed behind the client's back ------------------------------------------------------------


def test_comments_grow_num_comments_and_list_as_sentry_notes(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    (issue_id,) = sentry_sandbox.client.seed_issues([{"title": "Test Error", "numComments": 1}])
    first = sentry_sandbox.client.add_comment(issue_id, "do not delete, investigating")
    second = sentry_sandbox.client.add_comment(issue_id, "real bug", user="Alice Smith")
    assert first["type"] == "note"
    assert first["data"] == {"text": "do not delete, investigating"}
    assert second["user"]["name"] == "Alice Smith"

    detail = api.get(f"/api/0/organizations/{sentry_sandbox.org}/issues/{issue_id}/").json()
    assert detail["numComments"] == 3
    listed = api.get(f"/api/0/issues/{issue_id}/comments/")
    assert listed.status_code == 200
    assert [c["data"]["text"] for c in listed.json()] == ["real bug", "do not delete, investigating"]
    assert 'rel="next"; results="false"' in listed.headers["Link"]
    scoped = api.get(f"/api/0/organizations/{sentry_sandbox.org}/issues/{issue_id}/comments/").json()
    assert scoped == listed.json()
    assert api.get("/api/0/issues/99999/comments/").status_code == 404

    control = httpx.post(f"{sentry_sandbox.url}/_sandbox/issues/{issue_id}/comments", json={"text": " "})
    assert control.status_code == 400
    assert httpx.post(f"{sentry_sandbox.url}/_sandbox/issues/99999/comments", json={"text": "x"}).status_code == 404


def test_control_update_changes_issues_as_sentry_would(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    resolved, archived, plain = sentry_sandbox.client.seed_issues(
        [{"status": "resolved"}, {"status": "ignored"}, {"title": "Plain"}]
    )
    regressed = sentry_sandbox.client.update_issue(resolved, status="unresolved")
    assert (regressed["status"], regressed["substatus"]) == ("unresolved", "regressed")
    escalated = sentry_sandbox.client.update_issue(archived, status="unresolved")
    assert (escalated["status"], escalated["substatus"]) == ("unresolved", "escalating")
    old = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    changed = sentry_sandbox.client.update_issue(
        plain,
        title="Renamed",
        level="fatal",
        numComments=4,
        lastSeen=old,
        environment="staging",
        tags={"test": "true"},
        status="ignored",
        substatus="archived_forever",
    )
    assert (changed["title"], changed["level"], changed["numComments"]) == ("Renamed", "fatal", 4)
    assert (changed["status"], changed["substatus"]) == ("ignored", "archived_forever")

    # The Web API sees the change: the search, the details, the time filters.
    found = api.get(org_issues(sentry_sandbox), params={"query": "test:true environment:staging lastSeen:+30d"})
    assert [i["id"] for i in found.json()] == [plain]

    url = f"{sentry_sandbox.url}/_sandbox/issues/{plain}"
    for bad in ({"priority": "high"}, {"status": "closed"}, {"status": "resolved", "substatus": "ongoing"}):
        response = httpx.post(url, json=bad)
        assert response.status_code == 400, bad
    assert httpx.post(f"{sentry_sandbox.url}/_sandbox/issues/99999", json={"title": "x"}).status_code == 404
    assert api.get(f"/api/0/issues/{plain}/").json()["title"] == "Renamed"  # the rejected patches changed nothing


# ---- holds, black holes and method filters --------------------------------------------------------------


def test_a_held_request_answers_with_the_state_after_the_hold(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    (issue_id,) = sentry_sandbox.client.seed_issues([{"title": "Test Error"}])
    sentry_sandbox.client.configure(faults=[{"endpoint": "org-issues", "method": "GET", "delay_s": 1.0}])
    # A PUT is not held by a GET-only fault, and leaves the fault in place.
    unheld = api.put(org_issues(sentry_sandbox), params={"id": issue_id}, json={"isBookmarked": True})
    assert unheld.status_code == 200
    assert len(sentry_sandbox.client.config()["faults"]) == 1

    held = Background(lambda: api.get(org_issues(sentry_sandbox)))
    wait_until(lambda: sentry_sandbox.client.config()["faults"] == [], what="the GET to be taken by the hold")
    sentry_sandbox.client.update_issue(issue_id, status="resolved")  # behind the client's back, mid-hold
    response = held.result()
    assert response.status_code == 200
    assert response.json() == []  # the default is:unresolved search ran after the change
    assert held.elapsed_s >= 1.0


def test_a_hold_can_end_in_a_failure_status(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    (issue_id,) = sentry_sandbox.client.seed_issues([{}])
    sentry_sandbox.client.configure(faults=[{"endpoint": "issue", "delay_s": 0.3, "status": 503}])
    started = time.monotonic()
    response = api.get(f"/api/0/issues/{issue_id}/")
    assert response.status_code == 503
    assert time.monotonic() - started >= 0.3
    assert api.get(f"/api/0/issues/{issue_id}/").status_code == 200


def test_ingestion_black_hole_answers_like_sentry_and_stores_nothing(sentry_sandbox: SentrySandbox) -> None:
    sentry_sandbox.client.configure(faults=[{"endpoint": "envelope", "drop": True}])
    event_id = uuid.uuid4().hex
    body = f'{{"event_id":"{event_id}"}}\n{{"type":"event"}}\n{{"message":"lost"}}\n'
    url = f"{sentry_sandbox.url}/api/{sentry_sandbox.project_id}/envelope/?sentry_key=k"
    dropped = httpx.post(url, content=body)
    assert dropped.status_code == 200
    assert dropped.json() == {"id": event_id}
    assert sentry_sandbox.client.events() == []
    assert sentry_sandbox.client.issues() == []
    assert sentry_sandbox.client.stats()["dropped_envelopes"] == 1

    sentry_sandbox.client.configure(faults=[{"endpoint": "envelope", "delay_s": 0.3}])
    started = time.monotonic()
    assert httpx.post(url, content=body).status_code == 200
    assert time.monotonic() - started >= 0.3
    (stored,) = sentry_sandbox.client.events()
    assert stored["event_id"] == event_id


@pytest.mark.parametrize(
    "fault",
    [
        {"endpoint": "org-issues", "status": 503, "method": "PATCH"},
        {"endpoint": "org-issues", "drop": True},
        {"endpoint": "envelope", "drop": True, "status": 429},
        {"endpoint": "org-issues"},
        {"endpoint": "org-issues", "delay_s": -1},
        {"endpoint": "org-issues", "status": 503, "colour": "red"},
    ],
)
def test_malformed_faults_are_refused(sentry_sandbox: SentrySandbox, fault: dict[str, Any]) -> None:
    response = httpx.post(f"{sentry_sandbox.url}/_sandbox/config", json={"faults": [fault]})
    assert response.status_code == 400
    assert sentry_sandbox.client.config()["faults"] == []


# ---- issues by id ---------------------------------------------------------------------------------------


def test_org_issues_by_group_id_ignore_the_query(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    first, resolved, _ = sentry_sandbox.client.seed_issues([{}, {"status": "resolved"}, {}])
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("group", resolved),
        ("group", first),
        ("group", "99999"),
        ("query", "is:unresolved"),
        ("limit", "1"),
    ]
    response = api.get(org_issues(sentry_sandbox), params=params)
    assert response.status_code == 200
    assert [i["id"] for i in response.json()] == [first, resolved]  # unknown ids are simply absent
    assert response.json()[1]["status"] == "resolved"
    assert "Link" not in response.headers
    bad = api.get(org_issues(sentry_sandbox), params={"group": "abc"})
    assert (bad.status_code, bad.json()) == (400, {"detail": "Group ids must be integers"})
    # The project list has no group= parameter: it searches as usual.
    assert len(api.get(project_issues(sentry_sandbox), params={"group": first}).json()) == 2


def test_an_event_id_query_is_a_direct_hit(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    event_id = post_event(sentry_sandbox, {"message": "scan failed", "level": "error"})
    response = api.get(org_issues(sentry_sandbox), params={"query": event_id})
    (issue,) = response.json()
    assert response.headers["X-Sentry-Direct-Hit"] == "1"
    assert issue["matchingEventId"] == event_id
    short = api.get(org_issues(sentry_sandbox), params={"query": issue["shortId"], "shortIdLookup": "1"})
    assert [i["id"] for i in short.json()] == [issue["id"]]
    assert api.get(org_issues(sentry_sandbox), params={"query": uuid.uuid4().hex}).json() == []


def test_issue_details_carry_what_sentry_io_returns(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    (issue_id,) = sentry_sandbox.client.seed_issues([{"numComments": 2, "status": "ignored"}])
    issue = api.get(f"/api/0/organizations/{sentry_sandbox.org}/issues/{issue_id}/").json()
    assert (issue["numComments"], issue["status"], issue["substatus"]) == (2, "ignored", "archived_until_escalating")
    assert issue["project"]["slug"] == sentry_sandbox.project
    assert issue["permalink"] == f"{sentry_sandbox.url}/organizations/{sentry_sandbox.org}/issues/{issue_id}/"
    assert datetime.fromisoformat(issue["lastSeen"].replace("Z", "+00:00")) <= datetime.now(UTC)


# ---- events by id ---------------------------------------------------------------------------------------


def test_events_by_id_in_the_project_and_the_organization(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    with (
        sdk_client(sentry_sandbox.dsn, traces_sample_rate=1.0),
        sentry_sdk.start_transaction(name="worker.tasks.sentry_checks.run_tests"),
    ):
        raise_and_capture()
    (error,) = sentry_sandbox.client.wait_for_events(type="event")
    (transaction,) = sentry_sandbox.client.wait_for_events(type="transaction")
    project_event = f"/api/0/projects/{sentry_sandbox.org}/{sentry_sandbox.project}/events"

    found = api.get(f"{project_event}/{error['event_id']}/")
    assert found.status_code == 200
    assert (found.json()["eventID"], found.json()["groupID"]) == (error["event_id"], error["issue_id"])
    assert api.get(f"{project_event}/{transaction['event_id']}/").json()["groupID"] is None
    missing = api.get(f"{project_event}/{uuid.uuid4().hex}/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Event not found"})

    lookup = api.get(f"/api/0/organizations/{sentry_sandbox.org}/eventids/{error['event_id']}/").json()
    assert {k: lookup[k] for k in ("organizationSlug", "projectSlug", "groupId", "eventId")} == {
        "organizationSlug": sentry_sandbox.org,
        "projectSlug": sentry_sandbox.project,
        "groupId": error["issue_id"],
        "eventId": error["event_id"],
    }
    assert lookup["event"]["eventID"] == error["event_id"]


def test_event_id_lookup_errors_scopes_and_its_one_per_second_limit(
    sentry_sandbox: SentrySandbox, api: httpx.Client
) -> None:
    event_id = post_event(sentry_sandbox, {"message": "hello"})
    lookup = f"/api/0/organizations/{sentry_sandbox.org}/eventids"
    sentry_sandbox.client.configure(rate_limits={"eventids": 0})  # unlimited, to check the answers themselves
    assert api.get(f"{lookup}/not-an-id/").status_code == 400
    assert api.get(f"{lookup}/{uuid.uuid4().hex}/").json() == {"detail": "The requested resource does not exist"}

    sentry_sandbox.client.configure(tokens={"events": ["event:read"], "org": ["org:read"], "proj": ["project:read"]})
    as_token = {name: {"Authorization": f"Bearer {name}"} for name in ("events", "org", "proj")}
    assert api.get(f"{lookup}/{event_id}/", headers=as_token["events"]).json() == FORBIDDEN
    assert api.get(f"{lookup}/{event_id}/", headers=as_token["org"]).status_code == 200
    project_event = f"/api/0/projects/{sentry_sandbox.org}/{sentry_sandbox.project}/events/{event_id}/"
    assert api.get(project_event, headers=as_token["events"]).status_code == 403
    assert api.get(project_event, headers=as_token["proj"]).status_code == 200

    sentry_sandbox.client.configure(rate_limits={}, tokens={sentry_sandbox.token: None})  # sentry.io's 1 request/s
    responses = [api.get(f"{lookup}/{event_id}/") for _ in range(3)]
    refused = [r for r in responses if r.status_code == 429]
    assert refused  # three calls span at most two one-second windows
    assert refused[0].json()["detail"].endswith("Limit is 1 requests in 1 seconds")
    assert {r.headers["X-Sentry-Rate-Limit-Limit"] for r in responses} == {"1"}


# ---- Crons monitors -------------------------------------------------------------------------------------


def test_crons_monitors_are_built_from_sdk_check_ins(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    config: Any = {  # the SDK's MonitorConfig TypedDict is private
        "schedule": {"type": "crontab", "value": "0 3 * * 1"},
        "timezone": "Europe/Moscow",
        "checkin_margin": 5,
        "max_runtime": 30,
    }
    with sdk_client(sentry_sandbox.dsn, environment="production"):
        run = capture_checkin(monitor_slug="sentry-weekly-cleanup", status="in_progress", monitor_config=config)
        capture_checkin(monitor_slug="sentry-weekly-cleanup", check_in_id=run, status="ok", duration=1.5)
        capture_checkin(monitor_slug="sentry-weekly-cleanup", status="error", monitor_config=config)
        capture_checkin(monitor_slug="never-configured", status="ok")  # no config, no monitor: Sentry drops it
    sentry_sandbox.client.wait_for_check_ins(count=4)

    monitors = api.get(f"/api/0/organizations/{sentry_sandbox.org}/monitors/")
    assert monitors.status_code == 200
    (monitor,) = monitors.json()
    assert (monitor["slug"], monitor["name"], monitor["status"], monitor["type"]) == (
        "sentry-weekly-cleanup",
        "sentry-weekly-cleanup",
        "active",
        "cron_job",
    )
    assert {k: monitor["config"][k] for k in ("schedule_type", "schedule", "checkin_margin", "max_runtime")} == {
        "schedule_type": "crontab",
        "schedule": "0 3 * * 1",
        "checkin_margin": 5,
        "max_runtime": 30,
    }
    assert monitor["config"]["timezone"] == "Europe/Moscow"
    (environment,) = monitor["environments"]
    assert (environment["name"], environment["status"]) == ("production", "error")
    assert environment["lastCheckIn"] is not None
    assert sentry_sandbox.client.monitors() == monitors.json()

    check_ins = api.get(f"/api/0/organizations/{sentry_sandbox.org}/monitors/sentry-weekly-cleanup/checkins/").json()
    assert [c["status"] for c in check_ins] == ["error", "ok"]  # newest first; the run is one check-in
    assert check_ins[1]["id"] == str(uuid.UUID(run))
    assert check_ins[1]["duration"] == 1500
    assert {c["environment"] for c in check_ins} == {"production"}
    assert [c["id"] for c in sentry_sandbox.client.monitor_check_ins("sentry-weekly-cleanup")] == [
        c["id"] for c in check_ins
    ]
    assert api.get(f"/api/0/organizations/{sentry_sandbox.org}/monitors/never-configured/checkins/").status_code == 404

    index = httpx.get(f"{sentry_sandbox.url}/").text
    section = index.split("Crons monitors (1):", 1)[1]
    assert "sentry-weekly-cleanup  [crontab: 0 3 * * 1]  timezone Europe/Moscow" in section
    assert " error (production)" in section
    assert " ok (production)" in section


def test_monitor_endpoints_need_alerts_or_project_scopes(sentry_sandbox: SentrySandbox) -> None:
    sentry_sandbox.client.configure(tokens={"events": ["event:read"], "alerts": ["alerts:read"]})
    url = f"{sentry_sandbox.url}/api/0/organizations/{sentry_sandbox.org}/monitors/"
    assert httpx.get(url, headers={"Authorization": "Bearer events"}).status_code == 403
    assert httpx.get(url, headers={"Authorization": "Bearer alerts"}).json() == []
