"""The two processes of the outbox kill tests, run as scripts (``python FILE ROLE ...``)
so that the test can kill them with -9 at any point.

    consumer ENDPOINT RECORD [DEDUP_STORE] [HEADERS]
        a ROUTER service; each orders.created fired appends "RUN N EVENT_ID" to RECORD
        (each call of the listener; with HEADERS "1", then the message's headers as
        compact JSON); with DEDUP_STORE, it also inserts (RUN, N,
        EVENT_ID) into the table ``fired`` of the store, in the transaction that
        commits the event's dedup record (its effect, exactly once)
    aconsumer ENDPOINT DEDUP_STORE CONCURRENCY
        a ROUTER AsyncEventService with max_concurrency CONCURRENCY; each orders.created
        (RUN, N) inserts (N, 'begin') into the table ``effects`` of the store, awaits a
        few ms (other fires run, acknowledgements fall due), then inserts (N, 'end'):
        an effect of two writes, to be committed whole or not at all
    producer ENDPOINT OUTBOX RECORD TOTAL RUN
        fires orders.created (RUN, N) through an outbox listener for N from one past
        the last N in RECORD up to TOTAL, appending "RUN N" to RECORD once fire() has
        returned; then closes the listener (delivering what is left) and prints
        "left K", the events still in the outbox.
    aproducer ENDPOINT OUTBOX RECORD TOTAL RUN
        the same through an AsyncEventListener, each fire awaited (fire_async).

Each record line is one write of a flushed file: a kill leaves at most an
unterminated last line, which the readers skip.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

from zeroevents_core import (
    AsyncEventListener,
    AsyncEventService,
    Dispatcher,
    EventListener,
    EventService,
)
from zeroevents_core.outbox import DedupStore

FIRED = "CREATE TABLE IF NOT EXISTS fired (run INTEGER, n INTEGER, event_id TEXT)"
EFFECTS = "CREATE TABLE IF NOT EXISTS effects (n INTEGER, part TEXT)"


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

    store: DedupStore | None = None

    def fired(run: int, n: int) -> None:
        message = dispatcher.firing_message()
        event_id = message.event_id if message else None
        seen = f" {json.dumps(message.headers if message else None, separators=(',', ':'))}"
        record.write(f"{run} {n} {event_id}{seen * bool(headers)}\n")
        record.flush()
        if store is not None:
            store.execute(FIRED)
            store.execute("INSERT INTO fired VALUES (?, ?, ?)", (run, n, event_id))

    dispatcher.listen("orders.created", fired)
    service = EventService(dispatcher).listen(listener)
    listener.socket()
    if dedup_store:
        store = DedupStore.of(dedup_store)
    print("ready", flush=True)
    service.run()


def aconsumer(endpoint: str, dedup_store: str, concurrency: str) -> None:
    async def serve() -> None:
        dispatcher = Dispatcher()
        listener = AsyncEventListener(
            {"bind": endpoint, "socket_type": "ROUTER", "dedup_store": dedup_store}, dispatcher
        )

        async def fired(run: int, n: int) -> None:
            store.execute(EFFECTS)
            store.execute("INSERT INTO effects VALUES (?, 'begin')", (n,))
            await asyncio.sleep(random.uniform(0, 0.005))
            store.execute("INSERT INTO effects VALUES (?, 'end')", (n,))

        dispatcher.listen("orders.created", fired)
        service = AsyncEventService(dispatcher, max_concurrency=int(concurrency))
        service.listen(listener)
        listener.socket()
        store = DedupStore.of(dedup_store)
        print("ready", flush=True)
        await service.run()

    asyncio.run(serve())


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


def aproducer(endpoint: str, outbox: str, record_path: str, total: int, run: int) -> None:
    async def fire_all() -> None:
        done = lines(record_path)
        start = max((int(n) for _, n in done), default=0) + 1
        dispatcher = Dispatcher()
        listener = AsyncEventListener(
            {"connect": endpoint, "socket_type": "DEALER", "outbox": outbox}, dispatcher
        )
        dispatcher.listen("orders.*", listener)
        listener.socket()  # opens the outbox: what a killed run left is sent first
        with open(record_path, "a") as record:
            for n in range(start, total + 1):
                if await dispatcher.fire_async("orders.created", run, n, halt=True) is not True:
                    raise SystemExit(f"fire of {n} was not stored")
                record.write(f"{run} {n}\n")
                record.flush()
        print("left", await listener.aclose(), flush=True)

    asyncio.run(fire_all())


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "consumer":
        consumer(*args)
    elif role == "aconsumer":
        aconsumer(*args)
    else:
        endpoint, outbox, record, total, run = args
        fire = aproducer if role == "aproducer" else producer
        fire(endpoint, outbox, record, int(total), int(run))
