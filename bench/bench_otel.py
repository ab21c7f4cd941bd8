"""Tracing on (sampler off) versus the tracing plugin not loaded, v2 pipeline, same run.

    python bench/bench_otel.py [--events N] [--repeats R]

The pipeline: an ``EventListener`` with ``wire = "v2"`` (a DEALER connecting over
ipc) in one process, fired by a dispatcher, to an ``EventService`` (a DEALER
binding) in another, one order dict per event.

- off: ``ZEROEVENTS_LOAD_PLUGINS=""``, the zeroevents-otel plugin not loaded;
- sampler off: the plugin loaded through its entry point in both processes, an
  SDK ``TracerProvider`` with ``ParentBased(ALWAYS_OFF)``, the plugin's defaults:
  a send outside a recording span and an event without a sampled ``traceparent``
  get no span (one test each);
- sampler off, roots: the same with ``ZEROEVENTS_OTEL_ROOTS=1``: every send makes a
  (non-recording) producer span and injects ``traceparent``, every fire extracts
  it and makes a consumer span, all dropped by the sampler (for reference);
- sampled, roots: ``ALWAYS_ON`` and roots, the spans recorded but exported
  nowhere (no processor): what recording costs (for reference).

Target: tracing on with the sampler off costs at most 10% (CPU time per event of
both processes, as bench_metrics.py reads it: the wall clock of a shared machine
moves more than that; events/s beside it). Medians of the repeats, interleaved.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
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
OPTIONS = {"wire": "v2"}
TARGET = 0.10


def _tracing(case: str) -> None:
    """Load the plugin and set the sampler of ``case``, or load nothing."""
    if case == "off":
        os.environ["ZEROEVENTS_LOAD_PLUGINS"] = ""
        return
    os.environ["ZEROEVENTS_LOAD_PLUGINS"] = "zeroevents-otel"
    os.environ["ZEROEVENTS_OTEL_ROOTS"] = "1" if case.endswith("roots") else ""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

    sampler = ALWAYS_ON if case.startswith("sampled") else ParentBased(ALWAYS_OFF)
    trace.set_tracer_provider(TracerProvider(sampler=sampler))


def consume(endpoint: str, n: int, case: str, out: Any) -> None:
    _tracing(case)
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
    listener = EventListener({"bind": endpoint, **OPTIONS}, dispatcher)
    service = EventService(dispatcher).listen(listener)
    listener.socket()
    out.put(("ready", None))
    service.run()


def produce(endpoint: str, n: int, case: str, out: Any) -> None:
    _tracing(case)
    from zeroevents_core import Dispatcher, EventListener

    dispatcher = Dispatcher()
    listener = EventListener({"connect": endpoint, **OPTIONS}, dispatcher)
    dispatcher.listen("orders.*", listener)
    cpu = time.process_time()
    for _ in range(n):
        dispatcher.fire(EVENT, ORDER)
    out.put(("cpu", time.process_time() - cpu))
    listener.close()


def one_run(n: int, case: str, endpoint: str) -> tuple[float, float]:
    """Events per second of one pair, and the CPU time per event of both processes."""
    out, sent = SPAWN.Queue(), SPAWN.Queue()
    receiving = SPAWN.Process(target=consume, args=(endpoint, n, case, out))
    sending = SPAWN.Process(target=produce, args=(endpoint, n, case, sent))
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
    return (n - 1) / seconds, (consumer_cpu + producer_cpu) / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    cases = ["off", "sampler off", "sampler off, roots", "sampled, roots"]
    rates: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory(prefix="ze-bench-otel-") as folder:
        for run in range(args.repeats):
            turn = run % len(cases)
            for index, name in enumerate(cases[turn:] + cases[:turn]):  # no case always first
                endpoint = f"ipc://{folder}/otel-{run}-{index}.ipc"
                events_per_s, cpu_per_event = one_run(args.events, name, endpoint)
                rates[name].append(events_per_s)
                cpus[name].append(cpu_per_event)
    rate = {name: statistics.median(values) for name, values in rates.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    print(
        f"tracing vs no tracing plugin, v2 pipeline (DEALER over ipc, {args.events:,} events, "
        f"median of {args.repeats})"
    )
    print(f"  {'':<46}{'events/s':>10}{'ratio':>8}{'CPU us/event':>14}{'ratio':>8}")
    labels = {
        "off": "tracing plugin not loaded",
        "sampler off": "tracing on, sampler ParentBased(ALWAYS_OFF)",
        "sampler off, roots": "  the same, ZEROEVENTS_OTEL_ROOTS=1",
        "sampled, roots": "ALWAYS_ON and roots, exported nowhere",
    }
    for name, label in labels.items():
        print(
            f"  {label:<46}{rate[name]:>10,.0f}{rate[name] / rate['off']:>7.2f}x"
            f"{cpu[name] * 1e6:>14.2f}{cpu[name] / cpu['off']:>7.2f}x"
        )
    cost = cpu["sampler off"] / cpu["off"] - 1
    verdict = "met" if cost <= TARGET else "MISSED"
    print(
        f"  target: tracing with the sampler off costs <= 10% CPU per event: {cost:+.1%}, {verdict}"
    )


if __name__ == "__main__":
    main()
