"""What the delivery tests run in child processes (spawned, so that a kill -9 is real).

Every event carries its id as its only argument. A consumer appends each id it
fires to a file with one unbuffered write (kept by the kernel when the process is
killed), before its listener returns and so before the acknowledgement. A producer
appends each id its ``zeroevents.push.error`` listener reports, and writes a
summary (its counters, what ``flush`` left pending) when it is done.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from zeroevents_core import PUSH_ERROR, Dispatcher, EventListener, EventService, Message

EVENT = "delivery.ids"


def consume(
    options: dict[str, Any], record: str, busy_us: float = 0, slow: int = -1, freeze: int = -1
) -> None:
    """Fire every event, recording its id, until SIGTERM (or SIGKILL).

    Once the service runs (its signal handlers installed: a SIGTERM stops it
    gracefully), it creates ``record.running.PID``. ``busy_us``: each event costs
    that much CPU (a consumer slower than its producer, whose queues fill). ``slow``:
    the listener of that id sleeps 3 s after recording it; ``freeze``: the process
    stops itself (SIGSTOP) after recording that id, sockets and all, until the test
    kills it."""
    dispatcher = Dispatcher()
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    running = Path(f"{record}.running.{os.getpid()}")

    def fired(number: int) -> None:
        os.write(fd, b"%d\n" % number)
        until = time.perf_counter() + busy_us / 1e6
        while time.perf_counter() < until:
            pass
        if number == slow:
            time.sleep(3)
        elif number == freeze:
            os.kill(os.getpid(), signal.SIGSTOP)

    dispatcher.listen(EVENT, fired)
    # The first poll's idle, or the first event: either comes from inside run().
    dispatcher.listen("zeroevents.service.idle", lambda service: running.touch())
    dispatcher.listen(EVENT, lambda number: running.exists() or running.touch())
    service = EventService(dispatcher).poll_timeout(100)
    service.listen(EventListener(options, dispatcher)).run()


def produce(
    options: dict[str, Any],
    count: int,
    failed: str,
    summary: str,
    flush_s: float = 60.0,
) -> None:
    """Fire ids 0..count-1 through an EventListener; record the ids reported failed
    (``failed``), then flush (at-least-once), close and write ``summary`` (JSON)."""
    dispatcher = Dispatcher()
    fd = os.open(failed, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    results: list[Any] = []

    def push_error(socket: Any, event: str, payload: Any, *rest: Any) -> str:
        os.write(fd, b"%d\n" % payload[0])
        return "failed"

    dispatcher.listen(PUSH_ERROR, push_error)
    listener = EventListener(options, dispatcher)
    dispatcher.listen(EVENT, listener)
    for number in range(count):
        results.append(dispatcher.fire(EVENT, number))
    pending: Any = None
    if options.get("delivery") == "at-least-once":
        pending = listener.flush(flush_s)
    stats = listener.stats.as_dict()
    listener.close()
    report = {
        "stats": stats,
        "pending": repr(pending),
        # Confirmed mode: the pushes that returned a confirmation.
        "confirmed": [n for n, got in enumerate(results) if got and isinstance(got[0], Message)],
    }
    Path(summary).write_text(json.dumps(report, default=repr))


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
