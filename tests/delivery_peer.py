"""What the delivery tests run in child processes (spawned, so that a kill -9 is real).

Every event carries its id as its only argument. A consumer appends each id it
fires to a file with one unbuffered write (kept by the kernel when the process is
killed), as its listener's last work and so before the acknowledgement. A producer
appends each id its ``zeroevents.push.error`` listener reports, and writes a
summary (its counters, what ``flush`` left pending) when it is done.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from zeroevents_core import (
    PUSH_ERROR,
    AsyncEventListener,
    AsyncEventService,
    Dispatcher,
    EventListener,
    EventService,
    Message,
)

EVENT = "delivery.ids"


def consume(
    options: dict[str, Any],
    record: str,
    busy_us: float = 0,
    slow: int = -1,
    freeze: int = -1,
    flavour: str = "blocking",
) -> None:
    """Fire every event, recording its id, until SIGTERM (or SIGKILL).

    Once the service runs (its signal handlers installed: a SIGTERM stops it
    gracefully), it creates ``record.running.PID``. ``busy_us``: each event costs
    that much CPU (a consumer slower than its producer, whose queues fill). ``slow``:
    the listener of that id sleeps 3 s after recording it; ``freeze``: the listener
    of that id never returns (the service stops reading; ZeroMQ's I/O thread still
    sends what was queued) until the test kills the process. ``flavour``:
    ``"asyncio"`` for an AsyncEventService."""
    dispatcher = Dispatcher()
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    running = Path(f"{record}.running.{os.getpid()}")

    def fired(number: int) -> None:
        until = time.perf_counter() + busy_us / 1e6
        while time.perf_counter() < until:
            pass
        # Recorded at the end of the work: a kill during it leaves the event unfired,
        # so an acknowledgement sent before the fire ends would lose it.
        os.write(fd, b"%d\n" % number)
        if number == slow:
            time.sleep(3)
        elif number == freeze:
            time.sleep(600)  # bounded: the test kills the process long before

    dispatcher.listen(EVENT, fired)
    # The first poll's idle, or the first event: either comes from inside run().
    dispatcher.listen("zeroevents.service.idle", lambda service: running.touch())
    dispatcher.listen(EVENT, lambda number: running.exists() or running.touch())
    if flavour == "asyncio":
        aservice = AsyncEventService(dispatcher).poll_timeout(100)
        asyncio.run(aservice.listen(AsyncEventListener(options, dispatcher)).run())
        return
    service = EventService(dispatcher).poll_timeout(100)
    service.listen(EventListener(options, dispatcher)).run()


def produce(
    options: dict[str, Any],
    count: int,
    failed: str,
    summary: str,
    flush_s: float = 60.0,
    flavour: str = "blocking",
) -> None:
    """Fire ids 0..count-1 through an EventListener; record the ids reported failed
    (``failed``), then flush (at-least-once), close and write ``summary`` (JSON).
    ``flavour``: ``"asyncio"`` for an AsyncEventListener and ``fire_async``."""
    dispatcher = Dispatcher()
    fd = os.open(failed, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def push_error(socket: Any, event: str, payload: Any, *rest: Any) -> str:
        os.write(fd, b"%d\n" % payload[0])
        return "failed"

    dispatcher.listen(PUSH_ERROR, push_error)
    if flavour == "asyncio":
        asyncio.run(produce_async(options, dispatcher, count, summary, flush_s))
        return
    results: list[Any] = []
    listener = EventListener(options, dispatcher)
    dispatcher.listen(EVENT, listener)
    for number in range(count):
        results.append(dispatcher.fire(EVENT, number))
    pending: Any = None
    if options.get("delivery") == "at-least-once":
        pending = listener.flush(flush_s)
    stats = listener.stats  # the socket's: counts on through close()
    listener.close()
    # Confirmed mode: the pushes that returned a confirmation.
    confirmed = [n for n, got in enumerate(results) if got and isinstance(got[0], Message)]
    write_summary(summary, stats.as_dict(), pending, confirmed)


def produce_and_idle(
    options: dict[str, Any], count: int, failed: str, idle_s: float, flavour: str = "blocking"
) -> None:
    """Fire ids 0..count-1, then nothing for ``idle_s`` seconds: no push, no flush, no
    close. What is retransmitted or reported failed (ids appended to ``failed``)
    meanwhile is the socket's retry timer's doing."""
    dispatcher = Dispatcher()
    fd = os.open(failed, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    dispatcher.listen(
        PUSH_ERROR, lambda socket, event, payload, *rest: os.write(fd, b"%d\n" % payload[0])
    )
    if flavour == "asyncio":

        async def fire_and_idle() -> None:
            listener = AsyncEventListener(options, dispatcher)
            dispatcher.listen(EVENT, listener)
            for number in range(count):
                await dispatcher.fire_async(EVENT, number)
            await asyncio.sleep(idle_s)

        asyncio.run(fire_and_idle())
        return
    listener = EventListener(options, dispatcher)
    dispatcher.listen(EVENT, listener)
    for number in range(count):
        dispatcher.fire(EVENT, number)
    time.sleep(idle_s)


async def produce_async(
    options: dict[str, Any], dispatcher: Dispatcher, count: int, summary: str, flush_s: float
) -> None:
    listener = AsyncEventListener(options, dispatcher)
    dispatcher.listen(EVENT, listener)
    for number in range(count):
        await dispatcher.fire_async(EVENT, number)
    pending = await listener.flush(flush_s)
    stats = listener.stats  # the socket's: counts on through aclose()
    await listener.aclose()
    write_summary(summary, stats.as_dict(), pending, [])


def write_summary(path: str, stats: Any, pending: Any, confirmed: list[int]) -> None:
    report = {"stats": stats, "pending": repr(pending), "confirmed": confirmed}
    Path(path).write_text(json.dumps(report))


def read_ids(path: Path) -> list[int]:
    """The ids recorded so far (a line cut by a kill is ignored)."""
    if not path.exists():
        return []
    return [int(line) for line in path.read_bytes().split(b"\n")[:-1] if line]


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``condition()`` until true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
