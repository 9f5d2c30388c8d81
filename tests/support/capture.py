"""A sentry-sdk transport that keeps every envelope in memory, as sentry-python's own tests do."""

from __future__ import annotations

import threading
from typing import Any

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport


class CapturingTransport(Transport):
    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)

    def items(self, item_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                item.payload.json
                for env in self.envelopes
                for item in env.items
                if item.type == item_type and item.payload.json is not None
            ]

    def serialized(self) -> bytes:
        """Every envelope as it would go over the wire, for leak checks."""
        with self._lock:
            return b"\n".join(env.serialize() for env in self.envelopes)
