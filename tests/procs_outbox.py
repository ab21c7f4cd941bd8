"""The two processes of the outbox kill tests, run as scripts (``python FILE ROLE ...``)
so that the test can kill them with -9 at any point.

    consumer ENDPOINT RECORD [DEDUP_STORE] [HEADERS]
        a ROUTER service; each orders.created fired appends "RUN N EVENT_ID" to RECORD
        (with HEADERS "1", then the message's headers as compact JSON)
    producer ENDPOINT OUTBOX RECORD TOTAL RUN
        fires orders.created (RUN, N) through an outbox listener for N from one past
        the last N in RECORD up to TOTAL, appending "RUN N" to RECORD once fire() has
        returned; then closes the listener (delivering what is left) and prints
        "left K", the events still in the outbox.

Each record line is one write of a flushed file: a kill leaves at most an
unterminated last line, which the readers skip.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from zeroevents_core import Dispatcher, EventListener, EventService


def lines(path: str) -> list[list[str]]:
    """The complete lines of a record, split: "RUN N" (and the event id, consumer)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [line.split() for line in text.split("\n")[:-1]]


def consumer(
    endpoint: str, record_path: str, dedup_store: str | None = None, headers: str = ""
) -> None:
    dispatcher = Dispatcher()
    options: dict[str, Any] = {"bind": endpoint, "socket_type": "ROUTER"}
    if dedup_store:
        options["dedup_store"] = dedup_store
    listener = EventListener(options, dispatcher)
    record = open(record_path, "a")  # noqa: SIM115 (until the process is killed)

    def fired(run: int, n: int) -> None:
        message = dispatcher.firing_message()
        seen = f" {json.dumps(message.headers if message else None, separators=(',', ':'))}"
        record.write(f"{run} {n} {message.event_id if message else None}{seen * bool(headers)}\n")
        record.flush()

    dispatcher.listen("orders.created", fired)
    service = EventService(dispatcher).listen(listener)
    listener.socket()
    print("ready", flush=True)
    service.run()


def producer(endpoint: str, outbox: str, record_path: str, total: int, run: int) -> None:
    done = lines(record_path)
    start = max((int(n) for _, n in done), default=0) + 1
    dispatcher = Dispatcher()
    listener = EventListener(
        {
            "connect": endpoint,
            "socket_type": "DEALER",
            "delivery": "at-least-once",
            "outbox": outbox,
        },
        dispatcher,
    )
    dispatcher.listen("orders.*", listener)
    listener.socket()  # opens the outbox: what a killed run left is sent first
    with open(record_path, "a") as record:
        for n in range(start, total + 1):
            if dispatcher.fire("orders.created", run, n, halt=True) is not True:
                raise SystemExit(f"fire of {n} was not stored")
            record.write(f"{run} {n}\n")
            record.flush()
    print("left", listener.close(), flush=True)


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "consumer":
        consumer(*args)
    else:
        endpoint, outbox, record, total, run = args
        producer(endpoint, outbox, record, int(total), int(run))
