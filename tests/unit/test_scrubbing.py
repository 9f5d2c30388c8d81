"""The scrubber: every kind of secret is replaced, and its fast paths never skip a text that holds one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.observability.scrubbing import (
    _PATTERNS,
    NEEDED_FRAGMENTS,
    REDACTED,
    SHORTEST_PATTERN_MATCH,
    Scrubber,
)

BOT_TOKEN = "7312345678:AAHfakeTokenForTests_0123456789abcdefXY"
SECRETS = [BOT_TOKEN, "dmarket-secret-" + "ab" * 20, "flower:pw-0123456789"]


def reference_text(secrets: list[str], value: str) -> str:
    """What Scrubber.text did before its fast paths: every secret, then all eight substitutions, always."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        value = value.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        value = pattern.sub(replacement, value)
    return value


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (f"POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage", "bot[Filtered]/sendMessage", "AAHfake"),
        ("token 123456789:AAH0123456789abcdefghijklmnopqrstu was used", "token [Filtered] was", "AAH0123"),
        ("X-Request-Sign: dmar ed25519 0a1b2c3d4e5f", "dmar ed25519 [Filtered]", "0a1b2c"),
        ("Authorization: bearer abcdefgh.ijkl-mnop", "Bearer [Filtered]", "ijkl-mnop"),
        ("auth BEARER abcdefgh.ijkl-mnop", "Bearer [Filtered]", "ijkl-mnop"),
        ("token sntrys_eyJpYXQiOjE3MDAwMDAwMDB9abcdef", "token [Filtered]", "eyJpYXQi"),
        ("/api/1/envelope/?sentry_key=0123456789abcdef0123", "sentry_key=[Filtered]", "0123456789abcdef"),
        ("postgresql+psycopg://bot:pg-Secret@db:5432/bot", "bot:[Filtered]@db", "pg-Secret"),
        ("redis://:hunter2@redis:6379/0", "redis://:[Filtered]@redis", "hunter2"),
        ("host=db user=bot PASSWORD = 'two words' dbname=bot", "PASSWORD = [Filtered] dbname", "two words"),
        (f"configured with {SECRETS[1]}!", "configured with [Filtered]!", "dmarket-secret"),
    ],
)
def test_every_kind_of_secret_is_replaced(text: str, kept: str, gone: str) -> None:
    scrubbed = Scrubber(SECRETS).text(text)
    assert kept in scrubbed
    assert gone not in scrubbed


def test_sensitive_keys_are_redacted_at_any_depth_in_dicts_lists_and_tuples() -> None:
    event = {
        "request": {"headers": {"Authorization": "Basic xyz", "Accept": "*/*"}},
        "breadcrumbs": {"values": [{"data": {"url": f"/bot{BOT_TOKEN}/getMe", "password": "x"}}]},
        "extra": {"pair": ("token", BOT_TOKEN), "count": 3, "ok": True, "none": None, "ratio": 0.5},
    }
    scrubbed = Scrubber([BOT_TOKEN]).data(event)
    assert scrubbed["request"]["headers"] == {"Authorization": REDACTED, "Accept": "*/*"}
    assert scrubbed["breadcrumbs"]["values"][0]["data"] == {"url": "/bot[Filtered]/getMe", "password": REDACTED}
    assert scrubbed["extra"] == {"pair": ("token", REDACTED), "count": 3, "ok": True, "none": None, "ratio": 0.5}


def test_a_str_or_dict_subclass_is_scrubbed_like_its_base() -> None:
    class Text(str):
        pass

    class Mapping(dict[str, Any]):
        pass

    scrubbed = Scrubber([BOT_TOKEN]).data([Text(f"bot{BOT_TOKEN}"), Mapping(token="t0k3n-value")])
    assert scrubbed == ["bot[Filtered]", {"token": REDACTED}]


def test_no_pattern_matches_fewer_characters_than_the_short_text_fast_path_skips() -> None:
    # The regex parser's own minimum width of each pattern: a shorter text cannot match any of them.
    widths = [re._parser.parse(pattern.pattern).getwidth()[0] for pattern, _ in _PATTERNS]  # type: ignore[attr-defined]
    assert min(widths) == SHORTEST_PATTERN_MATCH


def test_a_short_secret_is_still_found_in_a_short_text() -> None:
    # Settings pass secrets of 8 characters or more, but the scrubber itself must not rely on it.
    assert Scrubber(["pw12"]).text("a pw12") == f"a {REDACTED}"


@pytest.mark.parametrize(("pattern", "replacement"), _PATTERNS, ids=lambda p: getattr(p, "pattern", "")[:24])
def test_every_match_of_every_pattern_holds_a_needed_fragment(pattern: re.Pattern[str], replacement: str) -> None:
    @given(st.from_regex(pattern, fullmatch=True))
    @settings(max_examples=100, deadline=None)
    def check(match: str) -> None:
        assert any(fragment in match.lower() for fragment in NEEDED_FRAGMENTS), match

    check()


# Text made of the pieces the patterns are built from, so matches, near misses and overlaps are common.
_PIECES = st.sampled_from(
    [
        "bot",
        "7312345678",
        ":",
        "AAHfakeTokenForTests_0123456789abcdefXY",
        "dmar ed25519 ",
        "0a1b2c",
        "Bearer ",
        "bearer\t",
        "sntrys_",
        "eyJpYXQiOjE3MDAwMDAwMDB9abcdef",
        "sentry_key=",
        "0123456789abcdef",
        "postgresql://",
        "redis://",
        "user",
        "@",
        "/",
        "host",
        "password",
        "=",
        "'",
        " ",
        "\n",
        "é",
        "İ",
        "K",
        "[Filtered]",
        *SECRETS,
    ]
)
_TEXTS = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=12).map("".join)


@given(_TEXTS)
@settings(max_examples=600, deadline=None)
def test_the_fast_paths_give_exactly_what_the_plain_substitutions_give(text: str) -> None:
    assert Scrubber(SECRETS).text(text) == reference_text(SECRETS, text)


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXTS),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["message", "url", "token", "Password", "data", "value"]), children, max_size=4
        ),
    ),
    max_leaves=20,
)


@given(_JSON)
@settings(max_examples=150, deadline=None)
def test_nested_data_is_scrubbed_leaf_by_leaf_as_the_plain_substitutions_would(value: Any) -> None:
    def reference(item: Any) -> Any:
        if isinstance(item, str):
            return reference_text(SECRETS, item)
        if isinstance(item, dict):
            return {k: REDACTED if k.lower() in {"token", "password"} and v else reference(v) for k, v in item.items()}
        if isinstance(item, list):
            return [reference(v) for v in item]
        return item

    assert Scrubber(SECRETS).data(value) == reference(value)


def test_the_fragment_check_in_text_is_the_one_named_in_needed_fragments() -> None:
    # Scrubber.text spells the fragments out for speed; a text holding just one of them must reach the patterns.
    for fragment in NEEDED_FRAGMENTS:
        assert Scrubber().text(f"x{fragment.upper()}y" * 2) == reference_text([], f"x{fragment.upper()}y" * 2)
    assert set(NEEDED_FRAGMENTS) == {":", "=", "dmar ed25519 ", "bearer", "sntrys_"}
