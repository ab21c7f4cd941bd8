"""What closing a listener costs, toward a receiver as the PHP original and toward ours.

    python bench/bench_barrier.py [--repeats R]

A producer opens an ``EventListener`` (DEALER, the defaults), sends N events and
closes it; the figure is the median time of ``close()``. Receivers, each in its own
process over ipc: a plain pyzmq ROUTER (no handshake property, as the original: the
barrier is not sent, close waits for the hellos up to ``hello_timeout_ms``), and a
zeroevents ``EventService`` (ROUTER: it says hello, the barrier is sent and confirmed).
Baseline in the same run: the same close with ``flush_on_close`` off (only LINGER).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

from zeroevents_core import Dispatcher, EventListener, EventService


def plain_router(endpoint: str, ready: Any) -> None:
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(endpoint)
    ready.set()
    while router.poll(5000):
        router.recv_multipart()
    context.destroy(linger=0)


def service(endpoint: str, ready: Any) -> None:
    dispatcher = Dispatcher()
    listener = EventListener({"bind": endpoint, "socket_type": "ROUTER"}, dispatcher)
    run = EventService(dispatcher).listen(listener).poll_timeout(5000)
    dispatcher.listen("zeroevents.service.idle", lambda service: service.stop())
    listener.socket()
    ready.set()
    run.run()


def close_ms(endpoint: str, events: int, flush: bool) -> float:
    listener = EventListener({"connect": endpoint, "flush_on_close": flush})
    socket = listener.socket()
    for number in range(events):
        socket.push("orders.created", [{"id": number}])
    started = time.perf_counter()
    undelivered = listener.close()
    elapsed = (time.perf_counter() - started) * 1000
    assert undelivered == 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    print(f"{'receiver':<14}{'events':>8}{'close, default':>16}{'no barrier':>12}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for name, target in (("plain (PHP)", plain_router), ("zeroevents", service)):
            endpoint = f"ipc://{Path(folder) / name[:5]}.ipc"
            ready = spawn.Event()
            process = spawn.Process(target=target, args=(endpoint, ready), daemon=True)
            process.start()
            try:
                ready.wait(60)
                for events in (1, 1000):
                    default = [close_ms(endpoint, events, True) for _ in range(args.repeats)]
                    baseline = [close_ms(endpoint, events, False) for _ in range(args.repeats)]
                    ours, base = statistics.median(default), statistics.median(baseline)
                    print(
                        f"{name:<14}{events:>8}{ours:>13.1f} ms{base:>9.1f} ms{ours / base:>7.1f}x"
                    )
            finally:
                process.terminate()
                process.join(10)


if __name__ == "__main__":
    main()
