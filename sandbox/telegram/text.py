"""Message text the way Telegram measures and parses it: UTF-16 offsets, HTML parse mode, bot commands.

The HTML parser follows tdlib's rules (the server behind the Bot API) rather than a browser's: only the
documented tags are allowed, a bare ``<`` is an error, unknown named entities stay literal, and errors name
the UTF-8 byte offset. That strictness is the point: a bot that forgets to escape user text must fail here
exactly as it would in production.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT_UTF16 = 4096

# tag -> entity type; a/pre/code/span/tg-emoji/blockquote get attribute-dependent handling below.
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_SUPPORTED_TAGS = {*_SIMPLE_TAGS, "a", "span", "tg-emoji", "blockquote"}
# Telegram decodes only these named entities (plus all numeric ones); anything else stays literal text.
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{1,10}));")
_TAG_NAME_RE = re.compile(r"[a-zA-Z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[a-zA-Z0-9_-]*")
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w@])")


class EntityParseError(ValueError):
    """HTML that Telegram would refuse; the message is the part after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram offset and length."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[dict[str, Any]]:
    """``bot_command`` entities for every ``/command`` or ``/command@bot`` in ``text``, as Telegram adds them."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())}
        for m in _COMMAND_RE.finditer(text)
    ]


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    offset: int  # UTF-16 offset in the output text where the tag's content starts
    language: str | None = None  # set on <pre> by an inner <code class="language-...">


@dataclass
class _HtmlParser:
    source: str
    out: list[str] = field(default_factory=list)
    out_len: int = 0
    stack: list[_OpenTag] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode())

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.out_len += utf16_len(text)

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        src, i = self.source, 0
        while i < len(src):
            char = src[i]
            if char == "<":
                i = self.end_tag(i) if src.startswith("</", i) else self.start_tag(i)
            elif char == "&":
                i = self.entity(i)
            else:
                # Copy the run of plain text up to the next markup character in one go.
                j = i + 1
                while j < len(src) and src[j] not in "<&":
                    j += 1
                self.emit(src[i:j])
                i = j
        if self.stack:
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def entity(self, i: int) -> int:
        match = _ENTITY_RE.match(self.source, i)
        decoded: str | None = None
        if match and match.group(1):
            decoded = chr(int(match.group(1))) if int(match.group(1)) <= 0x10FFFF else None
        elif match and match.group(2):
            decoded = chr(int(match.group(2), 16)) if int(match.group(2), 16) <= 0x10FFFF else None
        elif match:
            decoded = _NAMED_ENTITIES.get(match.group(3))
        if match is None or decoded is None:
            self.emit("&")
            return i + 1
        self.emit(decoded)
        return match.end()

    def start_tag(self, i: int) -> int:
        src = self.source
        name_match = _TAG_NAME_RE.match(src, i + 1)
        assert name_match is not None  # the pattern accepts the empty string
        name = name_match.group().lower()
        if name not in _SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {self.byte_offset(i)}')
        j, attrs = name_match.end(), dict[str, str]()
        while True:
            while j < len(src) and src[j].isspace():
                j += 1
            if j >= len(src):
                raise EntityParseError(f"Unclosed start tag at byte offset {self.byte_offset(i)}")
            if src[j] == ">":
                break
            j = self.attribute(i, j, name, attrs)
        self.open(name, attrs, i)
        return j + 1

    def attribute(self, tag_start: int, j: int, tag: str, attrs: dict[str, str]) -> int:
        src = self.source
        attr_match = _ATTR_NAME_RE.match(src, j)
        assert attr_match is not None
        attr = attr_match.group().lower()
        if not attr:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {self.byte_offset(tag_start)}'
            )
        j = attr_match.end()
        if j < len(src) and src[j] != "=" and (src[j].isspace() or src[j] == ">"):
            # A bare attribute such as <blockquote expandable>.
            attrs[attr] = ""
            return j
        if j >= len(src) or src[j] != "=":
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                f"at byte offset {self.byte_offset(tag_start)}"
            )
        j += 1
        if j < len(src) and src[j] in "'\"":
            end = src.find(src[j], j + 1)
            if end < 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {self.byte_offset(tag_start)}")
            attrs[attr] = html.unescape(src[j + 1 : end])
            return end + 1
        end = j
        while end < len(src) and not src[end].isspace() and src[end] != ">":
            end += 1
        attrs[attr] = html.unescape(src[j:end])
        return end

    def open(self, name: str, attrs: dict[str, str], i: int) -> None:
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(i)}')
        self.stack.append(_OpenTag(name, attrs, self.out_len))

    def end_tag(self, i: int) -> int:
        src = self.source
        name_match = _TAG_NAME_RE.match(src, i + 2)
        assert name_match is not None
        name, j = name_match.group().lower(), name_match.end()
        while j < len(src) and src[j].isspace():
            j += 1
        if j >= len(src) or src[j] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {self.byte_offset(i)}")
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {self.byte_offset(i)}")
        top = self.stack[-1]
        if top.name != name:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {self.byte_offset(i)}, expected "</{top.name}>", found "</{name}>"'
            )
        self.stack.pop()
        self.close(top)
        return j + 1

    def close(self, tag: _OpenTag) -> None:
        length = self.out_len - tag.offset
        parent = self.stack[-1] if self.stack else None
        language = tag.attrs.get("class", "").removeprefix("language-") if tag.name == "code" else ""
        if tag.name == "code" and parent is not None and parent.name == "pre" and language:
            # <pre><code class="language-x"> is one pre entity with a language, not two entities.
            parent.language = language
            return
        entity = _entity_for(tag)
        if entity is not None and length > 0:
            self.entities.append({**entity, "offset": tag.offset, "length": length})


def _entity_for(tag: _OpenTag) -> dict[str, Any] | None:
    if tag.name in _SIMPLE_TAGS:
        entity: dict[str, Any] = {"type": _SIMPLE_TAGS[tag.name]}
        if tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        return entity
    if tag.name == "span":
        return {"type": "spoiler"}
    if tag.name == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"}
    if tag.name == "tg-emoji":
        emoji_id = tag.attrs.get("emoji-id")
        return {"type": "custom_emoji", "custom_emoji_id": emoji_id} if emoji_id else None
    href = tag.attrs.get("href", "")
    user = re.fullmatch(r"tg://user\?id=(\d+)", href)
    if user:
        return {"type": "text_mention", "user": {"id": int(user.group(1)), "is_bot": False, "first_name": ""}}
    return {"type": "text_link", "url": href} if href else None


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities for an HTML-formatted message, or :class:`EntityParseError`."""
    return _HtmlParser(source).parse()


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace as Telegram does, moving and clipping the entities with the text."""
    left = text.lstrip()
    shift = utf16_len(text) - utf16_len(left)
    stripped = left.rstrip()
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept
