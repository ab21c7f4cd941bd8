"""Outbox throughput: durable appends per second beside the unconfirmed v1 pipeline.

    python bench/bench_outbox.py [--events N] [--repeats R] [--threads T] [--tasks K]

Baseline, measured in the same run: bench_e2e.py's unconfirmed v1 pipeline, an
``EventListener`` (PUSH) in one process to an ``EventService`` (PULL) in another over
ipc, one order dict per event.

Outbox: what ``fire()`` costs with the ``outbox`` option before it returns, in a
process of its own: the order serialized (json), then ``Outbox.append``, which returns
once the event is committed; alone ("append"), and with the sender's share of the
file's work, a delete of the acknowledged events every 100 ("append + ack/100"), as
the at-least-once sender does when acknowledgements arrive. With ``sync="normal"``
(survives a kill of the process) and ``"full"`` (an fsync per commit: survives a power
loss), from one thread and from ``--threads`` threads (group commit: they share
transactions; the commits per event are printed). Target: "normal" >= 0.3x the v1
pipeline. End to end: an ``EventListener`` with the ``outbox`` option ("normal") to a
ROUTER ``EventService`` in another process, acknowledged, every row deleted (the
receiver clocks first to last, as bench_e2e does), the sender's rows going as batches
as the defaults say (``outbox_batch_max``, ``outbox_linger_ms``); fired from one
thread, then from ``--threads`` threads at once; the same from an
``AsyncEventListener``, one task awaiting each ``fire_async`` in turn, then ``--tasks``
tasks at once (the events the loop's tasks store in one pass share a commit). Figures
are medians of the repeats, each in a fresh file.

Beside them, in the same run: ``fire()`` through the outbox listener while its
consumer is down (nobody binds the endpoint: the sender sends a window's worth, then
only retries, backing off), and SQLite alone, the same row committed by a bare
``sqlite3`` loop (the outbox's schema, WAL, ``synchronous = NORMAL``, one ``INSERT``
per transaction: what every ``fire()`` waits for, the floor of any SQLite outbox).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_e2e import ORDER, SPAWN, consume_zeroevents, produce_zeroevents, throughput

from zeroevents_core import get_serializer
from zeroevents_core.outbox import Outbox
from zeroevents_core.outbox.store import INSERT, SCHEMA, pack_frames, row_key

DEST = "connect ipc:///tmp/bench-outbox.ipc"
ACK_EVERY = 100


def consume_routed(endpoint: str, n: int, serializer: str, out: Any, *_: Any) -> None:
    """bench_e2e's consumer on a ROUTER (at-least-once needs the way back)."""
    from zeroevents_core import Dispatcher, EventListener, EventService

    dispatcher = Dispatcher()
    count = 0
    started = 0.0

    def on_order(order: dict[str, Any]) -> None:
        nonlocal count, started
        count += 1
        if count == 1:
            started = time.perf_counter()
        if count == n:
            out.put(("done", time.perf_counter() - started))
            service.stop()

    dispatcher.listen("orders.created", on_order)
    listener = EventListener({"bind": endpoint, "socket_type": "ROUTER"}, dispatcher)
    service = EventService(dispatcher).listen(listener)
    listener.socket()
    out.put(("ready", 0.0))
    service.run()


def produce_outbox(
    endpoint: str, n: int, serializer: str, folder: str, sync: str, threads: int = 1
) -> None:
    """``n`` orders fired through an outbox listener from ``threads`` threads at once."""
    from zeroevents_core import Dispatcher, EventListener

    dispatcher = Dispatcher()
    listener = EventListener(
        {"connect": endpoint, "outbox": f"{folder}/e2e-{time.time_ns()}.db", "outbox_sync": sync},
        dispatcher,
    )
    dispatcher.listen("orders.*", listener)

    def fire(count: int) -> None:
        for _ in range(count):
            dispatcher.fire("orders.created", ORDER)

    workers = [threading.Thread(target=fire, args=(count,)) for count in shares(n, threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    listener.flush(300)
    listener.close()


def shares(n: int, ways: int) -> list[int]:
    """``n`` split into ``ways`` counts as equal as can be."""
    return [n // ways + (way < n % ways) for way in range(ways)]


def fire_unconsumed(folder: str, n: int, out: Any) -> None:  # a child process
    """fire() through an outbox listener whose endpoint nobody binds (consumer down)."""
    from zeroevents_core import Dispatcher, EventListener

    dispatcher = Dispatcher()
    options = {
        "connect": f"ipc://{folder}/nobody-{time.time_ns()}.ipc",
        "outbox": f"{folder}/unconsumed-{time.time_ns()}.db",
        "outbox_max_events": n + 1,
        "flush_timeout_ms": 0,
    }
    listener = EventListener(options, dispatcher)
    dispatcher.listen("orders.*", listener)
    dispatcher.fire("orders.created", ORDER)  # the socket and the stream made
    began = time.perf_counter()
    for _ in range(n):
        dispatcher.fire("orders.created", ORDER)
    out.put(n / (time.perf_counter() - began))
    listener.close()


def commit_rate(path: str, n: int, out: Any) -> None:  # a child process
    """SQLite alone: one outbox row per transaction, as a bare sqlite3 loop."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA page_size = 1024")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    for statement in SCHEMA.values():
        db.execute(statement)
    blob = pack_frames(get_serializer("json").serialize([ORDER]))
    crc, cursor = zlib.crc32(blob), db.cursor()
    began = time.perf_counter()
    for seq in range(1, n + 1):
        row = (row_key(1, seq), 1, seq, "orders.created", "json", None, blob, len(blob), crc, 0)
        cursor.execute(INSERT, row)
    out.put(n / (time.perf_counter() - began))
    db.close()


def in_child(target: Any, *args: Any) -> Any:
    """What ``target(*args, out)`` puts, run in a process of its own."""
    out = SPAWN.Queue()
    child = SPAWN.Process(target=target, args=(*args, out))
    child.start()
    try:
        result = out.get(timeout=600)
        child.join(60)
    finally:
        if child.is_alive():
            child.kill()
    return result


def produce_outbox_async(
    endpoint: str, n: int, serializer: str, folder: str, sync: str, tasks: int = 1
) -> None:
    """produce_outbox through an AsyncEventListener: ``tasks`` tasks, each awaiting
    its fires in turn."""
    import asyncio

    from zeroevents_core import AsyncEventListener, Dispatcher

    async def main() -> None:
        dispatcher = Dispatcher()
        listener = AsyncEventListener(
            {"connect": endpoint, "outbox": f"{folder}/aio-{time.time_ns()}.db",
             "outbox_sync": sync},
            dispatcher,
        )  # fmt: skip
        dispatcher.listen("orders.*", listener)

        async def fire(count: int) -> None:
            for _ in range(count):
                await dispatcher.fire_async("orders.created", ORDER)

        await asyncio.gather(*(fire(count) for count in shares(n, tasks)))
        await listener.flush(300)
        await listener.aclose()

    asyncio.run(main())


def append_rate(
    path: str, n: int, sync: str, threads: int, ack: bool, out: Any
) -> None:  # a child process
    serialize = get_serializer("json").serialize
    outbox = Outbox(path, sync=sync)
    per_thread = n // threads
    start = threading.Barrier(threads + 1)
    acked = [0]
    lock = threading.Lock()

    def fire() -> None:
        start.wait()
        for _ in range(per_thread):
            seq = outbox.append(DEST, "orders.created", serialize([ORDER]))
            if ack and seq % ACK_EVERY == 0:
                with lock:
                    if seq > acked[0]:
                        acked[0] = seq
                        outbox.acknowledge(DEST, seq)

    workers = [threading.Thread(target=fire) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - began
    out.put((per_thread * threads / seconds, outbox.commits / outbox.writes))
    outbox.close()


def measure_append(
    folder: str, run: int, n: int, sync: str, threads: int, ack: bool
) -> tuple[float, float]:
    path = f"{folder}/outbox-{run}.db"
    rate, commits_per_write = in_child(append_rate, path, n, sync, threads, ack)
    return float(rate), float(commits_per_write)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--full-events", type=int, default=5_000, help="events with sync full")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=64, help="asyncio tasks firing at once")
    args = parser.parse_args(argv)
    cases = [
        (sync, threads, ack)
        for sync in ("normal", "full")
        for threads in (1, args.threads)
        for ack in (False, True)
    ]
    rates: dict[Any, list[float]] = {
        "v1": [], "e2e": [], "e2e-threads": [], "e2e-async": [], "e2e-tasks": [],
        "unconsumed": [], "sqlite": [],
        **{case: [] for case in cases},
    }  # fmt: skip
    batching: dict[Any, list[float]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory(prefix="zeroevents-bench-") as folder:
        run = 0
        for _ in range(args.repeats):
            rates["v1"].append(
                throughput(
                    consume_zeroevents, produce_zeroevents,
                    n=args.events, serializer="json", folder=folder, run=run,
                )
            )  # fmt: skip
            for key, producer, ways in (
                ("e2e", produce_outbox, 1),
                ("e2e-threads", produce_outbox, args.threads),
                ("e2e-async", produce_outbox_async, 1),
                ("e2e-tasks", produce_outbox_async, args.tasks),
            ):
                run += 1
                rates[key].append(
                    throughput(
                        consume_routed, producer, folder, "normal",
                        n=args.events, serializer="json", folder=folder, run=run,
                        producer_args=(folder, "normal", ways),
                    )
                )  # fmt: skip
            run += 1
            rates["unconsumed"].append(float(in_child(fire_unconsumed, folder, args.events)))
            rates["sqlite"].append(
                float(in_child(commit_rate, f"{folder}/sqlite-{run}.db", args.events))
            )
            for case in cases:
                run += 1
                sync, threads, ack = case
                n = args.events if sync == "normal" else args.full_events
                rate, per_write = measure_append(folder, run, n, sync, threads, ack)
                rates[case].append(rate)
                batching[case].append(per_write)
    v1 = statistics.median(rates["v1"])
    print(
        f"outbox throughput, json orders, {args.events} events ({args.full_events} with "
        f"sync full), median of {args.repeats}"
    )
    print(f"  {'':<48}{'events/s':>10}{'this / v1':>11}{'commits/event':>15}")
    print(f"  {'v1 pipeline, unconfirmed (bench_e2e), baseline':<48}{v1:>10,.0f}{1:>10.2f}x")
    for key, label in (
        ("e2e", "outbox listener -> ROUTER service, normal"),
        ("e2e-threads", f"  the same, {args.threads} threads firing at once"),
        ("e2e-async", "  the same from an asyncio listener (fire_async)"),
        ("e2e-tasks", f"  the same, {args.tasks} asyncio tasks firing at once"),
    ):
        rate = statistics.median(rates[key])
        print(f"  {label:<48}{rate:>10,.0f}{rate / v1:>10.2f}x")
    for key, label in (
        ("unconsumed", "outbox listener, consumer down: fire() alone"),
        ("sqlite", "SQLite alone: an outbox row per commit"),
    ):
        rate = statistics.median(rates[key])
        print(f"  {label:<48}{rate:>10,.0f}{rate / v1:>10.2f}x")
    for case in cases:
        sync, threads, ack = case
        rate = statistics.median(rates[case])
        label = f"outbox {sync}, {threads} thread{'s' * (threads > 1)}, append"
        label += f" + ack/{ACK_EVERY}" if ack else ""
        per = statistics.median(batching[case])
        print(f"  {label:<48}{rate:>10,.0f}{rate / v1:>10.2f}x{per:>15.3f}")
    print('  target: outbox "normal" >= 0.30x of the v1 pipeline')


if __name__ == "__main__":
    sys.exit(main())
