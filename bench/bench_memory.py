"""Throughput of the ``memory`` transport, beside ``zmq`` over ipc in the same run.

    python bench/bench_memory.py [--events N] [--repeats R] [--serializer NAME]

Events per second from an ``EventListener`` fired in the main thread to a listener
fired by an ``EventService`` running in a thread of the same process, one order
dict per event, over:

(a) ``memory``: an in-process named link (``memory://bench``);
(b) ``zmq`` over ipc, the same two threads (the baseline);
(c) a bare ``queue.Queue`` of the same serialized frames between the same two
    threads, decoded on the other side (the floor: what any handoff costs).

Both transports are measured in one process so that the ratio (a)/(b) compares the
links, not two processes against one. Figures are medians of the repeats; the
consumer clocks first to last event.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import threading
import time
from typing import Any

from zeroevents_core import Dispatcher, EventListener, EventService, get_serializer

ORDER = {
    "id": 12345,
    "customer": {"id": "6f1c1f5e", "name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [{"sku": "BOO-1001", "quantity": 1, "price": 12.5}],
    "total": 12.5,
    "currency": "EUR",
}


def through_service(receiver: dict[str, Any], sender: dict[str, Any], n: int) -> float:
    """Seconds from the first to the last of ``n`` events, EventListener -> EventService."""
    dispatcher = Dispatcher()
    done = threading.Event()
    clock: list[float] = []

    def on_order(order: dict[str, Any]) -> None:
        if not clock:
            clock.append(time.perf_counter())
        if order["id"] == n - 1:
            clock.append(time.perf_counter())
            done.set()

    dispatcher.listen("orders.created", on_order)
    listener = EventListener(receiver, dispatcher)
    listener.socket()  # bound before the sender starts
    service = EventService(dispatcher).poll_timeout(100).listen(listener)
    serving = threading.Thread(target=service.run)
    serving.start()
    try:
        events = Dispatcher()
        with EventListener(sender, events) as out:
            events.listen("orders.*", out)
            for number in range(n):
                events.fire("orders.created", {**ORDER, "id": number})
            if not done.wait(120):
                raise SystemExit(f"the service did not receive {n} events within 120 s")
    finally:
        service.stop()
        serving.join(60)
    return clock[1] - clock[0]


def through_queue(n: int, serializer: str) -> float:
    """The floor: the same frames through a bounded queue.Queue, decoded on the other side."""
    codec = get_serializer(serializer)
    handoff: queue.Queue[list[bytes]] = queue.Queue(1000)
    clock: list[float] = []

    def consume() -> None:
        for number in range(n):
            frames = handoff.get()
            if number == 0:
                clock.append(time.perf_counter())
            frames[0].decode()
            codec.unserialize(frames[1:])
        clock.append(time.perf_counter())

    consuming = threading.Thread(target=consume)
    consuming.start()
    for number in range(n):
        frames = codec.serialize([{**ORDER, "id": number}])
        frames.insert(0, b"orders.created")
        handoff.put(frames)
    consuming.join(120)
    return clock[1] - clock[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serializer", default="json")
    args = parser.parse_args(argv)
    n, common = args.events, {"serializer": args.serializer}
    figures: dict[str, list[float]] = {"memory": [], "zmq ipc": [], "queue.Queue": []}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.repeats):
            name = f"memory://bench-{run}"
            seconds = through_service(
                {"transport": "memory", "bind": name, **common},
                {"transport": "memory", "connect": name, **common},
                n,
            )
            figures["memory"].append(n / seconds)
            endpoint = f"ipc://{folder}/bench-{run}.ipc"
            seconds = through_service(
                {"bind": endpoint, **common}, {"connect": endpoint, **common}, n
            )
            figures["zmq ipc"].append(n / seconds)
            figures["queue.Queue"].append(n / through_queue(n, args.serializer))
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(f"{n} events, {args.serializer}, median of {args.repeats}, two threads of one process")
    for name, rate in median.items():
        ratio = rate / median["zmq ipc"]
        print(f"  {name:12} {rate:>10,.0f} events/s  {ratio:.2f}x of zmq ipc")


if __name__ == "__main__":
    main()
