"""Events per second through NATS JetStream with acknowledgements, beside raw nats-py.

    python bench/bench_nats.py [--events N] [--repeats R] [--servers URL]

One producer process and one consumer process run at once; the figure is the
events divided by the time from the first publish to the last event handled (both
clocked with the system-wide monotonic clock; the consumer's closing is not). Beside
it, the CPU time both processes spent per event (the producer's from its first
publish to its last PubAck, the consumer's from its first event to its last): on a
machine shared with other jobs, wall-clock rates move with the load, CPU per event
much less. Each run has a stream of its own (file storage, deleted after) and one
order dict per event.

(z) zeroevents: ``EventListener`` fired from sync code (PubAcks in a window of
    ``max_pending``, ``close()`` waits for them) to an ``EventService`` whose
    listener is fired, acked after it returned (``transport: nats``, json; headers
    with the event name, content type and ``Nats-Msg-Id``);
(a) the same with ``AsyncEventListener`` and ``AsyncEventService`` (one loop, no thread);
(r) raw nats-py JetStream, the code its documentation shows: ``publish_async`` in a
    window of 1000 (``publish_async_max_pending``), ``publish_async_completed()``, a
    durable pull consumer, ``fetch(256)``, ``await msg.ack()`` each; the same json
    serializer, no headers;
(c) core NATS pub/sub (no stream, no acks): what the server does without durability.

(r) can be slower than (z): nats-py's ``publish_async`` makes a future, a random
token and two callbacks per publish and parses each PubAck into a dataclass, and
``fetch()`` makes a task, a uuid and a timer per message; the nats transport
publishes with a numbered reply subject and sends its own pull requests, read by a
callback (plugins/zeroevents-nats/zeroevents_nats/_link.py).

Targets: (z) and (a) >= 0.8x (r), and >= 20,000 acknowledged events/s. Figures are the
medians of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
import uuid
from typing import Any

ORDER = {
    "id": 12345,
    "customer": {"id": "6f1c1f5e", "name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [
        {"sku": "BOO-1001", "quantity": 1, "price": 12.5},
        {"sku": "PEN-7007", "quantity": 3, "price": 1.2},
    ],
    "total": 16.1,
    "currency": "EUR",
}
SPAWN = multiprocessing.get_context("spawn")


def json_serializer() -> Any:
    """The serializer zeroevents uses: the baselines move the same bytes."""
    from zeroevents_core import get_serializer

    return get_serializer("json")


class Count:
    """A consumer's handled events: when the last one was, and the CPU time its
    process spent from the first one to the last one (all its threads)."""

    def __init__(self, n: int) -> None:
        self.n, self.seen, self.ended, self.cpu = n, 0, 0.0, 0.0

    def one(self) -> bool:
        """Count one event; whether it was the last."""
        self.seen += 1
        if self.seen == 1:
            self.cpu = time.process_time()
        if self.seen < self.n:
            return False
        self.ended = time.monotonic()
        self.cpu = time.process_time() - self.cpu
        return True

    def report(self, out: Any) -> None:
        out.put(("consumer", self.ended, self.cpu))


# -- zeroevents ---------------------------------------------------------------


def z_options(servers: str, stream: str, subject: str) -> dict[str, Any]:
    return {
        "transport": "nats",
        "servers": servers,
        "stream": stream,
        "subjects": subject,
    }


def z_consumer(servers: str, stream: str, subject: str, n: int, ready: Any, out: Any) -> None:
    from zeroevents_core import Dispatcher, EventListener, EventService

    dispatcher = Dispatcher()
    service = EventService(dispatcher).poll_timeout(100)
    count = Count(n)

    def handle(order: dict[str, Any]) -> None:
        if count.one():  # its ack goes out as the fire returns
            service.stop()

    dispatcher.listen(subject, handle)
    dispatcher.listen("zeroevents.service.idle", lambda _: ready.set())
    listener = EventListener({**z_options(servers, stream, subject), "durable": "bench"})
    service.listen(listener)
    service.run()  # not clocked: closing waits for the open pull request (fetch_wait_ms)
    count.report(out)


def z_producer(servers: str, stream: str, subject: str, n: int, out: Any) -> None:
    from zeroevents_core import Dispatcher, EventListener

    dispatcher = Dispatcher()
    listener = EventListener(z_options(servers, stream, subject), dispatcher)
    dispatcher.listen(subject, listener)
    listener.socket()
    start, cpu = time.monotonic(), time.process_time()
    for _ in range(n):
        dispatcher.fire(subject, ORDER)
    undelivered = listener.close()
    out.put(("producer", start, undelivered, time.process_time() - cpu))


def a_consumer(servers: str, stream: str, subject: str, n: int, ready: Any, out: Any) -> None:
    from zeroevents_core import Dispatcher
    from zeroevents_core.aio import AsyncEventListener, AsyncEventService

    async def main() -> None:
        dispatcher = Dispatcher()
        service = AsyncEventService(dispatcher).poll_timeout(100)
        count = Count(n)

        def handle(order: dict[str, Any]) -> None:
            if count.one():
                service.stop()

        dispatcher.listen(subject, handle)
        dispatcher.listen("zeroevents.service.idle", lambda _: ready.set())
        options = {**z_options(servers, stream, subject), "durable": "bench"}
        service.listen(AsyncEventListener(options, dispatcher))
        await service.run()
        count.report(out)

    asyncio.run(main())


def a_producer(servers: str, stream: str, subject: str, n: int, out: Any) -> None:
    from zeroevents_core import Dispatcher
    from zeroevents_core.aio import AsyncEventListener

    async def main() -> None:
        dispatcher = Dispatcher()
        listener = AsyncEventListener(z_options(servers, stream, subject), dispatcher)
        dispatcher.listen(subject, listener)
        await listener.socket().opened()
        start, cpu = time.monotonic(), time.process_time()
        for _ in range(n):
            await dispatcher.fire_async(subject, ORDER)
        undelivered = await listener.aclose()
        out.put(("producer", start, undelivered, time.process_time() - cpu))

    asyncio.run(main())


# -- raw nats-py JetStream ------------------------------------------------------


def r_consumer(servers: str, stream: str, subject: str, n: int, ready: Any, out: Any) -> None:
    import nats
    from nats.js.api import ConsumerConfig

    async def main() -> None:
        nc = await nats.connect(servers)
        js = nc.jetstream()
        config = ConsumerConfig(max_ack_pending=512, ack_wait=30)
        sub = await js.pull_subscribe(subject, durable="bench", stream=stream, config=config)
        loads = json_serializer().loads
        ready.set()
        count = Count(n)
        while count.seen < n:
            try:
                messages = await sub.fetch(256, timeout=1)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                loads(message.data)
                await message.ack()
                count.one()
        await sub.unsubscribe()
        await nc.drain()
        count.report(out)

    asyncio.run(main())


def r_producer(servers: str, stream: str, subject: str, n: int, out: Any) -> None:
    import nats

    async def main() -> None:
        nc = await nats.connect(servers)
        js = nc.jetstream(publish_async_max_pending=1000)
        dumps = json_serializer().dumps
        start, cpu = time.monotonic(), time.process_time()
        futures = []
        for _ in range(n):
            futures.append(await js.publish_async(subject, dumps(ORDER)))
        await js.publish_async_completed()
        failed = sum(1 for future in futures if future.exception() is not None)
        await nc.drain()
        out.put(("producer", start, failed, time.process_time() - cpu))

    asyncio.run(main())


# -- core NATS ----------------------------------------------------------------


def c_consumer(servers: str, stream: str, subject: str, n: int, ready: Any, out: Any) -> None:
    import nats

    async def main() -> None:
        nc = await nats.connect(servers)
        done = asyncio.Event()
        count = Count(n)
        loads = json_serializer().loads

        async def handle(message: Any) -> None:
            loads(message.data)
            if count.one():
                done.set()

        await nc.subscribe(subject, cb=handle, pending_msgs_limit=-1, pending_bytes_limit=-1)
        await nc.flush()
        ready.set()
        await done.wait()
        count.report(out)
        await nc.close()

    asyncio.run(main())


def c_producer(servers: str, stream: str, subject: str, n: int, out: Any) -> None:
    import nats

    async def main() -> None:
        nc = await nats.connect(servers, flusher_queue_size=4096)
        dumps = json_serializer().dumps
        start, cpu = time.monotonic(), time.process_time()
        for _ in range(n):
            await nc.publish(subject, dumps(ORDER))
        await nc.flush()
        await nc.close()
        out.put(("producer", start, 0, time.process_time() - cpu))

    asyncio.run(main())


VARIANTS = {
    "z": ("zeroevents over JetStream, acked", z_consumer, z_producer, True),
    "a": ("the same, asyncio flavour", a_consumer, a_producer, True),
    "r": ("raw nats-py JetStream, acked", r_consumer, r_producer, True),
    "c": ("core NATS pub/sub, no acks", c_consumer, c_producer, False),
}


async def _stream(servers: str, stream: str, subject: str, create: bool) -> None:
    import nats

    nc = await nats.connect(servers)
    js = nc.jetstream()
    if create:
        await js.add_stream(name=stream, subjects=[subject])
    else:
        await js.delete_stream(stream)
    await nc.close()


def run(variant: str, servers: str, n: int) -> tuple[float, float]:
    """Events/s of one run of ``variant``, and the CPU µs per event of its two processes."""
    _, consumer, producer, durable = VARIANTS[variant]
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"BENCH_{tag}", f"bench{tag}.orders"
    if durable:
        asyncio.run(_stream(servers, stream, subject, create=True))
    ready, out = SPAWN.Event(), SPAWN.Queue()
    processes = [SPAWN.Process(target=consumer, args=(servers, stream, subject, n, ready, out))]
    processes[0].start()
    try:
        if not ready.wait(60):
            raise SystemExit(f"{variant}: the consumer did not start")
        processes.append(SPAWN.Process(target=producer, args=(servers, stream, subject, n, out)))
        processes[1].start()
        reports = {report[0]: report[1:] for report in (out.get(timeout=600) for _ in range(2))}
    finally:
        for process in processes:
            process.join(60)
            if process.is_alive():
                process.kill()
                process.join()
        if durable:
            asyncio.run(_stream(servers, stream, subject, create=False))
    start, failed, producer_cpu = reports["producer"]
    if failed:
        raise SystemExit(f"{variant}: {failed} publishes were not acknowledged")
    ended, consumer_cpu = reports["consumer"]
    return n / (ended - start), (producer_cpu + consumer_cpu) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--servers", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name in VARIANTS:  # interleaved: a busy moment hits every variant alike
            runs[name].append(run(name, args.servers, args.events))
    rate = {name: statistics.median(r for r, _ in values) for name, values in runs.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in runs.items()}
    print(
        f"NATS, {args.events} events of one order dict (json), median of {args.repeats}; "
        f"{os.cpu_count()} cores, load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(f"  {'':<38}{'events/s':>10}{'(z)/this':>10}{'(a)/this':>10}{'CPU us/event':>14}")
    for name, (label, *_) in VARIANTS.items():
        print(
            f"  ({name}) {label:<34}{rate[name]:>10,.0f}{rate['z'] / rate[name]:>9.2f}x"
            f"{rate['a'] / rate[name]:>9.2f}x{cpu[name]:>14.1f}"
        )
    print(
        "  CPU us/event: the producer's and the consumer's processes (not the server's); "
        f"(r) spends {cpu['r'] / cpu['z']:.2f}x (z)'s, {cpu['r'] / cpu['a']:.2f}x (a)'s"
    )
    print("  targets: (z) and (a) >= 0.80x (r), and >= 20,000 acknowledged events/s")


if __name__ == "__main__":
    main()
