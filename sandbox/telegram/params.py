"""Bot API request parameters: read them from any body Telegram accepts and coerce them per field.

Telegram takes the query string, JSON, urlencoded and multipart bodies alike. In form bodies every value is a
string, and python-telegram-bot sends non-string values JSON-encoded (``chat_id=42``,
``reply_markup={"inline_keyboard": ...}``), so the type of a value depends on the field, not on the body.
"""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from sandbox.telegram.state import ApiError, bad_request


async def read_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        params.update(_json_body(body))
    elif kind == "multipart/form-data":
        params.update(_multipart_body(content_type, body))
    else:
        # Telegram treats an unlabelled body as urlencoded too.
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise bad_request("can't parse JSON object") from None
    if not isinstance(parsed, dict):
        raise bad_request("JSON object expected")
    return parsed


def _multipart_body(content_type: str, body: bytes) -> dict[str, Any]:
    # The stdlib MIME parser is enough for form-data and avoids a python-multipart dependency.
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise bad_request("can't parse multipart/form-data body")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        fields[name] = {"filename": filename, "size": len(data)} if filename else data.decode("utf-8", "replace")
    return fields


def _wrong(name: str) -> ApiError:
    return bad_request(f"wrong parameter {name} in request")


def get_str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _wrong(name)


def get_int(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _wrong(name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _wrong(name) from None


def get_bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise _wrong(name)


def get_json(params: dict[str, Any], name: str, error: str | None = None) -> Any:
    """A structured value: as-is from a JSON body, decoded from its JSON text in a form body."""
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise bad_request(error or f"can't parse {name} JSON object") from None


def get_chat_id(params: dict[str, Any]) -> int | str:
    """A numeric chat id or a public ``@username``, as Telegram accepts them."""
    value = params.get("chat_id")
    if value is None or value == "":
        raise bad_request("chat_id is empty")
    if isinstance(value, str) and value.startswith("@"):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request("chat not found") from None
