"""What /test_sentry produced, where to find it, and the report text that replaces "queued". Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote, urlsplit

from common.i18n import N_, Language, translator
from common.texts import Messages, translate

# Tags every test event carries; the weekly cleanup and the alert rules match on them.
TEST_TAGS = {"test": "true", "source": "test_sentry"}

# What the test events say, and so the titles Sentry gives their issues. The cleanup also recognises untagged
# test issues by these exact titles (worker/cleanup/policy.py), so they live here, once. The api_error test now
# raises the real RateLimitError, whose title a real rate limit shares: only the test tags mark it, so its
# title is not on the list; the RuntimeError title earlier versions sent still is, for the issues they left.
BREADCRUMBS_MESSAGE = "Test breadcrumbs: the trail of an arbitrage scan"
ERROR_MESSAGE = "Test error: raised on purpose by /test_sentry to check error reporting"
LEGACY_API_ERROR_MESSAGE = (
    "API Rate Limit: DMarket answered 429 to GET /marketplace-api/v1/items, retry after 60s (test)"
)
SELFTEST_TITLES = frozenset(
    {BREADCRUMBS_MESSAGE, f"ValueError: {ERROR_MESSAGE}", f"RuntimeError: {LEGACY_API_ERROR_MESSAGE}"}
)
# Free-text searches that find those titles (Sentry matches substrings, case-insensitively).
SELFTEST_TITLE_SEARCH_TERMS = ("Test breadcrumbs", "raised on purpose by /test_sentry", "API Rate Limit")


def fingerprint(test: str) -> list[str]:
    """One stable issue per test type, whatever the message says, so cleanup and counting are reliable."""
    return ["test_sentry", test]


class Failure(Enum):
    """Why a test produced no event."""

    SENTRY_OFF = "sentry_off"  # no DSN in the worker
    NOT_SENT = "not_sent"  # the SDK returned no event id (dropped by a hook, sampling or a rate limit)
    CRASHED = "crashed"  # producing the event raised something unexpected


class Delivery(Enum):
    """What is known of a sent event's arrival."""

    CONFIRMED = "confirmed"  # Sentry's Web API shows it
    NOT_CONFIRMED = "not_confirmed"  # Sentry did not show it within the deadline (down, hung, dropping it)
    UNCHECKED = "unchecked"  # no Web API credentials to look with


@dataclass(frozen=True)
class EventOutcome:
    """What one test did: the event it sent (id, title, whether it arrived) or why it sent none."""

    test: str
    event_id: str | None = None
    title: str | None = None
    failure: Failure | None = None
    detail: str | None = None  # for CRASHED: the exception type, never its message (it could hold a secret)
    delivery: Delivery | None = None  # for a sent event, once looked for

    @property
    def ok(self) -> bool:
        """The test did what it is for: an event sent and not found missing."""
        return self.event_id is not None and self.delivery is not Delivery.NOT_CONFIRMED

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "failure": self.failure.value if self.failure else None,
            "delivery": self.delivery.value if self.delivery else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventOutcome:
        failure = data.get("failure")
        return cls(
            test=str(data["test"]),
            event_id=data.get("event_id"),
            title=data.get("title"),
            failure=Failure(failure) if failure else None,
            detail=data.get("detail"),
            delivery=Delivery(data["delivery"]) if data.get("delivery") else None,
        )


def event_url(api_url: str, organization: str | None, event_id: str) -> str | None:
    """Where a person finds the event: Sentry's issue search resolves a bare event id to its event.

    sentry.io (and its regional API hosts such as de.sentry.io) serves the UI on the organisation's
    subdomain; a self-hosted Sentry serves it under /organizations/<org>/ on SENTRY_API_URL.
    """
    if not organization:
        return None
    host = urlsplit(api_url).hostname or ""
    org, query = quote(organization, safe=""), quote(event_id, safe="")
    if host == "sentry.io" or host.endswith(".sentry.io"):
        return f"https://{org}.sentry.io/issues/?query={query}"
    return f"{api_url.rstrip('/')}/organizations/{org}/issues/?query={query}"


REPORT_TEXTS: Messages = {
    "header": N_("🧪 Sentry tests: {tests}"),
    Delivery.CONFIRMED.value: N_("✅ {test}: delivered, event {event_id}"),
    Delivery.NOT_CONFIRMED.value: N_(
        "⚠️ {test}: sent, but Sentry did not show event {event_id} within {wait}; it may be lost"
    ),
    Delivery.UNCHECKED.value: N_(
        "📤 {test}: sent, event {event_id} (to check its delivery, set SENTRY_AUTH_TOKEN with project:read)"
    ),
    "failed": N_("❌ {test}: {reason}"),
    Failure.SENTRY_OFF.value: N_("Sentry is off in the worker (SENTRY_DSN is not set), no event sent"),
    Failure.NOT_SENT.value: N_("the SDK did not send the event (dropped by a filter, sampling or a rate limit)"),
    Failure.CRASHED.value: N_("the test itself failed with {detail}, see the worker's logs"),
    "off_summary": N_(
        "⚠️ Sentry is off: set SENTRY_DSN for the bot and the workers. Nothing is broken; events just go nowhere."
    ),
    "not_confirmed_summary": N_(
        "⚠️ Sentry did not confirm every event: check SENTRY_DSN, Sentry's reachability and the project's limits."
    ),
    "trace": N_("Trace: {trace_id}"),
    "where": N_("In Sentry: Issues → search test:true source:test_sentry"),
}


def _t(key: str, language: Language, **values: object) -> str:
    return translate(REPORT_TEXTS, key, language, **values)


def format_report(
    outcomes: Sequence[EventOutcome],
    language: Language,
    *,
    trace_id: str | None = None,
    api_url: str = "https://sentry.io",
    organization: str | None = None,
    confirm_timeout_s: float = 15.0,
) -> str:
    """The chat message that replaces "queued": one line per test, then where to look."""
    lines = [_t("header", language, tests=", ".join(o.test for o in outcomes))]
    for outcome in outcomes:
        if outcome.event_id is not None:
            delivery = outcome.delivery or Delivery.UNCHECKED
            line = _t(
                delivery.value,
                language,
                test=outcome.test,
                event_id=outcome.event_id,
                wait=translator(language).timeout(confirm_timeout_s),
            )
            if outcome.title:
                line += f" — {outcome.title}"
            url = event_url(api_url, organization, outcome.event_id)
            lines.append(f"{line}\n   {url}" if url else line)
        else:
            failure = outcome.failure or Failure.NOT_SENT
            reason = _t(failure.value, language, detail=outcome.detail or "?")
            lines.append(_t("failed", language, test=outcome.test, reason=reason))
    if outcomes and all(o.failure is Failure.SENTRY_OFF for o in outcomes):
        lines.append(_t("off_summary", language))
        return "\n".join(lines)
    if any(o.delivery is Delivery.NOT_CONFIRMED for o in outcomes):
        lines.append(_t("not_confirmed_summary", language))
    if trace_id:
        lines.append(_t("trace", language, trace_id=trace_id))
    lines.append(_t("where", language))
    return "\n".join(lines)
