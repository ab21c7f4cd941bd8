"""The ``outbox`` option of AsyncEventListener: the blocking listener's outbox and
sender thread, the commit a fire waits for run off the event loop; real ZeroMQ
sockets to a consumer in a process of its own."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zeroevents_core import AsyncEventListener, Dispatcher
from zeroevents_core.outbox.store import inspect_outbox

sys.path.insert(0, str(Path(__file__).parent))
from test_outbox_delivery import Consumer, wait_for_lines


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    started: list[Consumer] = []
    yield started
    for consumer in started:
        consumer.kill()


def aproducer(endpoint: str, outbox: Path, **options: Any) -> tuple[Dispatcher, Any]:
    dispatcher = Dispatcher()
    listener = AsyncEventListener(
        {"connect": endpoint, "socket_type": "DEALER", "outbox": str(outbox), **options},
        dispatcher,
    )
    dispatcher.listen("orders.*", listener)
    return dispatcher, listener


def test_fired_events_are_delivered_and_the_loop_is_not_blocked(
    tmp_path: Path, consumers: list[Consumer]
) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    consumers.append(Consumer(endpoint, tmp_path / "consumer.txt"))
    dispatcher, listener = aproducer(endpoint, tmp_path / "outbox.db")
    ticks = 0

    async def ticker(done: asyncio.Event) -> None:
        nonlocal ticks
        while not done.is_set():  # bounded by the fires below
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> None:
        done = asyncio.Event()
        ticking = asyncio.create_task(ticker(done))
        await asyncio.sleep(0)
        before = ticks
        for n in range(1, 501):
            assert await dispatcher.fire_async("orders.created", 0, n, halt=True) is True
        during = ticks - before
        done.set()
        await ticking
        # Each fire waited for its commit in a thread: the loop ran the ticker meanwhile.
        assert during >= 500
        assert (await listener.flush(60)).done
        assert await listener.aclose() == 0

    asyncio.run(main())
    found = wait_for_lines(tmp_path / "consumer.txt", 500)
    assert sorted(int(n) for _, n, _ in found) == list(range(1, 501))
    (stream,) = inspect_outbox(tmp_path / "outbox.db")
    assert (stream.pending, stream.last_seq) == (0, 500)


def test_a_full_outbox_awaits_push_error_in_the_loop(tmp_path: Path) -> None:
    dispatcher, listener = aproducer(
        f"ipc://{tmp_path}/nobody.ipc",
        tmp_path / "outbox.db",
        outbox_max_events=3,
        socket_options={"SNDTIMEO": 50},
        flush_timeout_ms=0,
    )
    errors: list[tuple[Any, ...]] = []

    async def reported(*args: Any) -> str:  # a coroutine listener: awaited, in the loop
        errors.append(args)
        return "reported"

    dispatcher.listen("zeroevents.push.error", reported)

    async def main() -> None:
        for n in range(3):
            assert await dispatcher.fire_async("orders.created", 0, n, halt=True) is True
        assert await dispatcher.fire_async("orders.created", 0, 3, halt=True) == "reported"
        assert await listener.aclose() == 3  # the three stored stay in the file

    asyncio.run(main())
    (_socket, event, payload, reply_to) = errors[0]
    assert (event, list(payload), reply_to) == ("orders.created", [0, 3], None)
    (stream,) = inspect_outbox(tmp_path / "outbox.db")
    assert stream.pending == 3
