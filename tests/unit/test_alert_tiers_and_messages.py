"""The pure half of the alerts: which tier an alert falls under, and what its page says (escaped, bounded)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.contract import AlertTask, alert_callback_data, parse_alert_callback
from worker.alerts.messages import PageState, page_keyboard, render_page, safe_link
from worker.alerts.tiers import BY_NAME, classify
from worker.telegram.sender import MAX_MESSAGE_UTF16, utf16_len


def alert(**fields: Any) -> AlertTask:
    values: dict[str, Any] = {
        "request_id": "r1",
        "resource": "event_alert",
        "action": "triggered",
        "title": "RuntimeError: boom",
        "level": "error",
        "received_at_s": 0.0,
        "issue_id": "7",
    }
    return AlertTask(**{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"level": "fatal"}, "bot_crashed"),
        ({"level": "fatal", "component": "database"}, "database_down"),
        ({"level": "error", "component": "database"}, None),  # database errors page only when fatal
        ({"level": "error", "component": "trading"}, "trading_failed"),
        ({"level": "fatal", "component": "trading"}, "trading_failed"),
        ({"level": "warning", "component": "trading"}, None),
        ({"level": "warning", "exception_type": "AuthenticationError"}, "auth_failed"),
        ({"exception_type": "worker.dmarket.errors.AuthenticationError"}, "auth_failed"),
        ({"exception_type": "RateLimitError"}, "rate_limit"),
        ({"level": "error", "component": "api"}, "api_errors"),
        ({"level": "warning", "component": "api"}, None),
        ({"level": "error"}, None),
        ({"rule": "Rate limit", "exception_type": None}, "rate_limit"),  # Sentry said which of our rules fired
        ({"rule": "Somebody else's rule", "level": "info"}, None),
        ({"resource": "metric_alert", "issue_id": None, "level": "warning"}, "metric_alert"),
    ],
)
def test_tier_rules_decide_on_level_component_and_exception_type(fields: dict[str, Any], rule: str | None) -> None:
    matched = classify(alert(**fields))
    assert (matched.name if matched else None) == rule


def test_the_tier_table_is_the_design_s() -> None:
    assert {name: (r.tier, r.emoji, r.threshold) for name, r in BY_NAME.items() if r.sentry_name} == {
        "database_down": (1, "🗄️", None),
        "trading_failed": (1, "💰", None),
        "auth_failed": (1, "🔑", None),
        "bot_crashed": (1, "🚨", None),
        "rate_limit": (2, "⚠️", 5),
        "api_errors": (2, "📉", 10),
    }


def _plain(page: str) -> str:
    """What Telegram shows: the HTML's text."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_every_sentry_field_is_escaped() -> None:
    hostile = alert(
        title="<script>alert(1)</script> & <b>",
        culprit="a < b && c",
        rule="rule <i>",
        environment="prod&<",
        release="1.0<",
        short_id="X-<1>",
        url='https://sentry.io/x?a=1&b="2"',
        level="fatal",
    )
    page = render_page(hostile, BY_NAME["bot_crashed"], PageState(), "en")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "&amp; &lt;b&gt;" in page
    assert 'href="https://sentry.io/x?a=1&amp;b=&quot;2&quot;"' in page
    tags = re.findall(r"</?([a-z]+)", page)
    assert set(tags) <= {"b", "code", "a"}
    assert "<script>alert(1)</script> & <b>" in _plain(page)


def test_a_link_that_is_not_http_is_dropped() -> None:
    assert safe_link("javascript:alert(1)") is None
    assert safe_link("https://sentry.io/issues/1/") == "https://sentry.io/issues/1/"


@given(title=st.text(min_size=0, max_size=6000), culprit=st.text(max_size=3000))
def test_a_page_fits_telegram_and_is_never_cut_inside_an_entity(title: str, culprit: str) -> None:
    page = render_page(
        alert(title=title or "x", culprit=culprit or None, level="fatal"), BY_NAME["bot_crashed"], PageState(), "ru"
    )
    assert utf16_len(page) <= MAX_MESSAGE_UTF16
    # Every & starts a complete entity, every < a complete tag of ours.
    assert not re.search(r"&(?!(amp|lt|gt|quot|#x27);)", page)
    assert all(tag in ("b", "/b", "code", "/code", "a", "/a") for tag in re.findall(r"<(/?[a-z]+)", page))


def test_pages_speak_russian_by_default_and_english_when_asked() -> None:
    ru = render_page(alert(level="fatal", count=3), BY_NAME["bot_crashed"], PageState(), "ru")
    en = render_page(alert(level="fatal", count=3), BY_NAME["bot_crashed"], PageState(), "en")
    assert "Бот упал" in ru
    assert "Событий: 3" in ru
    assert "Bot crashed" in en
    assert "Events: 3" in en


def test_buttons_fit_in_64_bytes_and_map_back_to_the_page() -> None:
    keyboard = page_keyboard("0123456789ab", "open", "ru")
    assert keyboard is not None
    datas = [button["callback_data"] for button in keyboard["inline_keyboard"][0]]
    assert all(len(data.encode()) <= 64 for data in datas)
    assert [parse_alert_callback(data) for data in datas] == [
        ("resolve", "0123456789ab"),
        ("archive", "0123456789ab"),
        ("mute", "0123456789ab"),
    ]
    assert parse_alert_callback("alert:resolve:../../etc") is None
    assert parse_alert_callback(alert_callback_data("delete", "0123456789ab")) is None
    assert page_keyboard("0123456789ab", "resolved", "ru") == {"inline_keyboard": []}
