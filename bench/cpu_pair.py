"""The CPU harness of bench_otel.py: one producer process firing orders through an
``EventListener`` to an ``EventService`` in another, each side's CPU time per event.

CPU time, not the wall clock: a shared machine moves the latter far more than the
few percent an observer may cost. ``setup(case)`` runs first in each process (a
top-level function: it is pickled to the spawned processes), before zeroevents is
imported there: it sets ``ZEROEVENTS_LOAD_PLUGINS`` and whatever ``case`` needs.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

SPAWN = multiprocessing.get_context("spawn")
EVENT = "orders.created"
ORDER = {
    "id": 12345,
    "customer": {"id": "6f1c1f5e-8d2b-4c8e", "name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [{"sku": "BOO-1001", "quantity": 1, "price": 12.5}],
    "total": 12.5,
    "currency": "EUR",
}
Setup = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    """One pair's figures: events/s (consumer, first to last), CPU s per event."""

    rate: float
    producer: float
    consumer: float


def consume(endpoint: str, n: int, case: str, options: dict[str, Any], setup: Setup,
            out: Any) -> None:  # fmt: skip
    setup(case)
    from zeroevents_core import Dispatcher, EventListener, EventService

    dispatcher = Dispatcher()
    count, started, cpu = 0, 0.0, 0.0

    def on_order(order: dict[str, Any]) -> None:
        nonlocal count, started, cpu
        count += 1
        if count == 1:
            started, cpu = time.perf_counter(), time.process_time()
        if count == n:
            out.put(("done", time.perf_counter() - started, time.process_time() - cpu))
            service.poll_timeout(200)  # answer the producer's flush barrier, then stop

    dispatcher.listen(EVENT, on_order)
    dispatcher.listen("zeroevents.service.idle", lambda service: service.stop())
    listener = EventListener({"bind": endpoint, **options}, dispatcher)
    service = EventService(dispatcher).listen(listener)
    listener.socket()
    out.put(("ready", None))
    service.run()


def produce(endpoint: str, n: int, case: str, options: dict[str, Any], setup: Setup,
            out: Any) -> None:  # fmt: skip
    setup(case)
    from zeroevents_core import Dispatcher, EventListener

    dispatcher = Dispatcher()
    listener = EventListener({"connect": endpoint, **options}, dispatcher)
    dispatcher.listen("orders.*", listener)
    cpu = time.process_time()
    for _ in range(n):
        dispatcher.fire(EVENT, ORDER)
    out.put(("cpu", time.process_time() - cpu))
    listener.close()


def one_run(n: int, case: str, options: dict[str, Any], setup: Setup, endpoint: str) -> Run:
    out, sent = SPAWN.Queue(), SPAWN.Queue()
    receiving = SPAWN.Process(target=consume, args=(endpoint, n, case, options, setup, out))
    sending = SPAWN.Process(target=produce, args=(endpoint, n, case, options, setup, sent))
    try:
        receiving.start()
        assert out.get(timeout=60)[0] == "ready"
        sending.start()
        kind, seconds, consumer_cpu = out.get(timeout=300)
        assert kind == "done"
        kind, producer_cpu = sent.get(timeout=300)
        assert kind == "cpu"
        sending.join(60)
        receiving.join(60)
    finally:
        for process in (receiving, sending):
            if process.is_alive():
                process.kill()
                process.join(10)
    return Run((n - 1) / seconds, producer_cpu / n, consumer_cpu / n)


def medians(n: int, repeats: int, cases: Sequence[str], options: dict[str, Any],
            setup: Setup, folder: str) -> dict[str, Run]:  # fmt: skip
    """The median of each figure over ``repeats`` runs of each case, interleaved (each
    case first in turn, so that none always runs on a cold or a warm machine)."""
    runs: dict[str, list[Run]] = {case: [] for case in cases}
    for repeat in range(repeats):
        turn = repeat % len(cases)
        for index, case in enumerate([*cases[turn:], *cases[:turn]]):
            endpoint = f"ipc://{folder}/pair-{repeat}-{index}.ipc"
            runs[case].append(one_run(n, case, options, setup, endpoint))
    fields = ("rate", "producer", "consumer")
    return {
        case: Run(*(statistics.median(getattr(run, field) for run in each) for field in fields))
        for case, each in runs.items()
    }
