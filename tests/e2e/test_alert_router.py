"""Sentry alerts end to end: signed webhook → the bot's receiver → Redis → a real worker → the Telegram sandbox;
the page's buttons → the bot → the worker → the Sentry sandbox's Web API.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from common.db.database import Database
from common.db.migrate import upgrade
from common.db.models import AlertAction, AlertPage, OutboxMessage, utcnow
from common.settings import Settings
from sandbox.server import free_port
from tests.plugins.sandbox_sentry import SentrySandbox
from tests.plugins.sandbox_telegram import FORUM_CHAT_ID, TelegramSandbox
from tests.support import sentry_webhooks as hooks
from tests.support.bot import running_bot_main
from tests.support.tasks import app as celery_test_app  # noqa: F401 - first: the Celery app on the test settings
from tests.support.waiting import wait_until
from worker.alerts import counters, router
from worker.alerts.tiers import BY_NAME
from worker.resources import Resources
from worker.tasks.alerts import alert_digest
from worker.telegram import outbox

SECRET = "whsec-router-0123456789abcdef"
ADMIN = 1001
OTHER = 2002
TIMEOUT_S = 20.0


class Stack:
    """The bot (receiver and buttons) and an in-process worker on one set of settings."""

    def __init__(self, settings: Settings, resources: Resources, telegram: TelegramSandbox) -> None:
        self.settings = settings
        self.resources = resources
        self.telegram = telegram
        self.url = f"http://127.0.0.1:{settings.bot_webhook_port}"
        self.database = resources.database

    def post(self, resource: str, payload: dict[str, Any]) -> httpx.Response:
        body, headers = hooks.signed(SECRET, resource, payload)
        answer = httpx.post(f"{self.url}/sentry-webhook", content=body, headers=headers, timeout=5)
        assert answer.status_code == 202, answer.text
        return answer

    @property
    def chat(self) -> int:
        return self.settings.alert_target_chat_id or 0

    def pages(self) -> list[AlertPage]:
        with self.database.session() as session:
            rows = list(session.scalars(select(AlertPage).order_by(AlertPage.id)))
            session.expunge_all()
            return rows

    def actions(self) -> list[AlertAction]:
        with self.database.session() as session:
            rows = list(session.scalars(select(AlertAction).order_by(AlertAction.id)))
            session.expunge_all()
            return rows


def _clear_counters(client: redis.Redis) -> None:
    for rule in BY_NAME.values():
        client.delete(counters.window_key(rule), counters.titles_key(rule))


@pytest.fixture
def stack_factory(
    sentry_sandbox: SentrySandbox,
    telegram_sandbox: TelegramSandbox,
    tmp_path: Path,
    worker_resources: Callable[[Settings], Resources],
    settings_factory: Callable[..., Settings],
    redis_client: redis.Redis,
    worker_thread: None,
) -> Iterator[Callable[..., Stack]]:
    database_url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    upgrade(database_url)
    _clear_counters(redis_client)
    stops: list[Any] = []

    def start(**overrides: Any) -> Stack:
        values: dict[str, Any] = {
            "sentry_api_url": sentry_sandbox.url,
            "sentry_auth_token": sentry_sandbox.token,
            "sentry_organization": sentry_sandbox.org,
            "sentry_project": str(sentry_sandbox.project_id),
            "sentry_webhook_secret": SECRET,
            "telegram_bot_token": telegram_sandbox.token,
            "telegram_api_base_url": telegram_sandbox.url,
            "admin_chat_id": telegram_sandbox.admin_chat_id,
            "admin_user_ids": str(ADMIN),
            "database_url": database_url,
            "bot_language": "en",
            "bot_webhook_port": free_port(),
        }
        settings = settings_factory(**{**values, **overrides})
        resources = worker_resources(settings)
        bot = running_bot_main(settings)
        bot.__enter__()
        stops.append(bot)
        stack = Stack(settings, resources, telegram_sandbox)
        wait_until(lambda: _healthy(stack.url), timeout_s=15, what="the bot's webhook server")
        return stack

    yield start
    for bot in reversed(stops):
        bot.__exit__(None, None, None)
    _clear_counters(redis_client)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def trading_alert(issue_id: str = "101", title: str = "RuntimeError: scan failed") -> dict[str, Any]:
    return hooks.event_alert(issue_id=issue_id, title=title, tags={"component": "trading"}, rule="Trading failed")


def test_a_tier_1_alert_pages_at_once_and_the_same_issue_again_updates_that_page(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory()
    chat = stack.telegram.client
    stack.post("event_alert", trading_alert())
    page = chat.wait_for_text(stack.chat, "Trading failed", TIMEOUT_S)
    assert "💰" in page["text"]
    assert "RuntimeError: scan failed" in page["text"]
    buttons = [b["callback_data"] for b in page["reply_markup"]["inline_keyboard"][0]]
    assert [data.split(":")[1] for data in buttons] == ["resolve", "archive", "mute"]

    stack.post("event_alert", trading_alert())
    stack.post("issue", hooks.issue("created", count="2"))  # the same issue: news about it, not another page
    edited = chat.wait_for_text(stack.chat, "Repeated 1×", TIMEOUT_S)
    assert edited["message_id"] == page["message_id"]
    wait_until(lambda: "Events: 2" in chat.bot_messages(stack.chat)[-1]["text"], TIMEOUT_S, what="the count")
    assert len(chat.bot_messages(stack.chat)) == 1
    [row] = stack.pages()
    assert (row.issue_id, row.repeats, row.message_id) == ("101", 1, page["message_id"])


def test_resolved_in_sentry_edits_the_original_page_with_who_and_when(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory()
    chat = stack.telegram.client
    stack.post("event_alert", trading_alert())
    page = chat.wait_for_text(stack.chat, "Trading failed", TIMEOUT_S)
    actor = {"type": "user", "id": 5, "name": "Jane Doe"}
    stack.post("issue", hooks.issue("resolved", status="resolved", actor=actor))
    resolved = chat.wait_for_text(stack.chat, "Resolved by Jane Doe", TIMEOUT_S)
    assert resolved["message_id"] == page["message_id"]
    assert not (resolved.get("reply_markup") or {}).get("inline_keyboard")
    assert len(chat.bot_messages(stack.chat)) == 1


def test_a_hostile_title_arrives_escaped_and_telegram_s_parser_takes_it(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory()
    title = "<script>alert(1)</script> & <b>bold</b> tom_&_jerry"
    stack.post("event_alert", trading_alert(title=title))
    page = stack.telegram.client.wait_for_text(stack.chat, "Trading failed", TIMEOUT_S)
    assert title in page["text"]  # shown as the characters Sentry sent, not as markup
    entity_types = {entity["type"] for entity in page.get("entities", [])}
    assert "bold" in entity_types


def test_six_rate_limit_alerts_in_an_hour_give_one_digest_and_five_give_none(
    stack_factory: Callable[..., Stack], redis_client: redis.Redis
) -> None:
    stack = stack_factory()
    key = counters.window_key(BY_NAME["rate_limit"])

    def rate_limited(n: int) -> dict[str, Any]:
        return hooks.event_alert(
            issue_id=str(200 + n % 2), title=f"RateLimitError: {n % 2}", exception_type="RateLimitError", rule="x"
        )

    for n in range(5):
        stack.post("event_alert", rate_limited(n))
    wait_until(lambda: redis_client.zcard(key) == 5, TIMEOUT_S, what="five counted alerts")
    assert router.digest(stack.resources).what == "quiet"

    stack.post("event_alert", rate_limited(5))
    wait_until(lambda: redis_client.zcard(key) == 6, TIMEOUT_S, what="six counted alerts")
    alert_digest.apply_async(ignore_result=True)  # what beat sends every 30 minutes
    digest = stack.telegram.client.wait_for_text(stack.chat, "Alert digest", TIMEOUT_S)
    assert "Rate limit</b>: 6 (threshold 5)" in digest["text"] or "Rate limit: 6 (threshold 5)" in digest["text"]
    assert "RateLimitError: 0 — 3×" in digest["text"]
    assert len(stack.telegram.client.bot_messages(stack.chat)) == 1  # tier 2 never pages on its own


def test_tier_1_pages_go_to_their_forum_topic(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory(alert_chat_id=FORUM_CHAT_ID, alert_tier1_thread_id=2)
    stack.post("event_alert", trading_alert())
    page = stack.telegram.client.wait_for_text(FORUM_CHAT_ID, "Trading failed", TIMEOUT_S)
    assert page["message_thread_id"] == 2


def test_a_page_telegram_rate_limits_waits_in_the_outbox_with_its_buttons(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory()
    chat = stack.telegram.client
    chat.inject_fault("sendMessage", status=429, retry_after=60, count=100)
    stack.post("event_alert", trading_alert())
    row = wait_until(lambda: _outbox_row(stack.database, "pending"), TIMEOUT_S, what="the page kept in the outbox")
    assert row.reply_markup is not None
    assert row.reply_markup["inline_keyboard"]
    assert chat.bot_messages(stack.chat) == []
    chat.clear_faults()
    report = outbox.drain(stack.resources.telegram(), stack.database, now=utcnow() + timedelta(seconds=61))
    assert report.sent == 1
    [page] = chat.bot_messages(stack.chat)
    assert "Trading failed" in page["text"]
    assert page["reply_markup"]["inline_keyboard"]


# ---- the buttons ------------------------------------------------------------------------------------------


def _page_for(stack: Stack, issue_id: str) -> dict[str, Any]:
    stack.post("event_alert", hooks.event_alert(issue_id=issue_id, level="fatal", rule="Bot crashed"))
    return stack.telegram.client.wait_for_text(stack.chat, "Bot crashed", TIMEOUT_S)


def _button(page: dict[str, Any], action: str) -> str:
    return next(
        b["callback_data"] for b in page["reply_markup"]["inline_keyboard"][0] if f":{action}:" in b["callback_data"]
    )


def _answer(stack: Stack, pressed: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = wait_until(
        lambda: stack.telegram.client.callback_answer(pressed["callback_query_id"]), TIMEOUT_S, what="the answer"
    )
    return answer


def test_resolve_resolves_exactly_that_issue_edits_the_page_and_is_recorded(
    stack_factory: Callable[..., Stack], sentry_sandbox: SentrySandbox
) -> None:
    target, bystander = sentry_sandbox.client.seed_issues([{"title": "Boom"}, {"title": "Other"}])
    stack = stack_factory()
    page = _page_for(stack, target)
    pressed = stack.telegram.client.press_button(stack.chat, ADMIN, page["message_id"], _button(page, "resolve"))
    assert "resolved in Sentry" in _answer(stack, pressed)["text"]
    edited = stack.telegram.client.wait_for_text(stack.chat, "Resolved by", TIMEOUT_S)
    assert edited["message_id"] == page["message_id"]
    statuses = {issue["id"]: issue["status"] for issue in sentry_sandbox.client.issues()}
    assert statuses == {target: "resolved", bystander: "unresolved"}
    puts = [r for r in sentry_sandbox.client.requests_log() if r["method"] == "PUT"]
    assert [r["path"] for r in puts] == [f"/api/0/organizations/{sentry_sandbox.org}/issues/{target}/"]
    [action] = stack.actions()
    assert (action.action, action.issue_id, action.user_id, action.result) == ("resolve", target, ADMIN, "done")


def test_archive_archives_until_escalating(stack_factory: Callable[..., Stack], sentry_sandbox: SentrySandbox) -> None:
    (target,) = sentry_sandbox.client.seed_issues([{"title": "Boom"}])
    stack = stack_factory()
    page = _page_for(stack, target)
    pressed = stack.telegram.client.press_button(stack.chat, ADMIN, page["message_id"], _button(page, "archive"))
    assert "archived" in _answer(stack, pressed)["text"]
    stack.telegram.client.wait_for_text(stack.chat, "Archived until escalating by", TIMEOUT_S)
    assert [i["status"] for i in sentry_sandbox.client.issues()] == ["ignored"]


def test_a_non_admin_press_is_refused_and_changes_nothing(
    stack_factory: Callable[..., Stack], sentry_sandbox: SentrySandbox
) -> None:
    (target,) = sentry_sandbox.client.seed_issues([{"title": "Boom"}])
    stack = stack_factory()
    page = _page_for(stack, target)
    pressed = stack.telegram.client.press_button(stack.chat, OTHER, page["message_id"], _button(page, "resolve"))
    assert "admins only" in _answer(stack, pressed)["text"]
    assert [i["status"] for i in sentry_sandbox.client.issues()] == ["unresolved"]
    assert stack.telegram.client.bot_messages(stack.chat)[0]["text"] == page["text"]
    assert stack.actions() == []  # refused by the bot: nothing was queued
    assert not [r for r in sentry_sandbox.client.requests_log() if r["method"] == "PUT"]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("scope", "needs the event:write scope"),
        ("token", "needs the event:write scope"),
        ("missing", "was not found in Sentry"),
        ("rate", "rate-limiting us, try again in"),
    ],
)
def test_a_refusal_by_sentry_is_answered_clearly_changes_nothing_and_is_recorded(
    stack_factory: Callable[..., Stack], sentry_sandbox: SentrySandbox, setup: str, expected: str
) -> None:
    (target,) = sentry_sandbox.client.seed_issues([{"title": "Boom"}])
    issue_id = target if setup == "scope" else "987654"
    if setup == "scope":
        sentry_sandbox.client.configure(tokens={sentry_sandbox.token: ["event:read"]})
    if setup == "token":
        sentry_sandbox.client.configure(tokens={"another-token": None})  # ours is no longer known: 401
    if setup == "rate":
        fault = {"endpoint": "issue", "method": "PUT", "status": 429, "retry_after": 60, "count": 10}
        sentry_sandbox.client.configure(faults=[fault])
    stack = stack_factory()
    page = _page_for(stack, issue_id)
    pressed = stack.telegram.client.press_button(stack.chat, ADMIN, page["message_id"], _button(page, "resolve"))
    answer = _answer(stack, pressed)
    assert expected in answer["text"]
    assert answer.get("show_alert")
    assert [i["status"] for i in sentry_sandbox.client.issues()] == ["unresolved"]
    assert stack.telegram.client.bot_messages(stack.chat)[0]["text"] == page["text"]
    [action] = stack.actions()
    assert action.result == "refused"


def test_mute_stops_paging_that_issue(stack_factory: Callable[..., Stack], sentry_sandbox: SentrySandbox) -> None:
    stack = stack_factory(alert_dedupe_window_s=60)
    page = _page_for(stack, "301")
    pressed = stack.telegram.client.press_button(stack.chat, ADMIN, page["message_id"], _button(page, "mute"))
    assert "muted" in _answer(stack, pressed)["text"]
    stack.telegram.client.wait_for_text(stack.chat, "Muted until", TIMEOUT_S)
    [row] = stack.pages()
    assert row.muted_until is not None
    assert row.muted_until > utcnow() + timedelta(hours=23)
    # Past the dedupe window the issue would page again; muted, it only counts.
    outcome = router.route(
        stack.resources,
        router.as_alert({**row.alert, "request_id": f"later-{time.time()}"}),
        now=utcnow() + timedelta(minutes=5),
    )
    assert outcome.what == "muted"
    assert len(stack.telegram.client.bot_messages(stack.chat)) == 1


def test_a_metric_alert_pages_and_its_resolution_edits_the_page(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory(bot_language="ru")
    stack.post("metric_alert", hooks.metric_alert("critical"))
    page = stack.telegram.client.wait_for_text(stack.chat, "Метрика", TIMEOUT_S)
    assert "Critical: p95 scan latency" in page["text"]
    stack.post("metric_alert", hooks.metric_alert("resolved"))
    resolved = stack.telegram.client.wait_for_text(stack.chat, "✅ Решено", TIMEOUT_S)
    assert resolved["message_id"] == page["message_id"]


def test_an_alert_that_matches_no_tier_is_not_sent(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory()
    stack.post("event_alert", hooks.event_alert(level="warning", rule="Someone else's rule", exception_type=None))
    stack.post("event_alert", trading_alert())  # a barrier: routed after the first one
    stack.telegram.client.wait_for_text(stack.chat, "Trading failed", TIMEOUT_S)
    assert len(stack.telegram.client.bot_messages(stack.chat)) == 1
    assert [page.issue_id for page in stack.pages()] == ["101"]


def test_the_sentry_sandbox_s_own_signed_webhooks_page_and_resolve_round_trips(
    stack_factory: Callable[..., Stack], sentry_sandbox: SentrySandbox
) -> None:
    """Step 5 without `make run`: the sandbox evaluates the six rules on a real event and signs its webhooks."""
    from scripts.sentry_alerts import sync_rules
    from worker.sentry_api import SentryApi

    stack = stack_factory()
    with SentryApi(sentry_sandbox.url, sentry_sandbox.token, sentry_sandbox.org, sentry_sandbox.project) as api:
        changes, failures = sync_rules(api, sentry_sandbox.installation_uuid, apply=True)
    assert failures == []
    assert len(changes) == 6
    sentry_sandbox.client.configure(webhook_url=f"{stack.url}/sentry-webhook", webhook_secret=SECRET)
    event = {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "level": "error",
        "timestamp": time.time(),
        "environment": "production",
        "exception": {"values": [{"type": "RuntimeError", "value": "scan failed <b>&"}]},
        "tags": {"component": "trading"},
    }
    stored = httpx.post(
        f"{sentry_sandbox.url}/api/{sentry_sandbox.project_id}/store/",
        json=event,
        headers={"X-Sentry-Auth": "Sentry sentry_key=public, sentry_version=7"},
        timeout=10,
    )
    assert stored.status_code == 200, stored.text
    page = stack.telegram.client.wait_for_text(stack.chat, "Trading failed", TIMEOUT_S)
    assert "RuntimeError: scan failed <b>&" in page["text"]
    pressed = stack.telegram.client.press_button(stack.chat, ADMIN, page["message_id"], _button(page, "resolve"))
    assert "resolved in Sentry" in _answer(stack, pressed)["text"]
    # The sandbox tells the bot about the resolution too (issue.resolved): the page is not edited twice.
    deliveries = sentry_sandbox.client.wait_for_webhooks(
        lambda d: d["resource"] == "issue" and d["action"] == "resolved", timeout_s=TIMEOUT_S
    )
    assert deliveries[0]["status"] == 202
    assert [i["status"] for i in sentry_sandbox.client.issues()] == ["resolved"]
    statuses = {(d["resource"], d["action"]): d["status"] for d in sentry_sandbox.client.webhooks()}
    assert statuses == {("issue", "created"): 202, ("event_alert", "triggered"): 202, ("issue", "resolved"): 202}
    resolved = stack.telegram.client.wait_for_text(stack.chat, "Resolved by", TIMEOUT_S)
    assert resolved["message_id"] == page["message_id"]
    assert len(stack.telegram.client.bot_messages(stack.chat)) == 1


def test_a_page_to_a_chat_that_blocked_the_bot_is_refused_once_and_not_retried(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory()
    stack.telegram.client.block_chats(stack.chat)
    stack.post("event_alert", trading_alert())
    row = wait_until(lambda: _outbox_row(stack.database, "refused"), TIMEOUT_S, what="the refused page")
    assert "403" in (row.last_error or "")
    assert outbox.drain(stack.resources.telegram(), stack.database, now=utcnow() + timedelta(days=1)).sent == 0


def _outbox_row(database: Database, status: str) -> OutboxMessage | None:
    with database.session() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.status == status))
        if row is not None:
            session.expunge(row)
        return row


def test_the_digest_goes_to_the_tier_2_topic(stack_factory: Callable[..., Stack], redis_client: redis.Redis) -> None:
    stack = stack_factory(alert_chat_id=FORUM_CHAT_ID, alert_tier1_thread_id=2, alert_tier2_thread_id=3)
    for n in range(11):
        stack.post("event_alert", hooks.event_alert(issue_id="401", tags={"component": "api"}, rule="x"))
    key = counters.window_key(BY_NAME["api_errors"])
    wait_until(lambda: redis_client.zcard(key) == 11, TIMEOUT_S, what="eleven counted API errors")
    assert router.digest(stack.resources).what == "digest"
    [digest] = stack.telegram.client.bot_messages(FORUM_CHAT_ID)
    assert digest["message_thread_id"] == 3
    assert "API errors spike</b>: 11 (threshold 10)" in digest["text"] or "API errors spike: 11" in digest["text"]
