"""The demo's two child processes: the user code of :mod:`.user_code`, measured.

Around the user code each child only counts, in shared memory that the parent
reads to draw its counters and sum up (``SENT``, ``RECEIVED``, ``REJECTED``, then
the arrival times of the first and the last burst order), and reports to the
parent's queue: ``("ready", name, pid)``, the first order of each event fired and
of each way of breaking the contract, ``("streamed", received, rejected, latency)``
once the paced part has all arrived, and the producer's ``("done", "producer",
figures)``. The service reports nothing at its end: the parent has its figures
before it stops it.

The first ``stream`` orders are paced at ``rate`` and each carries the time it was
fired, so that the service measures the latency from the producer's ``fire()`` to
its own listener; the rest is a burst that measures throughput.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .orders import describe, invalid_among, make_event

SENT, RECEIVED, REJECTED, BURST_FIRST, BURST_LAST = range(5)
# Bounded waits: children are fresh interpreters, slow to start on a busy machine.
START_WAIT = 60.0
# First arrivals reported as lines, at most: each event fired, each way of breaking
# the contract (the demo has 2 events and breaks the contract in 4 ways).
SHOWN_REJECTIONS = 8


def _quiet_child() -> None:
    # Ctrl-C goes to the whole process group: the parent ends the producer itself
    # (the service's own handler stops the service gracefully).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Rejections are the point of the demo, reported by the parent, not as warnings.
    logging.getLogger("zeroevents_core.service").setLevel(logging.ERROR)


PERCENTILES = (("p50", 0.5), ("p99", 0.99), ("max", 1.0))


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def serve(
    endpoint: str,
    settings: dict[str, str],
    contracts: str,
    stream: int,
    counters: Sequence[Any],
    reports: Any,
) -> None:
    """The service process: :func:`.user_code.service`, counting what arrives."""
    _quiet_child()
    from ..dispatcher import default_dispatcher
    from ..schemas import SchemaRegistry
    from ..transports.codec import SCHEMA_ERROR
    from . import user_code
    from .wording import explain

    events = default_dispatcher()  # the process-wide one, which the user code uses
    registry = SchemaRegistry.from_folder(contracts)  # to word the rejections only
    latencies: list[float] = []
    shown: set[str] = set()
    received, rejected = counters[RECEIVED], counters[REJECTED]
    burst_first, burst_last = counters[BURST_FIRST], counters[BURST_LAST]
    now = time.time

    def arrived(at: float) -> None:
        done = received.value + rejected.value
        if done == stream:
            latencies.sort()
            latency = {name: _percentile(latencies, q) for name, q in PERCENTILES}
            reports.put(("streamed", received.value, rejected.value, latency, len(latencies)))
        elif done > stream:
            if not burst_first.value:
                burst_first.value = at
            burst_last.value = at

    def on_order(order: Any, *more: Any) -> None:
        at = now()
        received.value += 1
        seq = order.get("seq")
        if seq < stream:
            latencies.append(at - order["sent_at"])
        event = events.firing() or "?"
        if event not in shown:
            shown.add(event)
            latency = (at - order["sent_at"]) * 1000
            reports.put(("fired", event, seq, describe(event, order), latency))
        arrived(at)

    def on_rejected(event: str, payload: Any, failures: Any, address: Any) -> None:
        at = now()
        rejected.value += 1
        first = payload[0] if payload and isinstance(payload[0], dict) else {}
        seq = first.get("seq")
        path, message, source = failures[0]
        key = f"{event} {path}"
        if key not in shown and len(shown) < SHOWN_REJECTIONS:
            shown.add(key)
            where = f" ({Path(source).name})" if source else ""
            why = explain(registry, event, payload) or f"{path}: {message}"
            reports.put(("rejected", event, seq, why + where, 0.0))
        arrived(at)

    events.listen(SCHEMA_ERROR, on_rejected)
    reports.put(("ready", "service", os.getpid()))
    user_code.service(endpoint, settings, contracts, on_order)


def produce(
    endpoint: str,
    settings: dict[str, str],
    total: int,
    stream: int,
    rate: int,
    counters: Sequence[Any],
    reports: Any,
    go: Any,
) -> None:
    """The producer process: :func:`.user_code.producer`, fed paced orders."""
    _quiet_child()
    from ..dispatcher import default_dispatcher
    from ..transports.codec import PUSH_ERROR
    from . import user_code

    failed = 0

    def on_failed(*_: Any) -> None:
        nonlocal failed
        failed += 1

    default_dispatcher().listen(PUSH_ERROR, on_failed)
    reports.put(("ready", "producer", os.getpid()))
    if not go.wait(START_WAIT):
        return
    sent = counters[SENT]

    def orders() -> Iterator[tuple[str, dict[str, Any]]]:
        clock, now = time.perf_counter, time.time
        started = clock()
        for seq in range(total):
            if seq < stream:
                ahead = started + seq / rate - clock()
                if ahead > 0.001:
                    time.sleep(ahead)
            event, order, _ = make_event(seq)
            order["sent_at"] = now()
            yield event, order
            sent.value = seq + 1 - failed  # fired by the user code by now

    user_code.producer(endpoint, settings, orders())
    figures = {
        "sent": total - failed,
        "failed": failed,
        "invalid": invalid_among(total),
    }
    reports.put(("done", "producer", figures))
