"""POST /sentry-webhook on the bot's real main loop (bot.app.run): real HTTP, real Redis, the real producer.

Every accepted delivery is one AlertTask on the `alerts` queue; every refused one leaves the queue empty.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
import sentry_sdk
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from common.contract import AlertTask
from common.settings import Settings
from sandbox.server import free_port
from tests.support import sentry_webhooks as hooks
from tests.support.bot import running_bot_main
from tests.support.capture import CapturingTransport
from tests.support.environment import TEST_KEY_PREFIX
from tests.support.waiting import wait_until

SECRET = "whsec-test-0123456789abcdef"
QUEUE = f"{TEST_KEY_PREFIX}alerts"


@dataclass
class Receiver:
    url: str
    redis: redis.Redis

    def post(self, body: bytes, headers: dict[str, str], timeout_s: float = 5.0) -> httpx.Response:
        return httpx.post(f"{self.url}/sentry-webhook", content=body, headers=headers, timeout=timeout_s)

    def queued(self) -> list[dict[str, Any]]:
        """The kwargs of every task waiting on the alerts queue, oldest first."""
        calls = []
        for raw in reversed(self.redis.lrange(QUEUE, 0, -1)):
            message = json.loads(raw)
            _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            assert message["headers"]["task"] == AlertTask.NAME
            calls.append(kwargs)
        return calls


def start_receiver(settings: Settings) -> Iterator[str]:
    with running_bot_main(settings):
        url = f"http://127.0.0.1:{settings.bot_webhook_port}"
        wait_until(lambda: _healthy(url), timeout_s=15, what="the bot's webhook server")
        yield url


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def receiver(settings_factory: Callable[..., Settings], redis_client: redis.Redis) -> Iterator[Receiver]:
    settings = settings_factory(sentry_webhook_secret=SECRET, bot_webhook_port=free_port())
    redis_client.delete(QUEUE)
    for url in start_receiver(settings):
        yield Receiver(url, redis_client)
    redis_client.delete(QUEUE)


def test_each_resource_in_the_docs_shape_is_queued_as_one_normalized_alert(receiver: Receiver) -> None:
    tags = {"component": "trading", "test": "true"}
    deliveries = [
        hooks.signed(SECRET, "event_alert", hooks.event_alert(tags=tags)),
        hooks.signed(SECRET, "issue", hooks.issue("created", count="7")),
        hooks.signed(SECRET, "metric_alert", hooks.metric_alert("critical")),
    ]
    for body, headers in deliveries:
        answer = receiver.post(body, headers)
        assert answer.status_code == 202, answer.text
    event, issue, metric = (AlertTask.from_kwargs(kwargs) for kwargs in receiver.queued())
    assert (event.resource, event.action, event.component, event.exception_type) == (
        "event_alert",
        "triggered",
        "trading",
        "RuntimeError",
    )
    assert (event.rule, event.issue_id, event.test, event.environment) == ("Trading failed", "101", True, "production")
    assert event.request_id == deliveries[0][1]["Request-ID"]
    assert (issue.resource, issue.action, issue.count, issue.user_count) == ("issue", "created", 7, 1)
    assert issue.short_id == "SANDBOX-PROJECT-101"
    assert (metric.resource, metric.level, metric.issue_id, metric.rule) == (
        "metric_alert",
        "fatal",
        None,
        "p95 scan latency",
    )


def _tampered(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"scan failed", b"scan f4iled"), headers


def _unsigned(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {k: v for k, v in headers.items() if k != "Sentry-Hook-Signature"}


def _wrong_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "Sentry-Hook-Signature": hooks.sign("another-secret", body)}


def _stale(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "Sentry-Hook-Timestamp": str(int(time.time()) - 301)}


def _future(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "Sentry-Hook-Timestamp": str(int(time.time()) + 400)}


def _resigned(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "Sentry-Hook-Signature": hooks.sign(SECRET, body)}


def _not_json(_: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return _resigned(b"{not json", headers)


def _missing_title(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    payload = json.loads(body)
    del payload["data"]["event"]["title"]
    return _resigned(json.dumps(payload).encode(), headers)


def _tags_as_dict(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    payload = json.loads(body)
    payload["data"]["event"]["tags"] = {"component": "trading"}  # Sentry sends [key, value] pairs
    return _resigned(json.dumps(payload).encode(), headers)


def _unknown_resource(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "Sentry-Hook-Resource": "frobnication"}


def _no_request_id(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {k: v for k, v in headers.items() if k != "Request-ID"}


@pytest.mark.parametrize(
    ("damage", "status", "reason"),
    [
        (_tampered, 401, "does not match"),
        (_unsigned, 401, "missing Sentry-Hook-Signature"),
        (_wrong_secret, 401, "does not match"),
        (_stale, 401, "Sentry-Hook-Timestamp"),
        (_future, 401, "Sentry-Hook-Timestamp"),
        (_not_json, 400, "not valid JSON"),
        (_missing_title, 400, "data.event.title: Field required"),
        (_tags_as_dict, 400, "data.event.tags"),
        (_unknown_resource, 400, "unknown Sentry-Hook-Resource"),
        (_no_request_id, 400, "Request-ID"),
    ],
)
def test_a_bad_delivery_gets_its_status_and_a_short_reason_and_queues_nothing(
    receiver: Receiver,
    damage: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]],
    status: int,
    reason: str,
) -> None:
    body, headers = damage(*hooks.signed(SECRET, "event_alert", hooks.event_alert()))
    answer = receiver.post(body, headers)
    assert answer.status_code == status
    assert reason in answer.json()["detail"]
    assert len(answer.text) < 300
    assert receiver.queued() == []


def test_a_replayed_request_id_is_refused_and_queued_once(receiver: Receiver) -> None:
    body, headers = hooks.signed(SECRET, "event_alert", hooks.event_alert())
    assert receiver.post(body, headers).status_code == 202
    again = receiver.post(body, headers)
    assert again.status_code == 409
    assert "already received" in again.json()["detail"]
    # A new signature over another body does not get a used Request-ID through either.
    other, other_headers = hooks.signed(
        SECRET, "issue", hooks.issue(), request_id=headers["Request-ID"], timestamp=time.time()
    )
    assert receiver.post(other, other_headers).status_code == 409
    assert len(receiver.queued()) == 1


def test_a_body_over_the_limit_is_refused_with_413(receiver: Receiver) -> None:
    payload = hooks.event_alert(title="x" * (1024 * 1024 + 1))
    body, headers = hooks.signed(SECRET, "event_alert", payload)
    answer = receiver.post(body, headers)
    assert answer.status_code == 413
    assert receiver.queued() == []


@pytest.mark.parametrize(
    ("resource", "payload"),
    [
        ("installation", {"action": "created", "data": {"installation": {"uuid": "x"}}}),
        ("comment", {"action": "created", "data": {"comment": "hi"}}),
        ("issue", hooks.issue("assigned")),
    ],
)
def test_what_we_do_not_route_gets_200_and_nothing_queued(
    receiver: Receiver, resource: str, payload: dict[str, Any]
) -> None:
    answer = receiver.post(*hooks.signed(SECRET, resource, payload))
    assert answer.status_code == 200
    assert "not routed" in answer.json()["detail"]
    assert receiver.queued() == []


def test_without_a_secret_the_route_answers_503_with_one_line(
    settings_factory: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_factory(bot_webhook_port=free_port())
    with caplog.at_level("WARNING", logger="bot.webhook"):
        for url in start_receiver(settings):
            answer = httpx.post(f"{url}/sentry-webhook", content=b"{}", timeout=5)
            assert answer.status_code == 503
            assert answer.json()["detail"] == "SENTRY_WEBHOOK_SECRET is not set: Sentry webhooks are off"
            assert httpx.post(f"{url}/sentry-webhook", content=b"{}", timeout=5).status_code == 503
    said = [r for r in caplog.records if "SENTRY_WEBHOOK_SECRET is not set" in r.getMessage()]
    assert len(said) == 1  # once, at start, not per request


def test_redis_down_answers_503_fast_with_one_error_event(
    settings_factory: Callable[..., Settings], sentry_capture: Callable[..., CapturingTransport]
) -> None:
    transport = sentry_capture()
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = settings_factory(sentry_webhook_secret=SECRET, bot_webhook_port=free_port(), redis_url=nowhere)
    for url in start_receiver(settings):
        body, headers = hooks.signed(SECRET, "event_alert", hooks.event_alert())
        started = time.monotonic()
        answer = httpx.post(f"{url}/sentry-webhook", content=body, headers=headers, timeout=5)
        elapsed = time.monotonic() - started
    assert answer.status_code == 503
    assert "queue unavailable" in answer.json()["detail"]
    assert elapsed < 1.0  # inside Sentry's one second
    sentry_sdk.flush(timeout=2)
    events = [e for e in transport.items("event") if e.get("exception")]
    assert len(events) == 1
    assert events[0]["tags"]["component"] == "telegram"
    assert events[0]["contexts"]["sentry_webhook"]["step"] == "replay guard"
    assert SECRET not in transport.serialized().decode(errors="replace")


# What HTTP lets a header carry (h11 refuses leading or trailing blanks before they are sent).
_header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.strip)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=2000),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
        st.sampled_from([json.dumps(hooks.event_alert()).encode(), json.dumps(hooks.issue()).encode()]).map(
            lambda b: b.replace(b'"101"', b'"-1"')
        ),
    ),
    resource=st.sampled_from(["event_alert", "issue", "metric_alert", "installation", ""]) | _header_values,
    timestamp=st.one_of(st.none(), _header_values, st.floats(allow_nan=True).map(str)),
    request_id=st.one_of(st.none(), _header_values),
    sign_it=st.booleans(),
)
def test_fuzzed_deliveries_never_get_a_5xx(
    receiver: Receiver,
    body: bytes,
    resource: str,
    timestamp: str | None,
    request_id: str | None,
    sign_it: bool,
) -> None:
    headers = {"Sentry-Hook-Resource": resource, "Content-Type": "application/json"}
    headers["Sentry-Hook-Timestamp"] = timestamp if timestamp is not None else str(int(time.time()))
    headers["Request-ID"] = request_id if request_id is not None else uuid.uuid4().hex
    if sign_it:
        headers["Sentry-Hook-Signature"] = hooks.sign(SECRET, body)
    answer = receiver.post(body, headers)
    assert answer.status_code < 500, answer.text
