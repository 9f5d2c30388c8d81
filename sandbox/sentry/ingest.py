"""Event ingestion as Relay exposes it to SDKs: ``/api/<project_id>/envelope/`` and legacy ``/store/``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .envelope import Envelope, EnvelopeError, EnvelopeItem, decompress, find_public_key, parse_envelope
from .models import StoredEvent, now_ms
from .notifications import after_error_event
from .responses import base_url, detail, fault_response, sentry_state
from .store import RawEnvelope, SentryState, new_event_id

ENDPOINT = "envelope"  # fault-queue name for both ingestion routes
STORED_ITEM_TYPES = frozenset({"event", "transaction", "check_in"})  # others are only counted


class IngestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = detail(status, message)


async def _decoded_body(request: Request, state: SentryState) -> bytes:
    """Decompress the body and keep a copy of exactly what arrived, for leak checks."""
    encoding = request.headers.get("content-encoding")
    try:
        body = decompress(await request.body(), encoding)
    except EnvelopeError as exc:
        raise IngestError(400, f"invalid body: {exc}") from None
    state.raw_envelopes.append(RawEnvelope(request.url.path, now_ms(), encoding, body))
    return body


def _authenticate(request: Request, state: SentryState, envelope_headers: dict[str, Any]) -> str:
    if request.path_params["project_id"] != str(state.project.id):
        raise IngestError(404, "unknown project")
    key = find_public_key(request.headers, request.query_params, envelope_headers)
    if key is None:
        raise IngestError(401, "missing authorization information")
    if state.public_keys and key not in state.public_keys:
        raise IngestError(403, "event submission rejected: unknown public key")
    return key


def _payload(item: EnvelopeItem) -> dict[str, Any]:
    try:
        payload = item.json()
    except EnvelopeError as exc:
        raise IngestError(400, str(exc)) from None
    if not isinstance(payload, dict):
        raise IngestError(400, f"{item.type} payload must be a JSON object")
    return payload


def _store(request: Request, state: SentryState, envelope: Envelope, public_key: str) -> list[str]:
    """Store the event-like items and count every item; returns the stored event ids.

    Every payload is parsed before anything is stored, so a malformed item rejects the whole
    envelope instead of leaving half of it behind.
    """
    stored_types = [item for item in envelope.items if item.type in STORED_ITEM_TYPES]
    payloads = [(item, _payload(item)) for item in stored_types]
    state.item_counts.update(item.type or "unknown" for item in envelope.items)
    event_ids = []
    for item, payload in payloads:
        # A check-in is identified by its check_in_id (shared by in_progress/ok pairs), an event by event_id.
        own_id = payload.get("check_in_id") if item.type == "check_in" else payload.get("event_id")
        stored = StoredEvent(
            event_id=str(own_id or envelope.headers.get("event_id") or new_event_id()),
            type=item.type,
            payload=payload,
            envelope_headers=envelope.headers,
            item_headers=item.headers,
            request_headers=dict(request.headers),
            public_key=public_key,
            received_ms=now_ms(),
        )
        if item.type == "event":
            after_error_event(state, state.store_error_event(stored), base_url(request))
        else:
            state.store_other(stored)
        event_ids.append(stored.event_id)
    return event_ids


def _ingest(request: Request, state: SentryState, envelope: Envelope) -> Response:
    public_key = _authenticate(request, state, envelope.headers)
    event_ids = _store(request, state, envelope, public_key)
    event_id = envelope.headers.get("event_id") or next(iter(event_ids), None)
    return JSONResponse({"id": event_id} if event_id else {})


def _store_body_as_envelope(body: bytes) -> Envelope:
    """The legacy store endpoint takes one bare event; treat it as a one-item envelope."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise IngestError(400, f"invalid event JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise IngestError(400, "event must be a JSON object")
    item_type = "transaction" if payload.get("type") == "transaction" else "event"
    return Envelope(headers={}, items=[EnvelopeItem({"type": item_type}, body)])


def _dropped_reply(body: bytes, state: SentryState) -> Response:
    """A black-holed envelope: Sentry's 200 with the envelope's event id, and nothing stored."""
    state.dropped_envelopes += 1
    header_line = body.partition(b"\n")[0]
    try:
        header = json.loads(header_line) if header_line.strip().startswith(b"{") else {}
    except ValueError:
        header = {}
    event_id = header.get("event_id") if isinstance(header, dict) else None
    return JSONResponse({"id": event_id} if event_id else {})


async def envelope_endpoint(request: Request) -> Response:
    state = sentry_state(request)
    fault = state.faults.take(ENDPOINT, request.method)
    if fault is not None:
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)  # an injected hold; the state is read after it
            state = sentry_state(request)
        if fault.status is not None:
            return fault_response(fault, ingestion=True, limit=state.rate_limiter.limit_for(ENDPOINT))
        if fault.drop:
            try:
                body = decompress(await request.body(), request.headers.get("content-encoding"))
            except EnvelopeError:
                body = b""
            return _dropped_reply(body, state)
    try:
        body = await _decoded_body(request, state)
        if request.url.path.endswith("/store/"):
            envelope = _store_body_as_envelope(body)
        else:
            try:
                envelope = parse_envelope(body)
            except EnvelopeError as exc:
                raise IngestError(400, f"invalid envelope: {exc}") from None
        return _ingest(request, state, envelope)
    except IngestError as exc:
        return exc.response


def routes() -> list[Route]:
    return [
        Route("/api/{project_id}/envelope/", envelope_endpoint, methods=["POST"], name="envelope"),
        Route("/api/{project_id}/store/", envelope_endpoint, methods=["POST"], name="store"),
    ]
