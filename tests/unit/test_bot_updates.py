"""The bot's update processor: a chat's updates one after another in order; other chats and the bound meanwhile."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Update

from bot.updates import ChatOrderedUpdateProcessor


def update(update_id: int, chat_id: int) -> Update:
    chat = {"id": chat_id, "type": "private"}
    message = {"message_id": update_id, "date": 0, "chat": chat, "text": "/start"}
    return Update.de_json({"update_id": update_id, "message": message}, None)


async def _scenario() -> list[str]:
    processor = ChatOrderedUpdateProcessor(running=2)
    order: list[str] = []
    first_may_end = asyncio.Event()

    async def handler(name: str, gate: asyncio.Event | None = None) -> None:
        order.append(f"{name} start")
        if gate is not None:
            await gate.wait()
        order.append(f"{name} end")

    a1 = asyncio.create_task(processor.process_update(update(1, 10), handler("a1", first_may_end)))
    a2 = asyncio.create_task(processor.process_update(update(2, 10), handler("a2")))
    b1 = asyncio.create_task(processor.process_update(update(3, 20), handler("b1")))
    await asyncio.wait_for(b1, 5)  # chat 20 is not held up by chat 10's first update
    assert "a2 start" not in order  # chat 10's second update waits for its first
    assert processor.chats_waiting == 1
    first_may_end.set()
    await asyncio.wait_for(asyncio.gather(a1, a2), 5)
    assert processor.chats_waiting == 0  # nothing kept for chats that went quiet
    return order


def test_a_chats_updates_run_in_order_while_other_chats_go_ahead() -> None:
    order = asyncio.run(_scenario())
    assert order.index("b1 end") < order.index("a1 end")
    assert order.index("a1 end") < order.index("a2 start")


async def _bounded() -> int:
    processor = ChatOrderedUpdateProcessor(running=3)
    release = asyncio.Event()
    running = 0
    peak = 0

    async def handler() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    tasks = [asyncio.create_task(processor.process_update(update(i, 100 + i), handler())) for i in range(10)]
    for _ in range(50):  # let every task reach the semaphore
        await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    return peak


def test_no_more_handlers_run_at_once_than_the_setting_allows() -> None:
    assert asyncio.run(_bounded()) == 3


def test_a_processor_without_room_to_run_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ChatOrderedUpdateProcessor(running=0)
