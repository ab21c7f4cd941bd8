"""The asyncio flavour across real processes: each side in its own interpreter.

Children are started with "spawn" and report to a queue with tuples whose first
item says what happened; every wait on them is bounded, and every process is
ended by the ``procs`` fixture whatever the outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import multiprocessing.process
import os
import queue as queues
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import zmq

from zeroevents_core import (
    AsyncEventListener,
    AsyncEventService,
    Dispatcher,
    EventListener,
    EventService,
    Message,
    ZeroEventsError,
)

SPAWN = multiprocessing.get_context("spawn")
WAIT = 60.0  # generous: fresh interpreters on a busy 2-core machine
PULL_ERROR = "zeroevents.pull.error"
IDLE = "zeroevents.service.idle"
STOP = "zeroevents.service.stop"
ORDER = {
    "id": 12345,
    "customer": {"id": "6f1c1f5e", "name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [{"sku": "BOO-1001", "quantity": 1, "price": 12.5}],
    "total": 12.5,
    "currency": "EUR",
}


def rss_kib() -> int:
    """This process's resident set size, from /proc/self/status (VmRSS, KiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


# Children ---------------------------------------------------------------------------


def sync_service(options: dict[str, Any], count: int, out: Any) -> None:
    """A blocking EventService that reports each ``t.*`` event and stops after ``count``."""
    dispatcher = Dispatcher()
    service = EventService(dispatcher)
    seen = 0

    def on_event(*payload: Any) -> None:
        nonlocal seen
        seen += 1
        out.put(("event", dispatcher.firing(), list(payload)))
        if seen == count:
            service.stop()

    dispatcher.listen("t.*", on_event)
    listener = EventListener(options, dispatcher)
    service.listen(listener)
    listener.socket()
    out.put(("ready",))
    service.run()
    out.put(("stopped", dataclasses.asdict(service.stats)))


def async_service(
    options: dict[str, Any], count: int, out: Any, delay: float = 0.0, concurrency: int = 1
) -> None:
    """An AsyncEventService in ``asyncio.run``: reports each ``t.*`` event as it starts
    and ends (``delay`` seconds later), stops after ``count`` or on SIGTERM."""

    async def main() -> None:
        dispatcher = Dispatcher()
        service = AsyncEventService(dispatcher, max_concurrency=concurrency)
        seen = 0

        async def on_event(*payload: Any) -> None:
            nonlocal seen
            name = dispatcher.firing()
            out.put(("start", name, list(payload)))
            if delay:
                await asyncio.sleep(delay)
            out.put(("event", dispatcher.firing(), list(payload)))
            seen += 1
            if seen == count:
                service.stop()

        def on_pull_error(socket: Any, error: Any = None, frames: Any = None) -> None:
            out.put(("pull.error", str(error)))

        dispatcher.listen("t.*", on_event)
        dispatcher.listen(PULL_ERROR, on_pull_error)
        listener = AsyncEventListener(options, dispatcher)
        service.listen(listener)
        listener.socket()
        out.put(("ready", os.getpid()))
        await service.run()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        out.put(("stopped", dataclasses.asdict(service.stats), len(others)))

    asyncio.run(main())


def sync_producer(options: dict[str, Any], events: list[tuple[str, list[Any]]], out: Any) -> None:
    """A blocking EventListener that fires ``events`` and reports what each push returned."""
    dispatcher = Dispatcher()
    with EventListener(options, dispatcher) as listener:
        dispatcher.listen("t.*", listener)
        dispatcher.listen(STOP, listener)
        results = [repr(dispatcher.fire(name, *payload)) for name, payload in events]
    out.put(("pushed", results))


def flood_producer(endpoint: str, n: int, out: Any) -> None:
    """Push ``n`` order events as fast as the receiver lets it (blocking sends)."""
    dispatcher = Dispatcher()
    options = {
        "connect": endpoint,
        "socket_type": "PUSH",
        "socket_options": {"SNDTIMEO": -1, "LINGER": -1},
    }
    with EventListener(options, dispatcher) as listener:
        dispatcher.listen("t.*", listener)
        for i in range(n):
            dispatcher.fire("t.order", i, ORDER)
    out.put(("flooded", n))


def memory_service(endpoint: str, n: int, stall: float, out: Any) -> None:
    """A slow AsyncEventService (max_concurrency=1) reporting its RSS under a flood."""

    async def main() -> None:
        dispatcher = Dispatcher()
        service = AsyncEventService(dispatcher)
        seen = 0
        samples: list[int] = []
        baseline = 0

        async def on_order(i: int, order: dict[str, Any]) -> None:
            nonlocal seen, baseline
            seen += 1
            if seen == 1:
                baseline = rss_kib()
                await asyncio.sleep(stall)  # the producer floods meanwhile
            else:
                await asyncio.sleep(0)  # slower than the producer: it stays blocked
            if seen % 2000 == 0:
                samples.append(rss_kib())
            if seen == n:
                service.stop()

        dispatcher.listen("t.order", on_order)
        listener = AsyncEventListener(
            {"bind": endpoint, "socket_type": "PULL", "socket_options": {"RCVTIMEO": -1}},
            dispatcher,
        )
        service.listen(listener)
        listener.socket()
        out.put(("ready", os.getpid()))
        await service.run()
        out.put(("memory", baseline, max(samples), seen))

    asyncio.run(main())


# Fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def procs(spawn: Callable[..., multiprocessing.process.BaseProcess]) -> Any:
    return spawn  # conftest's: every process killed and joined at teardown


@pytest.fixture
def out(queue: Any) -> Any:
    return queue  # conftest's


@pytest_asyncio.fixture
async def no_task_left() -> AsyncIterator[None]:
    """After the test body: no task but the test's own is left in the loop."""
    yield
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


async def take(queue: Any, kind: str, timeout: float = WAIT) -> tuple[Any, ...]:
    """The next report of a child, which must be of ``kind`` (without blocking the loop)."""
    try:
        report: tuple[Any, ...] = await asyncio.to_thread(queue.get, True, timeout)
    except queues.Empty:
        raise AssertionError(f"no report within {timeout} s (expected {kind!r})") from None
    assert report[0] == kind, f"expected a {kind!r} report, got {report!r}"
    return report


async def take_events(queue: Any, n: int) -> list[tuple[str, list[Any]]]:
    events = []
    while len(events) < n:
        report = await asyncio.to_thread(queue.get, True, WAIT)
        if report[0] == "event":
            events.append((report[1], report[2]))
    return events


def endpoint(tmp_path: Path, name: str = "e") -> str:
    return f"ipc://{tmp_path}/{name}.ipc"


def joined(process: multiprocessing.process.BaseProcess) -> int | None:
    process.join(WAIT)
    return process.exitcode


# Producer -> service, every pairing ---------------------------------------------------------


@pytest.mark.asyncio
async def test_async_producer_to_sync_service(
    tmp_path: Path, procs: Any, out: Any, no_task_left: None
) -> None:
    where = endpoint(tmp_path)
    service = procs(sync_service, {"bind": where, "socket_type": "PULL"}, 3, out)
    await take(out, "ready")
    dispatcher = Dispatcher()
    async with AsyncEventListener({"connect": where, "socket_type": "PUSH"}, dispatcher) as sender:
        dispatcher.listen("t.*", sender)
        assert await dispatcher.fire_async("t.one", 1, {"a": "при/вет"}) == [True]
        # A blocking fire in the loop schedules the push and hands back its task.
        (task,) = dispatcher.fire("t.two", [1, 2])
        assert isinstance(task, asyncio.Task)
        assert await task is True
        dispatcher.fire("t.three")
        await sender.drain()
    assert await take_events(out, 3) == [
        ("t.one", [1, {"a": "при/вет"}]),
        ("t.two", [[1, 2]]),
        ("t.three", []),
    ]
    assert (await take(out, "stopped"))[1]["fired"] == 3
    assert joined(service) == 0


@pytest.mark.asyncio
async def test_sync_producer_to_async_service(
    tmp_path: Path, procs: Any, out: Any, no_task_left: None
) -> None:
    where = endpoint(tmp_path)
    dispatcher = Dispatcher()
    got: list[tuple[str | None, tuple[Any, ...]]] = []
    service = AsyncEventService(dispatcher)

    async def on_event(*payload: Any) -> None:
        await asyncio.sleep(0)
        got.append((dispatcher.firing(), payload))
        if len(got) == 50:
            service.stop()

    dispatcher.listen("t.*", on_event)
    listener = AsyncEventListener({"bind": where, "socket_type": "PULL"}, dispatcher)
    service.listen(listener)
    running = asyncio.create_task(service.run())
    await asyncio.sleep(0)
    procs(
        sync_producer,
        {"connect": where, "socket_type": "PUSH"},
        [("t.n", [i]) for i in range(50)],
        out,
    )
    await asyncio.wait_for(running, WAIT)
    assert got == [("t.n", (i,)) for i in range(50)]  # one at a time: order kept
    assert service.stats.fired == service.stats.received == 50
    assert listener._socket is None  # closed


@pytest.mark.asyncio
async def test_async_to_async_confirmed_over_dealer_router(
    tmp_path: Path, procs: Any, out: Any, no_task_left: None
) -> None:
    where = endpoint(tmp_path)
    options = {"bind": where, "socket_type": "ROUTER", "confirmed": True}
    service = procs(async_service, options, 20, out)
    await take(out, "ready")
    dispatcher = Dispatcher()
    sender = AsyncEventListener(
        {"connect": where, "socket_type": "DEALER", "confirmed": True}, dispatcher
    )
    dispatcher.listen("t.*", sender)
    replies = [await dispatcher.until_async("t.c", i) for i in range(10)]
    assert replies == [Message("zeroevents.confirmed", ["t.c"])] * 10
    # Concurrent confirmed pushes on one socket each get their own confirmation.
    tasks = [dispatcher.fire("t.d", i)[0] for i in range(10)]
    assert await asyncio.gather(*tasks) == [Message("zeroevents.confirmed", ["t.d"])] * 10
    await sender.aclose()
    events = await take_events(out, 20)
    assert [e for e in events if e[0] == "t.c"] == [("t.c", [i]) for i in range(10)]
    assert sorted(e[1][0] for e in events if e[0] == "t.d") == list(range(10))
    _, stats, left = await take(out, "stopped")
    assert stats["fired"] == 20 and left == 0
    assert joined(service) == 0


@pytest.mark.asyncio
async def test_async_producer_confirmed_by_sync_router(
    tmp_path: Path, procs: Any, out: Any, no_task_left: None
) -> None:
    where = endpoint(tmp_path)
    service = procs(
        sync_service, {"bind": where, "socket_type": "ROUTER", "confirmed": True}, 2, out
    )
    await take(out, "ready")
    async with AsyncEventListener(
        {"connect": where, "socket_type": "DEALER", "confirmed": True}, Dispatcher()
    ) as sender:
        assert await sender.push("t.x", [1]) == Message("zeroevents.confirmed", ["t.x"])
        assert await sender.push("t.y") == Message("zeroevents.confirmed", ["t.y"])
    assert await take_events(out, 2) == [("t.x", [1]), ("t.y", [])]
    assert joined(service) == 0


@pytest.mark.asyncio
async def test_sync_producer_confirmed_by_async_router(
    tmp_path: Path, procs: Any, out: Any, no_task_left: None
) -> None:
    where = endpoint(tmp_path)
    dispatcher = Dispatcher()
    service = AsyncEventService(dispatcher)
    dispatcher.listen("t.last", lambda: service.stop())
    listener = AsyncEventListener(
        {"bind": where, "socket_type": "ROUTER", "confirmed": True}, dispatcher
    )
    running = asyncio.create_task(service.listen(listener).run())
    await asyncio.sleep(0)
    events = [("t.a", [1]), ("t.last", [])]
    procs(
        sync_producer, {"connect": where, "socket_type": "DEALER", "confirmed": True}, events, out
    )
    _, results = await take(out, "pushed")
    assert results == [
        "[Message(event='zeroevents.confirmed', payload=['t.a'], reply_to=None)]",
        "[Message(event='zeroevents.confirmed', payload=['t.last'], reply_to=None)]",
    ]
    await asyncio.wait_for(running, WAIT)


# Service behaviour -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_idle_events_then_stop_event(tmp_path: Path, no_task_left: None) -> None:
    dispatcher = Dispatcher()
    service = AsyncEventService(dispatcher).poll_timeout(20)
    idles: list[float] = []

    async def on_idle(svc: AsyncEventService) -> None:
        assert svc is service
        idles.append(time.monotonic())
        if len(idles) == 3:
            await dispatcher.fire_async(STOP)

    dispatcher.listen(IDLE, on_idle)
    service.listen(
        AsyncEventListener({"bind": endpoint(tmp_path), "socket_type": "PULL"}, dispatcher)
    )
    started = time.monotonic()
    await asyncio.wait_for(service.run(), WAIT)
    assert len(idles) == 3
    assert idles[0] - started >= 0.015
    assert not service.running
    assert not dispatcher.has_listeners(STOP)


@pytest.mark.asyncio
async def test_stop_event_from_another_process(
    tmp_path: Path, procs: Any, out: Any, no_task_left: None
) -> None:
    where = endpoint(tmp_path)
    dispatcher = Dispatcher()
    got: list[int] = []
    dispatcher.listen("t.n", got.append)
    service = AsyncEventService(dispatcher)
    service.listen(AsyncEventListener({"bind": where, "socket_type": "PULL"}, dispatcher))
    running = asyncio.create_task(service.run())
    await asyncio.sleep(0)
    events = [("t.n", [1]), ("t.n", [2]), (STOP, [])]
    procs(sync_producer, {"connect": where, "socket_type": "PUSH"}, events, out)
    await asyncio.wait_for(running, WAIT)
    assert got == [1, 2]


@pytest.mark.asyncio
async def test_garbage_is_survived(tmp_path: Path, no_task_left: None) -> None:
    where = endpoint(tmp_path)
    dispatcher = Dispatcher()
    errors: list[str] = []
    got: list[Any] = []
    service = AsyncEventService(dispatcher)

    def on_pull_error(socket: Any, error: Exception, frames: list[bytes]) -> None:
        errors.append(str(error))

    async def on_ok(value: Any) -> None:
        got.append(value)
        service.stop()

    async def broken(value: Any) -> None:
        raise RuntimeError("listener bug")

    dispatcher.listen(PULL_ERROR, on_pull_error)
    dispatcher.listen("t.bad", broken)
    dispatcher.listen("t.ok", on_ok)
    service.listen(AsyncEventListener({"bind": where, "socket_type": "PULL"}, dispatcher))
    running = asyncio.create_task(service.run())
    await asyncio.sleep(0.05)
    # A raw pyzmq sender in a thread, so that nothing zeroevents encodes the garbage.
    garbage = [
        [b"\xff\xfe"],
        [b"t.ok", b"{not json"],
        [b""],
        [b"t.ok", b"\x00\x01\x02"],
        [b"t.bad", b"1"],
        [b"t.ok", b'"fine"'],
    ]

    def send_raw() -> None:
        context = zmq.Context()
        socket = context.socket(zmq.PUSH)
        socket.connect(where)
        for frames in garbage:
            socket.send_multipart(frames)
        socket.close(linger=5000)
        context.term()

    await asyncio.to_thread(send_raw)
    await asyncio.wait_for(running, WAIT)
    assert got == ["fine"]
    assert len(errors) == 4 and any("frame 1" in e for e in errors)
    stats = service.stats
    assert (stats.received, stats.decode_errors, stats.listener_errors, stats.fired) == (6, 4, 1, 1)


@pytest.mark.asyncio
async def test_sigterm_stops_the_async_service_gracefully(
    tmp_path: Path, procs: Any, out: Any
) -> None:
    where = endpoint(tmp_path)
    service = procs(async_service, {"bind": where, "socket_type": "PULL"}, 1000, out, 0.5)
    _, pid = await take(out, "ready")
    async with AsyncEventListener(
        {"connect": where, "socket_type": "PUSH"}, Dispatcher()
    ) as sender:
        await sender.push("t.slow", [1])
        await take(out, "start")
        os.kill(pid, signal.SIGTERM)
        # The event in hand finishes; the service then stops and the process exits 0.
        assert (await take(out, "event"))[1:] == ("t.slow", [1])
    _, stats, left = await take(out, "stopped")
    assert stats["fired"] == 1 and left == 0
    assert joined(service) == 0


# Concurrency, back-pressure, memory ------------------------------------------------------------


@pytest.mark.asyncio
async def test_max_concurrency_bounds_the_handlers_in_flight(
    tmp_path: Path, procs: Any, out: Any, no_task_left: None
) -> None:
    where = endpoint(tmp_path)
    dispatcher = Dispatcher()
    service = AsyncEventService(dispatcher, max_concurrency=4)
    running_now = 0
    most = 0
    done: list[int] = []

    async def slow(i: int) -> None:
        nonlocal running_now, most
        running_now += 1
        most = max(most, running_now)
        assert service.in_flight <= 4
        await asyncio.sleep(0.01)
        running_now -= 1
        done.append(i)
        if len(done) == 40:
            service.stop()

    dispatcher.listen("t.n", slow)
    service.listen(AsyncEventListener({"bind": where, "socket_type": "PULL"}, dispatcher))
    task = asyncio.create_task(service.run())
    await asyncio.sleep(0)
    procs(
        sync_producer,
        {"connect": where, "socket_type": "PUSH"},
        [("t.n", [i]) for i in range(40)],
        out,
    )
    await asyncio.wait_for(task, WAIT)
    assert most == 4
    assert sorted(done) == list(range(40))
    with pytest.raises(ZeroEventsError, match="max_concurrency"):
        AsyncEventService(max_concurrency=0)


@pytest.mark.asyncio
async def test_a_flood_on_a_slow_service_keeps_its_memory_bounded(
    tmp_path: Path, procs: Any, out: Any
) -> None:
    n = 100_000
    where = endpoint(tmp_path)
    service = procs(memory_service, where, n, 2.0, out)
    await take(out, "ready")
    producer = procs(flood_producer, where, n, out)
    reports = {}
    for _ in range(2):
        report = await take_any(out, {"memory", "flooded"}, timeout=110)
        reports[report[0]] = report
    _, baseline, peak, seen = reports["memory"]
    assert seen == n
    growth = peak - baseline
    # Measured here (2 cores, 4 runs): 1.4-2.3 MiB of growth over the whole flood with
    # back-pressure; reading all 100,000 ahead into tasks instead (max_concurrency=100_000
    # with handlers that sleep) grew 198 MiB. Bound: about 3.5x the largest measured.
    assert growth < 8 * 1024, f"RSS grew by {growth} KiB under the flood"
    assert joined(service) == 0
    assert joined(producer) == 0


async def take_any(queue: Any, kinds: set[str], timeout: float) -> tuple[Any, ...]:
    report: tuple[Any, ...] = await asyncio.to_thread(queue.get, True, timeout)
    assert report[0] in kinds, report
    return report


# Cancellation -------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("concurrency", [1, 3])
async def test_cancelling_the_service_finishes_confirmed_events_and_leaves_no_task(
    tmp_path: Path, procs: Any, out: Any, concurrency: int
) -> None:
    where = endpoint(tmp_path)
    dispatcher = Dispatcher()
    service = AsyncEventService(dispatcher, max_concurrency=concurrency)
    started: list[int] = []
    finished: list[int] = []
    all_started = asyncio.Event()

    async def slow(i: int) -> None:
        started.append(i)
        if len(started) == concurrency:
            all_started.set()
        await asyncio.sleep(0.3)
        finished.append(i)

    dispatcher.listen("t.n", slow)
    listener = AsyncEventListener(
        {"bind": where, "socket_type": "ROUTER", "confirmed": True}, dispatcher
    )
    service.listen(listener)
    task = asyncio.create_task(service.run())
    await asyncio.sleep(0)
    # Each DEALER sends one confirmed event; a fourth waits in the queue, unconfirmed.
    for i in range(concurrency + 1):
        procs(
            sync_producer,
            {
                "connect": where,
                "socket_type": "DEALER",
                "confirmed": True,
                "socket_options": {"RCVTIMEO": 3000},
            },
            [("t.n", [i])],
            out,
        )
    await asyncio.wait_for(all_started.wait(), WAIT)
    socket = listener._socket
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT)
    # Every event whose handler had started (and which was confirmed) ran to the end.
    assert sorted(finished) == sorted(started) and len(started) >= concurrency
    assert socket.closed and listener._socket is None
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []
    confirmed = 0
    for _ in range(concurrency + 1):
        _, results = await take(out, "pushed")
        confirmed += "zeroevents.confirmed" in results[0]
    assert confirmed == len(started)


@pytest.mark.asyncio
async def test_cancelled_before_it_started_closes_everything(tmp_path: Path) -> None:
    listener = AsyncEventListener({"bind": endpoint(tmp_path), "socket_type": "PULL"}, Dispatcher())
    service = AsyncEventService(listener.dispatcher).listen(listener)
    task = asyncio.create_task(service.run())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert listener._socket is None
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


# Listener without a loop ------------------------------------------------------------------------


def test_blocking_fire_without_a_running_loop_is_a_clear_error(tmp_path: Path) -> None:
    dispatcher = Dispatcher()
    listener = AsyncEventListener(
        {"connect": endpoint(tmp_path), "socket_type": "PUSH"}, dispatcher
    )
    dispatcher.listen("t.x", listener)
    try:
        with pytest.raises(ZeroEventsError, match="no running event loop"):
            dispatcher.fire("t.x", 1)
        with pytest.raises(ZeroEventsError, match="outside of a fire"):
            listener(1)
    finally:
        asyncio.run(listener.aclose())
