"""The ``outbox`` option of AsyncEventListener: the blocking listener's outbox and
sender thread; a ``"normal"`` commit runs in the loop, one that may wait (``"full"``,
a full outbox) in a worker thread; real ZeroMQ sockets to a consumer in a process of
its own."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from zeroevents_core import AsyncEventListener, Dispatcher
from zeroevents_core.outbox.store import inspect_outbox

sys.path.insert(0, str(Path(__file__).parent))
from procs_outbox import lines
from test_outbox_delivery import Consumer, producer, wait_for_lines


def aproducer(endpoint: str, outbox: Path, **options: Any) -> tuple[Dispatcher, Any]:
    return producer(endpoint, outbox, AsyncEventListener, **options)


def test_fired_events_are_delivered_and_the_loop_is_not_blocked(
    tmp_path: Path, outbox_consumers: list[Consumer]
) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox_consumers.append(Consumer(endpoint, tmp_path / "consumer.txt"))
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
        # Each fire let the loop run the ticker once its commit was done.
        assert during >= 500
        assert (await listener.flush(60)).done
        assert await listener.aclose() == 0

    asyncio.run(main())
    found = wait_for_lines(tmp_path / "consumer.txt", 500)
    assert sorted(int(n) for _, n, _ in found) == list(range(1, 501))
    (stream,) = inspect_outbox(tmp_path / "outbox.db")
    assert (stream.pending, stream.last_seq) == (0, 500)


def test_tasks_firing_at_once_share_a_commit(
    tmp_path: Path, outbox_consumers: list[Consumer]
) -> None:
    # What the loop's tasks store in one of its passes goes in one transaction, as
    # threads firing at once share theirs: 32 tasks, 20 fires each.
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox_consumers.append(Consumer(endpoint, tmp_path / "consumer.txt"))
    dispatcher, listener = aproducer(endpoint, tmp_path / "outbox.db")

    async def fires(task: int) -> list[Any]:
        return [
            await dispatcher.fire_async("orders.created", task, task * 20 + n, halt=True)
            for n in range(1, 21)
        ]

    async def main() -> int:
        returned = await asyncio.gather(*(fires(task) for task in range(32)))
        assert [result for results in returned for result in results] == [True] * 640
        commits: int = listener._outbox.outbox.commits  # appends' and deletes'
        assert (await listener.flush(60)).done
        assert await listener.aclose() == 0
        return commits

    commits = asyncio.run(main())
    assert commits <= 640 // 8, commits  # one per event without the grouping
    found = wait_for_lines(tmp_path / "consumer.txt", 640)
    assert sorted(int(n) for _, n, _ in found) == list(range(1, 641))


def test_a_fire_cancelled_before_the_loops_commit_stores_nothing(tmp_path: Path) -> None:
    dispatcher, listener = aproducer(
        f"ipc://{tmp_path}/nobody.ipc", tmp_path / "outbox.db", flush_timeout_ms=0
    )

    async def main() -> None:
        kept = asyncio.ensure_future(dispatcher.fire_async("orders.created", 0, 1, halt=True))
        dropped = asyncio.ensure_future(dispatcher.fire_async("orders.created", 0, 2, halt=True))
        await asyncio.sleep(0)  # both stored, waiting for the loop's next pass
        dropped.cancel()
        assert await kept is True
        with pytest.raises(asyncio.CancelledError):
            await dropped
        assert await listener.aclose() == 1

    asyncio.run(main())
    (stream,) = inspect_outbox(tmp_path / "outbox.db")
    assert (stream.pending, stream.last_seq) == (1, 1)


def test_one_event_too_big_for_the_outbox_fails_alone_among_the_loops_commit(
    tmp_path: Path,
) -> None:
    dispatcher, listener = aproducer(
        f"ipc://{tmp_path}/nobody.ipc",
        tmp_path / "outbox.db",
        outbox_max_bytes=400,
        flush_timeout_ms=0,
    )
    errors: list[Any] = []
    dispatcher.listen("zeroevents.push.error", lambda *args: errors.append(args[1:3]) or "reported")

    async def main() -> list[Any]:
        fired = [
            dispatcher.fire_async("orders.created", 0, payload, halt=True)
            for payload in (1, "x" * 500, 3)
        ]
        returned = await asyncio.gather(*fired)
        assert await listener.aclose() == 2
        return returned

    assert asyncio.run(main()) == [True, "reported", True]
    assert [(event, list(payload)) for event, payload in errors] == [
        ("orders.created", [0, "x" * 500])
    ]
    (stream,) = inspect_outbox(tmp_path / "outbox.db")
    assert (stream.pending, stream.last_seq) == (2, 2)


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor (``asyncio.to_thread``), counting what it runs."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize(("sync", "in_workers"), [("normal", 0), ("full", 50)])
def test_a_normal_commit_runs_in_the_loop_an_fsync_in_a_worker(
    tmp_path: Path, outbox_consumers: list[Consumer], sync: str, in_workers: int
) -> None:
    # A worker thread's hand-over costs more than a "normal" commit (a write to the
    # WAL); an fsync ("full") takes milliseconds, which the loop does not wait for.
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox_consumers.append(Consumer(endpoint, tmp_path / "consumer.txt"))
    dispatcher, listener = aproducer(endpoint, tmp_path / "outbox.db", outbox_sync=sync)
    executor = CountingExecutor()

    async def main() -> int:
        asyncio.get_running_loop().set_default_executor(executor)
        for n in range(1, 51):
            assert await dispatcher.fire_async("orders.created", 0, n, halt=True) is True
        fired_in_workers = executor.submitted
        assert (await listener.flush(60)).done
        assert await listener.aclose() == 0
        return fired_in_workers

    assert asyncio.run(main()) == in_workers
    found = wait_for_lines(tmp_path / "consumer.txt", 50)
    assert sorted(int(n) for _, n, _ in found) == list(range(1, 51))


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


def test_kill_9_of_the_asyncio_producer_loses_no_returned_fire(
    tmp_path: Path, outbox_consumers: list[Consumer]
) -> None:
    from test_outbox_kill_delivery import PROCS, Child, grown

    endpoint = f"ipc://{tmp_path}/orders.ipc"
    record, received = tmp_path / "producer.txt", tmp_path / "consumer.txt"
    outbox_consumers.append(Consumer(endpoint, received))
    total, rng = 3000, random.Random("aio-kill")
    args = [endpoint, str(tmp_path / "outbox.db"), str(record), str(total)]
    kills = 0
    for run in range(3):
        child = Child("aproducer", *args, str(run))
        grown(record, rng.randrange(200, 4000), child)
        kills += child.kill()
    last = subprocess.run(
        [sys.executable, PROCS, "aproducer", *args, "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert last.stdout == "left 0\n", last.stderr
    returned = {int(n) for _, n in lines(str(record))}
    assert returned == set(range(1, total + 1))
    fired = {int(n) for _, n, _ in wait_for_lines(received, 1)}
    for _ in range(600):  # bounded: the consumer's record catches up with the acks
        fired = {int(n) for _, n, _ in lines(str(received))}
        if returned <= fired:
            break
        time.sleep(0.1)
    print(f"asyncio producer: {kills} kills, {len(returned)} returned, {len(fired)} fired")
    assert returned - fired == set()
