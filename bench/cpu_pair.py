"""The CPU harness of bench_otel.py and bench_metrics.py: one producer process firing
orders through an ``EventListener`` to an ``EventService`` in another, each side's CPU
time per event.

CPU time, not the wall clock: a shared machine moves the latter far more than the
few percent an observer may cost. ``setup(case)`` runs first in each process (a
top-level function: it is pickled to the spawned processes), before zeroevents is
imported there: it sets ``ZEROEVENTS_LOAD_PLUGINS`` and whatever ``case`` needs, and
may give something served beside (a metrics server: its ``port`` is reported, its
``close()`` called at the end). ``watch(case, ports)``, in this process once both
are ready, may start something while the events flow (a scraper) and give what
stops it and says how many times it was served (bench_metrics.py).
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
Setup = Callable[[str], Any]
Watch = Callable[[str, list[int]], Callable[[], int] | None]


@dataclass(frozen=True)
class Run:
    """One pair's figures: events/s (consumer, first to last), CPU s per event."""

    rate: float
    producer: float
    consumer: float
    served: float = 0
    """What ``watch`` counted (scrapes served), 0 without one."""


def _ready(out: Any, beside: Any) -> None:
    out.put(("ready", getattr(beside, "port", None)))


def _close(beside: Any) -> None:
    if beside is not None:
        beside.close()


def consume(endpoint: str, n: int, case: str, options: dict[str, Any], setup: Setup,
            out: Any) -> None:  # fmt: skip
    beside = setup(case)
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
    _ready(out, beside)
    service.run()
    _close(beside)


def produce(endpoint: str, n: int, case: str, options: dict[str, Any], setup: Setup,
            out: Any) -> None:  # fmt: skip
    beside = setup(case)
    from zeroevents_core import Dispatcher, EventListener

    _ready(out, beside)
    dispatcher = Dispatcher()
    listener = EventListener({"connect": endpoint, **options}, dispatcher)
    dispatcher.listen("orders.*", listener)
    cpu = time.process_time()
    for _ in range(n):
        dispatcher.fire(EVENT, ORDER)
    out.put(("cpu", time.process_time() - cpu))
    listener.close()
    _close(beside)


def one_run(n: int, case: str, options: dict[str, Any], setup: Setup, endpoint: str,
            watch: Watch | None = None) -> Run:  # fmt: skip
    out, sent = SPAWN.Queue(), SPAWN.Queue()
    stop: Callable[[], int] | None = None
    receiving = SPAWN.Process(target=consume, args=(endpoint, n, case, options, setup, out))
    sending = SPAWN.Process(target=produce, args=(endpoint, n, case, options, setup, sent))
    try:
        receiving.start()
        kind, consumer_port = out.get(timeout=60)
        assert kind == "ready"
        sending.start()
        kind, producer_port = sent.get(timeout=60)
        assert kind == "ready"
        if watch is not None:
            stop = watch(case, [consumer_port, producer_port])
        kind, seconds, consumer_cpu = out.get(timeout=300)
        assert kind == "done"
        kind, producer_cpu = sent.get(timeout=300)
        assert kind == "cpu"
        served = 0 if stop is None else stop()
        stop = None
        sending.join(60)
        receiving.join(60)
    finally:
        if stop is not None:
            stop()
        for process in (receiving, sending):
            if process.is_alive():
                process.kill()
                process.join(10)
    return Run((n - 1) / seconds, producer_cpu / n, consumer_cpu / n, served)


def medians(n: int, repeats: int, cases: Sequence[str], options: dict[str, Any],
            setup: Setup, folder: str, watch: Watch | None = None) -> dict[str, Run]:  # fmt: skip
    """The median of each figure over ``repeats`` runs of each case, interleaved (each
    case first in turn, so that none always runs on a cold or a warm machine)."""
    runs: dict[str, list[Run]] = {case: [] for case in cases}
    for repeat in range(repeats):
        turn = repeat % len(cases)
        for index, case in enumerate([*cases[turn:], *cases[:turn]]):
            endpoint = f"ipc://{folder}/pair-{repeat}-{index}.ipc"
            runs[case].append(one_run(n, case, options, setup, endpoint, watch))
    fields = ("rate", "producer", "consumer", "served")
    return {
        case: Run(*(statistics.median(getattr(run, field) for run in each) for field in fields))
        for case, each in runs.items()
    }
