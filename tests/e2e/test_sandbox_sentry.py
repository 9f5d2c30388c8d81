"""End-to-end checks of the Sentry sandbox: the real sentry-sdk and plain httpx over real HTTP."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import brotli
import httpx
import pytest
import sentry_sdk
from sentry_sdk.crons import capture_checkin

from sandbox.sentry import make_dsn
from tests.plugins.sandbox_sentry import SentrySandbox

LINK_PART = re.compile(r'<([^>]+)>; rel="(previous|next)"; results="(true|false)"; cursor="([^"]+)"')


@contextmanager
def sdk_client(dsn: str, **options: Any) -> Iterator[sentry_sdk.Client]:
    """A real SDK client with its own HTTP transport, bound to an isolation scope so no global state
    leaks between tests; closing it flushes the transport and stops its worker thread.

    The scope starts without breadcrumbs: other code in the session may have installed the SDK's
    stdlib integrations globally, and their breadcrumbs would otherwise be inherited.
    """
    options = {"release": "sandbox-test", **options}  # an explicit release skips the SDK's `git` probe
    client = sentry_sdk.Client(dsn=dsn, default_integrations=False, auto_enabling_integrations=False, **options)
    try:
        with sentry_sdk.isolation_scope() as scope:
            scope.set_client(client)
            scope.clear_breadcrumbs()
            yield client
    finally:
        client.close(timeout=5.0)


@pytest.fixture
def api(sentry_sandbox: SentrySandbox) -> Iterator[httpx.Client]:
    """An httpx client for the Web API, authenticated like the production Sentry client."""
    headers = {"Authorization": f"Bearer {sentry_sandbox.token}"}
    with httpx.Client(base_url=sentry_sandbox.url, headers=headers, timeout=10.0) as client:
        yield client


def org_issues(sandbox: SentrySandbox) -> str:
    return f"/api/0/organizations/{sandbox.org}/issues/"


def project_issues(sandbox: SentrySandbox) -> str:
    return f"/api/0/projects/{sandbox.org}/{sandbox.project}/issues/"


def links(response: httpx.Response) -> dict[str, tuple[str, bool, str]]:
    """rel → (url, results, cursor) parsed from Sentry's Link header."""
    return {
        rel: (url, results == "true", cursor)
        for url, rel, results, cursor in LINK_PART.findall(response.headers["Link"])
    }


def iterate_issues(api: httpx.Client, path: str, params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Yield page after page, following rel="next" while results="true", as a real client does."""
    url: str | None = path
    query: Mapping[str, Any] | None = params
    while url is not None:
        response = api.get(url, params=query)
        assert response.status_code == 200, response.text
        yield response.json()
        next_url, has_next, _ = links(response)["next"]
        url, query = (next_url, None) if has_next else (None, None)


def seed_many(sandbox: SentrySandbox, n: int, **fields: Any) -> list[str]:
    """n issues whose lastSeen values collide in groups of 7, so ordering must break ties by id."""
    now = datetime.now(UTC)
    specs = [
        {"title": f"SeedError: issue {i}", "lastSeen": (now - timedelta(minutes=i % 7)).isoformat(), **fields}
        for i in range(n)
    ]
    return sandbox.client.seed_issues(specs)


def raise_and_capture() -> None:
    try:
        raise ValueError("price feed returned garbage\nsecond line is not part of the title")
    except ValueError as exc:
        sentry_sdk.capture_exception(exc)


# ---- ingestion ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", ["br", "gzip"])
def test_sdk_exception_with_breadcrumbs_arrives_compressed_and_becomes_an_issue(
    sentry_sandbox: SentrySandbox, api: httpx.Client, algo: str
) -> None:
    with sdk_client(sentry_sandbox.dsn, environment="sandbox", _experiments={"transport_compression_algo": algo}):
        sentry_sdk.set_tag("test", "true")
        sentry_sdk.add_breadcrumb(category="telegram", message="Bot command: /arbitrage")
        sentry_sdk.add_breadcrumb(
            category="trading", message="Trading action: arbitrage_scan_started", data={"game": "csgo"}
        )
        raise_and_capture()

    (event,) = sentry_sandbox.client.wait_for_events(type="event")
    assert event["request_headers"]["content-encoding"] == algo
    assert event["request_headers"]["x-sentry-auth"].startswith("Sentry sentry_key=public, sentry_version=7")
    crumbs = [(c["category"], c["message"]) for c in event["payload"]["breadcrumbs"]["values"]]
    assert crumbs == [
        ("telegram", "Bot command: /arbitrage"),
        ("trading", "Trading action: arbitrage_scan_started"),
    ]
    (raw,) = sentry_sandbox.client.raw_envelopes()
    assert raw["content_encoding"] == algo
    assert "Bot command: /arbitrage" in raw["body"]

    response = api.get(org_issues(sentry_sandbox), params={"project": sentry_sandbox.project_id, "query": "test:true"})
    (issue,) = response.json()
    assert issue["title"] == "ValueError: price feed returned garbage"
    assert issue["id"] == event["issue_id"]
    assert issue["status"] == "unresolved"
    assert issue["count"] == "1"
    assert issue["metadata"]["type"] == "ValueError"
    assert issue["environment"] == "sandbox"
    assert issue["project"] == {"id": "1", "slug": "sandbox-project", "name": "sandbox-project", "platform": "python"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", issue["lastSeen"])

    latest = api.get(f"/api/0/issues/{issue['id']}/events/latest/").json()
    entries = {entry["type"]: entry["data"] for entry in latest["entries"]}
    assert [c["message"] for c in entries["breadcrumbs"]["values"]] == [m for _, m in crumbs]
    assert entries["exception"]["values"][-1]["type"] == "ValueError"
    assert {"key": "test", "value": "true"} in latest["tags"]


def test_hand_made_brotli_envelope_with_length_and_newline_items(
    sentry_sandbox: SentrySandbox, api: httpx.Client
) -> None:
    event_id = uuid.uuid4().hex
    # Pretty-printed payload: the newlines inside only parse if `length` is honoured.
    event = json.dumps({"event_id": event_id, "message": "hello from httpx", "level": "warning"}, indent=2).encode()
    report = json.dumps({"discarded_events": []}).encode()
    body = b"\n".join(
        [
            json.dumps({"event_id": event_id}).encode(),
            json.dumps({"type": "event", "length": len(event)}).encode(),
            event,
            json.dumps({"type": "client_report"}).encode(),
            report,
        ]
    )
    response = httpx.post(
        f"{sentry_sandbox.url}/api/{sentry_sandbox.project_id}/envelope/",
        params={"sentry_key": "httpx-key"},
        content=brotli.compress(body),
        headers={"Content-Encoding": "br", "Content-Type": "application/x-sentry-envelope"},
    )
    assert response.status_code == 200
    assert response.json() == {"id": event_id}
    (stored,) = sentry_sandbox.client.events(type="event")
    assert stored["public_key"] == "httpx-key"
    assert stored["payload"]["message"] == "hello from httpx"
    assert sentry_sandbox.client.stats()["items"] == {"event": 1, "client_report": 1}
    (issue,) = api.get(project_issues(sentry_sandbox)).json()
    assert (issue["title"], issue["level"], issue["type"]) == ("hello from httpx", "warning", "default")


def test_legacy_store_endpoint_and_dsn_in_envelope_header(sentry_sandbox: SentrySandbox) -> None:
    url = sentry_sandbox.url
    stored = httpx.post(
        f"{url}/api/1/store/",
        content=gzip.compress(json.dumps({"message": "legacy"}).encode()),
        headers={"Content-Encoding": "gzip", "X-Sentry-Auth": "Sentry sentry_key=legacy, sentry_version=7"},
    )
    assert stored.status_code == 200
    assert len(stored.json()["id"]) == 32
    header = json.dumps({"dsn": make_dsn(url, 1, "from-header")})
    enveloped = httpx.post(f"{url}/api/1/envelope/", content=f'{header}\n{{"type":"event"}}\n{{"message":"x"}}\n')
    assert enveloped.status_code == 200
    keys = [e["public_key"] for e in sentry_sandbox.client.events()]
    assert keys == ["legacy", "from-header"]


def test_ingestion_rejects_like_relay(sentry_sandbox: SentrySandbox) -> None:
    url, envelope = sentry_sandbox.url, b'{}\n{"type":"event"}\n{"message":"x"}\n'
    auth = {"X-Sentry-Auth": "Sentry sentry_key=public, sentry_version=7"}
    no_key = httpx.post(f"{url}/api/1/envelope/", content=envelope)
    assert (no_key.status_code, no_key.json()) == (401, {"detail": "missing authorization information"})
    assert httpx.post(f"{url}/api/999/envelope/", content=envelope, headers=auth).status_code == 404
    bad_gzip = httpx.post(f"{url}/api/1/envelope/", content=envelope, headers={**auth, "Content-Encoding": "gzip"})
    assert bad_gzip.status_code == 400
    assert "gzip" in bad_gzip.json()["detail"]

    sentry_sandbox.client.configure(public_keys=["only-this"])
    assert httpx.post(f"{url}/api/1/envelope/", content=envelope, headers=auth).status_code == 403
    assert httpx.post(f"{url}/api/1/envelope/?sentry_key=only-this", content=envelope).status_code == 200
    assert len(sentry_sandbox.client.events()) == 1


def test_crons_check_in_from_the_sdk_is_stored(sentry_sandbox: SentrySandbox) -> None:
    with sdk_client(sentry_sandbox.dsn):
        check_in_id = capture_checkin(monitor_slug="sentry-weekly-cleanup", status="in_progress")
        capture_checkin(monitor_slug="sentry-weekly-cleanup", check_in_id=check_in_id, status="ok", duration=1.5)
    check_ins = sentry_sandbox.client.wait_for_check_ins(count=2)
    assert [(c["payload"]["monitor_slug"], c["payload"]["status"]) for c in check_ins] == [
        ("sentry-weekly-cleanup", "in_progress"),
        ("sentry-weekly-cleanup", "ok"),
    ]
    assert {c["event_id"] for c in check_ins} == {check_in_id}
    assert sentry_sandbox.client.events(type="check_in") == check_ins
    assert sentry_sandbox.client.issues() == []  # check-ins open no issue


def test_grouping_fingerprint_and_regression(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    def post(event: dict[str, Any]) -> None:
        body = f'{{}}\n{{"type":"event"}}\n{json.dumps(event)}\n'
        assert httpx.post(f"{sentry_sandbox.url}/api/1/envelope/?sentry_key=k", content=body).status_code == 200

    frames = {"frames": [{"module": "worker.dmarket.client", "function": "get_items", "in_app": True}]}
    for value in ("Too many requests (1)", "Too many requests (2)"):  # values differ: still one issue
        post({"exception": {"values": [{"type": "RateLimitError", "value": value, "stacktrace": frames}]}})
    for game in ("csgo", "dota2"):  # `{{ default }}` plus the game splits one error into two issues
        post({"message": "scan failed", "fingerprint": ["{{ default }}", game]})

    listed = api.get(org_issues(sentry_sandbox), params={"query": ""}).json()
    assert sorted((i["title"], i["count"]) for i in listed) == [
        ("RateLimitError: Too many requests (2)", "2"),  # the title follows the latest event
        ("scan failed", "1"),
        ("scan failed", "1"),
    ]
    (rate_limited,) = [i for i in listed if i["metadata"].get("type") == "RateLimitError"]
    assert rate_limited["culprit"] == "worker.dmarket.client in get_items"

    issue_id = rate_limited["id"]
    assert api.put(f"/api/0/issues/{issue_id}/", json={"status": "resolved"}).json()["status"] == "resolved"
    post({"exception": {"values": [{"type": "RateLimitError", "value": "again", "stacktrace": frames}]}})
    regressed = api.get(f"/api/0/issues/{issue_id}/").json()
    assert (regressed["status"], regressed["substatus"], regressed["count"]) == ("unresolved", "regressed", "3")


def test_transaction_and_error_share_the_trace(sentry_sandbox: SentrySandbox) -> None:
    with (
        sdk_client(sentry_sandbox.dsn, traces_sample_rate=1.0),
        sentry_sdk.start_transaction(name="worker.tasks.scan_market", op="celery.task"),
    ):
        raise_and_capture()
    (transaction,) = sentry_sandbox.client.wait_for_events(type="transaction")
    (error,) = sentry_sandbox.client.events(type="event")
    trace_id = transaction["payload"]["contexts"]["trace"]["trace_id"]
    assert error["payload"]["contexts"]["trace"]["trace_id"] == trace_id
    assert transaction["issue_id"] is None
    assert transaction["tags"]["transaction"] == "worker.tasks.scan_market"
    assert error["envelope_headers"]["trace"]["trace_id"] == trace_id


# ---- Web API: listing and pagination -------------------------------------------------------------------


def test_first_page_link_header_is_exactly_sentrys_form(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    seed_many(sentry_sandbox, 3)
    response = api.get(org_issues(sentry_sandbox), params={"project": 1, "limit": 2})
    assert response.headers["X-Hits"] == "3"
    previous, following = response.headers["Link"].split(", ")
    base = f"{sentry_sandbox.url}{org_issues(sentry_sandbox)}?project=1&limit=2"
    assert previous == f'<{base}&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1"'
    assert re.fullmatch(rf'<{re.escape(base)}&cursor=(\d+:\d+:0)>; rel="next"; results="true"; cursor="\1"', following)


@pytest.mark.parametrize("path", [org_issues, project_issues])
def test_pagination_over_1000_issues_returns_each_exactly_once(
    sentry_sandbox: SentrySandbox, api: httpx.Client, path: Any
) -> None:
    seeded = seed_many(sentry_sandbox, 1000)
    pages = list(iterate_issues(api, path(sentry_sandbox), {"project": 1, "query": "", "limit": 100}))
    seen = [issue["id"] for page in pages for issue in page]
    assert len(pages) == 10
    assert len(seen) == 1000
    assert set(seen) == set(seeded)
    keys = [(issue["lastSeen"], int(issue["id"])) for page in pages for issue in page]
    assert keys == sorted(keys, reverse=True)  # lastSeen desc, then id desc


def test_paginating_while_deleting_visits_every_issue_once(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    seeded = seed_many(sentry_sandbox, 1000)
    visited: list[str] = []
    for page in iterate_issues(api, org_issues(sentry_sandbox), {"query": "", "limit": 100}):
        ids = [issue["id"] for issue in page]
        visited += ids
        assert api.delete(org_issues(sentry_sandbox), params=[("id", i) for i in ids]).status_code == 204
    assert sorted(visited, key=int) == seeded
    assert sentry_sandbox.client.issues() == []


def test_limit_cursor_and_query_validation(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    path = org_issues(sentry_sandbox)
    assert api.get(path, params={"limit": 101}).status_code == 400
    assert api.get(path, params={"cursor": "garbage"}).json() == {"detail": "Invalid cursor parameter."}
    bad_query = api.get(path, params={"query": "test:true OR level:fatal"})
    assert bad_query.status_code == 400
    assert '"OR" or "AND" are not supported' in bad_query.json()["detail"]
    assert api.get(path, params={"project": 2}).status_code == 403
    assert api.get("/api/0/organizations/other-org/issues/").status_code == 404


def test_query_filters(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    now = datetime.now(UTC)
    old = (now - timedelta(days=40)).isoformat()
    sentry_sandbox.client.seed_issues(
        [
            {"title": "TestError: from /test_sentry", "tags": {"test": "true"}, "environment": "staging"},
            {"title": "AuthenticationError: bad key", "level": "fatal", "status": "resolved"},
            {"title": "Old timeout", "firstSeen": old, "lastSeen": old, "status": "ignored"},
            {"title": "Fresh timeout", "numComments": 2, "tags": {"component": "api"}},
        ]
    )

    def titles(query: str | None, **extra: str) -> set[str]:
        params = {**({} if query is None else {"query": query}), **extra}
        response = api.get(org_issues(sentry_sandbox), params=params)
        assert response.status_code == 200, response.text
        return {issue["title"] for issue in response.json()}

    everything = {"TestError: from /test_sentry", "AuthenticationError: bad key", "Old timeout", "Fresh timeout"}
    assert titles(None) == {"TestError: from /test_sentry", "Fresh timeout"}  # default: is:unresolved
    assert titles("") == everything
    assert titles("is:resolved") == {"AuthenticationError: bad key"}
    assert titles("is:ignored lastSeen:+30d") == {"Old timeout"}
    assert titles("lastSeen:-24h") == everything - {"Old timeout"}
    assert titles("age:+4w") == {"Old timeout"}
    assert titles("test:true environment:staging") == {"TestError: from /test_sentry"}
    assert titles("!test:true is:unresolved") == {"Fresh timeout"}
    assert titles("timeout component:api") == {"Fresh timeout"}
    assert titles('"bad key" level:fatal') == {"AuthenticationError: bad key"}
    assert titles("", environment="staging") == {"TestError: from /test_sentry"}
    (fresh,) = [i for i in api.get(org_issues(sentry_sandbox)).json() if i["title"] == "Fresh timeout"]
    assert fresh["numComments"] == 2


def test_seeding_ten_thousand_issues(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    seed_many(sentry_sandbox, 10_000, tags={"test": "true"})
    response = api.get(project_issues(sentry_sandbox), params={"query": "test:true", "limit": 100})
    assert response.headers["X-Hits"] == "10000"
    assert len(response.json()) == 100


# ---- Web API: mutations --------------------------------------------------------------------------------


def test_bulk_delete_without_ids_deletes_every_match(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    seed_many(sentry_sandbox, 50)
    resolved = sentry_sandbox.client.seed_issues([{"title": "kept: resolved", "status": "resolved"}])
    # The hazard, as on sentry.io: no id= means "whatever the search matches" (default is:unresolved).
    assert api.delete(org_issues(sentry_sandbox), params={"project": 1}).status_code == 204
    assert [i["id"] for i in sentry_sandbox.client.issues()] == resolved
    assert api.delete(org_issues(sentry_sandbox), params={"query": ""}).status_code == 204
    assert sentry_sandbox.client.issues() == []
    mutations = [r for r in sentry_sandbox.client.requests_log() if r["method"] == "DELETE"]
    assert [[k for k, _ in r["params"]] for r in mutations] == [["project"], ["query"]]  # no id= in either


def test_bulk_put_with_ids_changes_only_those(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    ids = seed_many(sentry_sandbox, 10)
    response = api.put(org_issues(sentry_sandbox), params=[("id", ids[0]), ("id", ids[3])], json={"status": "resolved"})
    assert response.status_code == 200
    assert response.json() == {"status": "resolved", "statusDetails": {}}
    statuses = {i["id"]: i["status"] for i in sentry_sandbox.client.issues()}
    assert {i for i, s in statuses.items() if s == "resolved"} == {ids[0], ids[3]}

    invalid = api.put(org_issues(sentry_sandbox), params={"id": ids[1]}, json={"status": "closed"})
    assert invalid.status_code == 400
    assert invalid.json() == {"status": ['"closed" is not a valid choice.']}
    too_many = api.put(
        org_issues(sentry_sandbox), params=[("id", str(n)) for n in range(1001)], json={"status": "ignored"}
    )
    assert too_many.status_code == 400


def test_id_brackets_are_not_ids_so_the_call_hits_everything(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    ids = seed_many(sentry_sandbox, 5)
    response = api.put(project_issues(sentry_sandbox), params=[("id[]", ids[0])], json={"status": "ignored"})
    assert response.status_code == 200
    assert {i["status"] for i in sentry_sandbox.client.issues()} == {"ignored"}


def test_single_issue_get_put_delete_and_events(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    (issue_id,) = sentry_sandbox.client.seed_issues([{"type": "TimeoutError", "value": "DMarket slow"}])
    issue = api.get(f"/api/0/organizations/{sentry_sandbox.org}/issues/{issue_id}/").json()
    assert issue["title"] == "TimeoutError: DMarket slow"
    assert issue["shortId"] == f"SANDBOX-PROJECT-{issue_id}"
    assert api.put(f"/api/0/issues/{issue_id}/", json={"status": "ignored"}).json()["status"] == "ignored"
    assert api.get(f"/api/0/issues/{issue_id}/events/").json() == []
    assert api.get(f"/api/0/issues/{issue_id}/events/latest/").status_code == 404
    assert api.delete(f"/api/0/issues/{issue_id}/").status_code == 202
    assert api.get(f"/api/0/issues/{issue_id}/").status_code == 404


# ---- Web API: auth, rate limits, faults ----------------------------------------------------------------


def test_auth_errors_and_scopes(sentry_sandbox: SentrySandbox) -> None:
    url, path = sentry_sandbox.url, org_issues(sentry_sandbox)
    missing = httpx.get(url + path)
    assert (missing.status_code, missing.json()) == (401, {"detail": "Authentication credentials were not provided."})
    wrong = httpx.get(url + path, headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token"})

    sentry_sandbox.client.configure(tokens={"reader": ["event:read"], "writer": ["event:read", "event:write"]})
    forbidden = {"detail": "You do not have permission to perform this action."}
    reader, writer = {"Authorization": "Bearer reader"}, {"Authorization": "Bearer writer"}
    (issue_id,) = sentry_sandbox.client.seed_issues([{}])
    assert httpx.get(url + path, headers=reader).status_code == 200
    put = httpx.put(url + path, params={"id": issue_id}, json={"status": "resolved"}, headers=reader)
    assert (put.status_code, put.json()) == (403, forbidden)
    assert (
        httpx.put(url + path, params={"id": issue_id}, json={"status": "resolved"}, headers=writer).status_code == 200
    )
    delete = httpx.delete(url + path, params={"id": issue_id}, headers=writer)
    assert (delete.status_code, delete.json()) == (403, forbidden)
    assert len(sentry_sandbox.client.issues()) == 1


def test_rate_limit_answers_429_with_sentry_headers(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    sentry_sandbox.client.configure(rate_limits={"project-issues": 5})
    # 11 back-to-back requests span at most two one-second windows of 5: at least one must be refused.
    responses = [api.get(project_issues(sentry_sandbox)) for _ in range(11)]
    refused = [r for r in responses if r.status_code == 429]
    assert refused, [r.status_code for r in responses]
    assert refused[0].json() == {
        "detail": "You are attempting to use this endpoint too frequently. Limit is 5 requests in 1 seconds"
    }
    assert refused[0].headers["Retry-After"] == "1"
    for response in responses:
        assert response.headers["X-Sentry-Rate-Limit-Limit"] == "5"
        assert int(response.headers["X-Sentry-Rate-Limit-Reset"]) >= int(datetime.now(UTC).timestamp()) - 1
        assert "X-Sentry-Rate-Limit-ConcurrentLimit" in response.headers
    assert refused[0].headers["X-Sentry-Rate-Limit-Remaining"] == "0"
    # Other endpoints have their own budget.
    assert api.get(org_issues(sentry_sandbox)).status_code == 200


def test_fault_queue_replaces_the_next_responses(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    sentry_sandbox.client.configure(
        faults=[
            {"endpoint": "org-issues", "status": 503, "count": 2},
            {"endpoint": "*", "status": 429, "retry_after": 7},
        ]
    )
    statuses = [api.get(org_issues(sentry_sandbox)) for _ in range(4)]
    assert [r.status_code for r in statuses] == [503, 503, 429, 200]
    assert statuses[2].headers["Retry-After"] == "7"
    assert [r["status"] for r in sentry_sandbox.client.requests_log()] == [503, 503, 429, 200]

    sentry_sandbox.client.configure(faults=[{"endpoint": "envelope", "status": 429, "retry_after": 60}])
    response = httpx.post(f"{sentry_sandbox.url}/api/1/envelope/?sentry_key=k", content=b"{}\n")
    assert response.status_code == 429
    assert response.headers["X-Sentry-Rate-Limits"] == "60::organization"


# ---- alert rules ---------------------------------------------------------------------------------------


def test_alert_rules_crud_and_validation(sentry_sandbox: SentrySandbox, api: httpx.Client) -> None:
    path = f"/api/0/projects/{sentry_sandbox.org}/{sentry_sandbox.project}/rules/"
    missing = api.post(path, json={"name": "Bot crashed"})
    assert missing.status_code == 400
    assert missing.json() == {"actionMatch": ["This field is required."], "frequency": ["This field is required."]}
    rule = {
        "name": "Bot crashed",
        "actionMatch": "all",
        "filterMatch": "all",
        "conditions": [{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
        "filters": [{"id": "sentry.rules.filters.level.LevelFilter", "match": "eq", "level": "50"}],
        "actions": [{"id": "sentry.mail.actions.NotifyEmailAction", "targetType": "IssueOwners"}],
        "frequency": 5,
    }
    created = api.post(path, json=rule)
    assert created.status_code == 200, created.text  # Sentry answers 200, not 201
    body = created.json()
    assert {k: body[k] for k in rule} == rule
    assert api.get(path).json() == [body]
    updated = api.put(f"{path}{body['id']}/", json={**rule, "name": "Bot down"}).json()
    assert updated["name"] == "Bot down"
    assert updated["dateCreated"] == body["dateCreated"]
    assert api.delete(f"{path}{body['id']}/").status_code == 202
    assert api.get(f"{path}{body['id']}/").status_code == 404


# ---- for people ----------------------------------------------------------------------------------------


def test_index_and_permalink_pages_show_events_with_breadcrumbs(sentry_sandbox: SentrySandbox) -> None:
    with sdk_client(sentry_sandbox.dsn):
        sentry_sdk.add_breadcrumb(category="http", message="API request: GET /exchange/v1/market/items")
        raise_and_capture()
    (event,) = sentry_sandbox.client.wait_for_events(type="event")
    index = httpx.get(sentry_sandbox.url + "/").text
    assert "[http] API request: GET /exchange/v1/market/items" in index
    issue = sentry_sandbox.client.issues()[0]
    permalink = issue["permalink"]
    assert permalink.startswith(sentry_sandbox.url)
    assert event["event_id"] in httpx.get(permalink).text
    # The search link /test_sentry replies with finds the issue by event id, and nothing by a stranger's.
    search = f"{sentry_sandbox.url}/organizations/{sentry_sandbox.org}/issues/"
    assert issue["title"] in httpx.get(search, params={"query": event["event_id"]}).text
    assert "(0)" in httpx.get(search, params={"query": "0" * 32}).text


def test_cli_help_lists_the_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.sentry", "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    flags = ("--port", "--org", "--project", "--project-id", "--token", "--public-key", "--rate-limit")
    for flag in (*flags, "--webhook-url", "--webhook-secret"):
        assert flag in result.stdout
