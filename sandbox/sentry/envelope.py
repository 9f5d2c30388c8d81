"""Sentry ingestion wire format: body decompression, the envelope format and client authentication.

Reference: https://develop.sentry.dev/sdk/data-model/envelopes/ and the auth section of the SDK docs.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import brotli


class EnvelopeError(ValueError):
    """The request body is not a well-formed (compressed) envelope or event."""


@dataclass(frozen=True)
class EnvelopeItem:
    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))

    def json(self) -> Any:
        try:
            return json.loads(self.payload)
        except ValueError as exc:
            raise EnvelopeError(f"item of type {self.type!r} is not valid JSON: {exc}") from exc


@dataclass(frozen=True)
class Envelope:
    headers: dict[str, Any]
    items: list[EnvelopeItem] = field(default_factory=list)


def decompress(body: bytes, content_encoding: str | None) -> bytes:
    """Undo ``Content-Encoding`` the way Relay does: gzip, deflate, br, or identity."""
    encoding = (content_encoding or "identity").strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "br":
            return bytes(brotli.decompress(body))
    except (OSError, EOFError, zlib.error, brotli.error) as exc:
        raise EnvelopeError(f"body is not valid {encoding}: {exc}") from exc
    if encoding != "identity":
        raise EnvelopeError(f"unsupported Content-Encoding {encoding!r}")
    return body


def _json_object(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line) if line.strip() else {}
    except ValueError as exc:
        raise EnvelopeError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} must be a JSON object")
    return value


def parse_envelope(data: bytes) -> Envelope:
    """Parse newline-delimited envelope bytes.

    An item's payload is exactly ``length`` bytes when the item header gives a length (it may then
    contain newlines), otherwise it runs to the next newline or the end of the body.
    """
    header_line, _, rest = data.partition(b"\n")
    envelope = Envelope(headers=_json_object(header_line, "envelope header"))
    pos = 0
    while pos < len(rest):
        end = rest.find(b"\n", pos)
        line_end = len(rest) if end < 0 else end
        item_line = rest[pos:line_end]
        pos = line_end + 1
        if not item_line.strip():
            continue  # blank lines between items and a trailing newline are allowed
        item_headers = _json_object(item_line, "item header")
        length = item_headers.get("length")
        if length is not None:
            if not isinstance(length, int) or length < 0 or pos + length > len(rest):
                raise EnvelopeError(f"item length {length!r} does not fit the body")
            payload = rest[pos : pos + length]
            pos += length
            if rest[pos : pos + 1] == b"\n":
                pos += 1
        else:
            end = rest.find(b"\n", pos)
            payload_end = len(rest) if end < 0 else end
            payload = rest[pos:payload_end]
            pos = payload_end + 1
        envelope.items.append(EnvelopeItem(headers=item_headers, payload=payload))
    return envelope


def parse_auth_header(value: str) -> dict[str, str]:
    """``Sentry sentry_key=abc, sentry_version=7, sentry_client=x`` → ``{"sentry_key": "abc", ...}``."""
    value = value.strip()
    if value[:7].lower() == "sentry ":
        value = value[7:]
    pairs = (part.strip().partition("=") for part in value.split(","))
    return {key.strip(): val.strip() for key, sep, val in pairs if sep}


@dataclass(frozen=True)
class Dsn:
    public_key: str
    project_id: str


def parse_dsn(value: str) -> Dsn | None:
    """The public key and project id of ``scheme://key@host/path/project_id``, or None if malformed."""
    parts = urlsplit(value)
    project_id = parts.path.rstrip("/").rpartition("/")[2]
    if not parts.username or not project_id:
        return None
    return Dsn(public_key=parts.username, project_id=project_id)


def find_public_key(
    headers: Mapping[str, str], query: Mapping[str, str], envelope_headers: Mapping[str, Any]
) -> str | None:
    """The client's public key, looked up where Relay looks: auth header, query string, envelope ``dsn``."""
    auth_header = headers.get("x-sentry-auth")
    if auth_header:
        key = parse_auth_header(auth_header).get("sentry_key")
        if key:
            return key
    if query.get("sentry_key"):
        return query["sentry_key"]
    dsn_value = envelope_headers.get("dsn")
    if isinstance(dsn_value, str):
        dsn = parse_dsn(dsn_value)
        if dsn is not None:
            return dsn.public_key
    return None
