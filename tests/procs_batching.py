"""Consumers and producers run in child processes by tests/test_batching.py.

Each line is written with one ``os.write`` before the listener returns, so the file
says what was fired (``fired ID``), refused by a contract (``schema ID``) or found
undecodable (``decode REASON``), whatever happens to the process after.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from zeroevents_core import (
    AsyncEventListener,
    AsyncEventService,
    Dispatcher,
    EventListener,
    EventService,
)

EVENT = "orders.created"


def consume(options: dict[str, Any], record: str, flavour: str = "blocking") -> None:
    """A service on ``options`` until SIGTERM; ``record.running`` once it polls."""
    dispatcher = Dispatcher()
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    running = Path(f"{record}.running")

    def write(line: str) -> None:
        os.write(fd, line.encode() + b"\n")

    dispatcher.listen(EVENT, lambda order: write(f"fired {order['id']}"))
    dispatcher.listen(
        "zeroevents.schema.error",
        lambda event, payload, failures, reply_to: write(f"schema {payload[0]['id']}"),
    )
    dispatcher.listen(
        "zeroevents.pull.error",
        lambda socket, error, received: write(f"decode {error}".replace("\n", " ")),
    )
    dispatcher.listen("zeroevents.service.idle", lambda service: running.touch())
    if flavour == "asyncio":
        aservice = AsyncEventService(dispatcher).poll_timeout(50)
        asyncio.run(aservice.listen(AsyncEventListener(options, dispatcher)).run())
        return
    service = EventService(dispatcher).poll_timeout(50)
    service.listen(EventListener(options, dispatcher)).run()


def produce(options: dict[str, Any], ids: list[int], report: str, threads: int = 1) -> None:
    """Fire ``orders.created`` for each of ``ids`` (from ``threads`` threads at once),
    then flush (at-least-once) and close; ``report``: what flush and close said."""
    import threading

    dispatcher = Dispatcher()
    listener = EventListener(options, dispatcher)
    dispatcher.listen(EVENT, listener)
    shares = [ids[n::threads] for n in range(threads)]
    workers = [
        threading.Thread(
            target=lambda share=share: [dispatcher.fire(EVENT, {"id": i}) for i in share]
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    flushed = listener.flush(30) if options.get("delivery") == "at-least-once" else None
    stats = listener.stats  # the socket's: counts on through close()
    undelivered = listener.close()
    pending = None if flushed is None else flushed.count
    Path(report).write_text(f"{pending} {undelivered} {stats.sent} {stats.retried}")


def produce_then_wait(options: dict[str, Any], record: str, report: str) -> None:
    """linger_ms long: 5 events, flush (they must go now), wait until the consumer
    fired them, 5 more, close (they must go now); ``report``: flush's pending count."""
    import time

    dispatcher = Dispatcher()
    listener = EventListener(options, dispatcher)
    dispatcher.listen(EVENT, listener)
    for number in range(5):
        dispatcher.fire(EVENT, {"id": number})
    flushed = listener.flush(20)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Path(record).read_text().count("fired") < 5:
        time.sleep(0.02)  # bounded by the deadline
    fired_before = Path(record).read_text().count("fired")
    for number in range(5, 10):
        dispatcher.fire(EVENT, {"id": number})
    listener.close()
    Path(report).write_text(f"{flushed.count} {fired_before}")
