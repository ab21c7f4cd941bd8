"""Async end-to-end throughput beside the sync pipeline and raw pyzmq, in one run.

    python bench/bench_async.py [--events N] [--repeats R] [--serializer NAME]

Events per second from a listener in one process to a listener fired by a service
in another, over ipc, one order dict per event:
- async: ``AsyncEventListener`` (``await fire_async``) -> ``AsyncEventService``
  (an ``async def`` listener, ``max_concurrency=1``);
- sync: ``EventListener`` (``fire``) -> ``EventService``;
- raw pyzmq ``send_multipart``/``recv_multipart`` moving the same frames with the
  same serializer.
The sync and raw measurements are bench_e2e's own functions, imported, so that both
benches measure the same thing. Figures are medians of the repeats, interleaved;
the consumer clocks first to last message.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from typing import Any

from bench_e2e import (
    EVENT,
    ORDER,
    consume_raw,
    consume_zeroevents,
    produce_raw,
    produce_zeroevents,
    throughput,
)

from zeroevents_core import AsyncEventListener, AsyncEventService, Dispatcher


def consume_async(endpoint: str, n: int, serializer: str, out: Any) -> None:
    async def main() -> None:
        dispatcher = Dispatcher()
        service = AsyncEventService(dispatcher)
        count = 0
        started = 0.0

        async def on_order(order: dict[str, Any]) -> None:
            nonlocal count, started
            count += 1
            if count == 1:
                started = time.perf_counter()
            if count == n:
                out.put(("done", time.perf_counter() - started))
                service.stop()

        dispatcher.listen(EVENT, on_order)
        listener = AsyncEventListener(
            {"bind": endpoint, "socket_type": "PULL", "serializer": serializer}, dispatcher
        )
        service.listen(listener)
        listener.socket()
        out.put(("ready", 0.0))
        await service.run()

    asyncio.run(main())


def produce_async(endpoint: str, n: int, serializer: str) -> None:
    async def main() -> None:
        dispatcher = Dispatcher()
        listener = AsyncEventListener(
            {"connect": endpoint, "socket_type": "PUSH", "serializer": serializer}, dispatcher
        )
        dispatcher.listen("orders.*", listener)
        for _ in range(n):
            await dispatcher.fire_async(EVENT, ORDER)
        await listener.aclose()

    asyncio.run(main())


def measure(n: int, repeats: int, serializer: str, folder: str) -> dict[str, float]:
    rates: dict[str, list[float]] = {"async": [], "sync": [], "raw": []}
    for run in range(repeats):
        common = {"n": n, "serializer": serializer, "folder": folder}
        rates["async"].append(throughput(consume_async, produce_async, **common, run=3 * run))
        rates["sync"].append(
            throughput(consume_zeroevents, produce_zeroevents, **common, run=3 * run + 1)
        )
        rates["raw"].append(throughput(consume_raw, produce_raw, False, **common, run=3 * run + 2))
    return {name: statistics.median(values) for name, values in rates.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serializer", default="json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zeroevents-bench-") as folder:
        rates = measure(args.events, args.repeats, args.serializer, folder)
    print(
        f"end-to-end throughput, ipc, {args.serializer}, {args.events} events, "
        f"median of {args.repeats}"
    )
    print(f"  {'':<44}{'events/s':>12}{'async / this':>15}")
    for name, label in [
        ("async", "AsyncEventListener -> AsyncEventService"),
        ("sync", "EventListener -> EventService"),
        ("raw", "raw pyzmq send/recv_multipart"),
    ]:
        print(f"  {label:<44}{rates[name]:>12,.0f}{rates['async'] / rates[name]:>14.2f}x")


if __name__ == "__main__":
    sys.exit(main())
