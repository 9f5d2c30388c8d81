"""Server-side waiting for long polls: wake on state changes, give up at the deadline or when the client leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request

from sandbox.telegram.state import SandboxState


async def _client_gone(request: Request) -> None:
    # Once the body is read, the next ASGI message is http.disconnect. Noticing it ends an abandoned long
    # poll at once instead of holding the connection (and server shutdown) until its timeout.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def wait_until(state: SandboxState, ready: Callable[[], bool], timeout_s: float, request: Request) -> bool:
    """Wait until ``ready()`` is true (checked after every state change); return its final value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        while not ready():
            remaining = deadline - loop.time()
            if remaining <= 0 or gone.done():
                return False
            # Take the event before waiting: notify() replaces it, so no change between check and wait is lost.
            changed = asyncio.ensure_future(state.changes.current().wait())
            try:
                await asyncio.wait({changed, gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
        return True
    finally:
        gone.cancel()


async def pause(state: SandboxState, request: Request, delay_s: float) -> str:
    """Wait out an injected delay: ``"elapsed"``, or ``"gone"`` (the client hung up) / ``"reset"`` (state reset).

    Cutting the wait short on those keeps a long delay from outliving its caller or its test.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay_s
    epoch = state.epoch
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        while True:
            if state.epoch != epoch:
                return "reset"
            if gone.done():
                return "gone"
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "elapsed"
            changed = asyncio.ensure_future(state.changes.current().wait())
            try:
                await asyncio.wait({changed, gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
    finally:
        gone.cancel()


async def client_gone_within(request: Request, timeout_s: float) -> bool:
    """Whether the client's disconnect is seen within ``timeout_s`` (after the server closed the connection)."""
    try:
        await asyncio.wait_for(_client_gone(request), timeout_s)
    except TimeoutError:
        return False
    return True
