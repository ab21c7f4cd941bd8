"""The cost of at-least-once: in process (wire v2, the engine), over pyzmq pipes, and
through the library's own pipeline, each beside today's v1 in the same run.

    .venv/bin/python bench/bench_delivery.py [--events N] [--repeat R] [--batch B]
        [--pipe-events M] [--events-e2e K] [--e2e-repeat R] [--latency-events L]
        [--only-e2e] [--profile DIR]

For an order (with floats: the json serializer writes PHP's layout) and for a small
event, each row is the best of R runs of N events, in ns per event, with the ratio to the
v1 codec (the name frame and the json serializer, both ways: what a v1 sender and a
receiver pay per event today, sockets aside):

- v2 framing: the same event in the v2 envelope, encoded and decoded, payload through
  the serializer as in v1; then the same with a W3C ``traceparent`` header;
- engine: ``SendWindow.send`` and ``Deduplicator.seen`` per event, and per batch of B
  events the receiver's ``acks()``, their encoding and decoding, the sender's
  ``acknowledge`` and ``due``;
- engine, two receivers: the same with events dealt round-robin to two receivers
  (each acknowledges every other number: ranges of one);
- at-least-once: v2 framing plus engine, what the integration adds to a socket's
  per-event work.

Sockets are left out there on purpose: the integration's budget is the end-to-end
target of issue 13 (at-least-once at 0.5x or more of unconfirmed v1 throughput), and
this says how much of it the engine itself takes.

A second table (``--pipe-events M``, 0 skips it) moves M small events through
hand-written pyzmq pipes, DEALER to ROUTER over ipc, the receiver in another process:
v1 frames unconfirmed, and v2 at-least-once with this engine (the receiver
acknowledges after each batch it reads, up to 1,024 messages; the sender reads
acknowledgements every 64 sends and when the window is full, and waits at the end
until everything is acknowledged). Events per second, first to last event fired by the
receiver, median of R runs taking turns; the ratio is the integration's ceiling, the
library's own sockets and service around it cost more.

A third table (``--events-e2e K``, 0 skips it) is the library's pipeline, issue 13's
target: a producer process fires K small events through an ``EventListener``
(DEALER, connected) to a consumer process's ``EventService`` (ROUTER, bound), over
ipc; unconfirmed v1 (the baseline, today's default) against ``delivery =
"at-least-once"`` (the producer flushes until every event is acknowledged before it
closes), taking turns, median of ``--e2e-repeat`` (3). Target: at-least-once >= 0.50x
of v1; the retransmissions and the duplicates the consumer dropped are printed below.
Beside it, not counted for the target: at-least-once batched (``batch_max`` 64,
``linger_ms`` 1). Every process loads the plugins a ``pip install zeroevents-core
zeroevents-msgpack`` has (``ZEROEVENTS_LOAD_PLUGINS``, unless set): no observer.

Then the acknowledgement latency at 1,000 events/s (``--latency-events L``): the
producer fires one event a millisecond at-least-once, and its socket's own
``ack_latency`` (first send to acknowledgement, what ``Stats`` observes) is recorded
per event; beside it the v1 confirmed round trip (``confirmed = True``, each push
waits for its confirmation) at the same pace, p50 and p99 of both.

``--profile DIR`` writes a cProfile of both processes of each pipeline run there
(``producer-at-least-once-0.prof``...), for ``python -m pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import zmq

from zeroevents_core import Dispatcher, EventListener, EventService, get_serializer
from zeroevents_core.delivery import Deduplicator, SendWindow
from zeroevents_core.envelope import (
    Envelope,
    Kind,
    decode_ack,
    decode_event,
    encode_ack,
    encode_event,
    kind_of,
    new_producer_id,
)
from zeroevents_core.stats import Histogram

EVENT = "orders.created"
ORDER: dict[str, Any] = {
    "id": 918273,
    "customer": {"id": 42, "name": "Ada Lovelace", "email": "ada@example.com", "vip": True},
    "items": [{"sku": "BK-1843", "qty": 1, "price": 24.5}, {"sku": "PN-0007", "qty": 2}],
    "total": 54.23,
    "currency": "EUR",
}
PAYLOADS: dict[str, list[Any]] = {"an order (floats)": [ORDER], "a small event": [{"id": 1}]}
HEADERS = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


def v1_codec(payload: list[Any]) -> Callable[[], None]:
    # What EventCodec.encode/decode do for v1, without a socket around them.
    serializer = get_serializer("json")

    def one() -> None:
        frames = serializer.serialize(payload)
        frames.insert(0, EVENT.encode())
        event = frames[0].decode()
        assert event
        serializer.unserialize(frames[1:])

    return one


def v2_framing(payload: list[Any], headers: dict[str, str]) -> Callable[[], None]:
    serializer = get_serializer("json")
    producer = new_producer_id()
    seq = iter(range(1, 2**62))

    def one() -> None:
        envelope = Envelope(producer, next(seq), "json", headers, ack_requested=True)
        frames = encode_event(envelope, EVENT, serializer.serialize(payload))
        decoded = decode_event(frames)
        serializer.unserialize(decoded.frames)

    return one


def engine(batch: int, receivers: int) -> Callable[[], None]:
    producer = new_producer_id()
    sender: SendWindow[int] = SendWindow(window=max(1000, 2 * batch))
    dedups = [Deduplicator() for _ in range(receivers)]
    state = {"now": 0.0, "count": 0}

    def one() -> None:
        count = state["count"] = state["count"] + 1
        entry = sender.send(count, state["now"])
        dedup = dedups[count % receivers]
        if not dedup.seen(producer, entry.seq, reply_to=b"route"):
            pass  # fired here
        if dedup.ack_due or count % batch == 0:
            for each in dedups if count % batch == 0 else [dedup]:
                for _, ack in each.acks():
                    got = decode_ack(encode_ack(ack))
                    sender.acknowledge(got.cumulative, got.ranges)
            state["now"] += 1.0
            sender.due(state["now"])

    return one


def best_ns(
    makers: dict[str, Callable[[], Callable[[], None]]], events: int, repeat: int
) -> dict[str, float]:
    """ns per event, best of ``repeat``; the candidates take turns in each round, so
    that a load that comes and goes hits them alike."""
    runs: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(repeat):
        for name, make in makers.items():
            one = make()  # a fresh engine each run: numbers and windows from the start
            runs[name].append(timeit.timeit(one, number=events))
    return {name: min(times) / events * 1e9 for name, times in runs.items()}


SPAWN = multiprocessing.get_context("spawn")
SMALL = [{"id": 1}]


def receive(endpoint: str, n: int, wire: str, out: Any) -> None:
    """A ROUTER receiver: fire (decode) ``n`` distinct events, acknowledging v2 ones
    after each batch read; report the seconds from the first to the last."""
    unserialize = get_serializer("json").unserialize
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.bind(endpoint)
    dedup = Deduplicator()
    out.put(("ready", 0.0))
    fired, started = 0, 0.0
    while fired < n:
        socket.poll(-1)
        for _ in range(1024):
            try:
                route, *frames = socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if not started:
                started = time.perf_counter()
            if wire == "v1":
                frames[0].decode()
                unserialize(frames[1:])
                fired += 1
                continue
            assert kind_of(frames) is Kind.EVENT
            event = decode_event(frames)
            if not dedup.seen(event.envelope.producer, event.envelope.seq, route):
                unserialize(event.frames)
                fired += 1
            if dedup.ack_due:
                for reply_to, ack in dedup.acks():
                    socket.send_multipart([reply_to, *encode_ack(ack)])
        for reply_to, ack in dedup.acks():
            socket.send_multipart([reply_to, *encode_ack(ack)])
    out.put(("done", time.perf_counter() - started))
    socket.close(linger=2000)  # the last acknowledgements
    context.term()


def send_v1(socket: zmq.Socket[bytes], n: int) -> None:
    serialize, name = get_serializer("json").serialize, EVENT.encode()
    for _ in range(n):
        socket.send_multipart([name, *serialize(SMALL)])


def send_at_least_once(socket: zmq.Socket[bytes], n: int) -> None:
    serialize = get_serializer("json").serialize
    producer = new_producer_id()
    window: SendWindow[list[bytes]] = SendWindow()

    def transmit(seq: int, frames: list[bytes]) -> None:
        envelope = Envelope(producer, seq, "json", {}, ack_requested=True)
        socket.send_multipart(encode_event(envelope, EVENT, frames))

    def settle(wait_ms: int) -> None:
        if socket.poll(wait_ms):
            while True:
                try:
                    ack = decode_ack(socket.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break
                if ack.producer == producer:
                    window.acknowledge(ack.cumulative, ack.ranges)
        due = window.due(time.monotonic() * 1000)
        for entry in due.retransmit:
            transmit(entry.seq, entry.item)
        assert not due.failed, "events given up in a loss-free pipe"

    for count in range(n):
        while not window.room:
            settle(10)
        frames = serialize(SMALL)
        transmit(window.send(frames, time.monotonic() * 1000).seq, frames)
        if count % 64 == 63:
            settle(0)
    deadline = time.monotonic() + 60
    while window.pending():
        assert time.monotonic() < deadline, "not acknowledged within 60 s"
        settle(10)


def pipe(n: int, wire: str, folder: str, run: int) -> float:
    endpoint = f"ipc://{folder}/pipe-{wire}-{run}.ipc"
    out = SPAWN.Queue()
    receiver = SPAWN.Process(target=receive, args=(endpoint, n, wire, out))
    receiver.start()
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    try:
        assert out.get(timeout=60)[0] == "ready"
        socket.connect(endpoint)
        (send_v1 if wire == "v1" else send_at_least_once)(socket, n)
        _, seconds = out.get(timeout=300)
        receiver.join(60)
    finally:
        socket.close(linger=0)
        context.term()
        if receiver.is_alive():
            receiver.kill()
            receiver.join()
    return float((n - 1) / seconds)


# The library's pipeline: EventListener -> EventService, in two processes.

E2E_EVENT = "bench.delivery"
AT_LEAST_ONCE = {"delivery": "at-least-once"}
# Beside the target, not counted for it: at-least-once with batching (issue 18's
# opt-in mode), events gathered for up to a millisecond into one message.
BATCHED = {**AT_LEAST_ONCE, "batch_max": 64, "linger_ms": 1}
PIPELINES = {"v1": {}, "at-least-once": AT_LEAST_ONCE, "at-least-once, batched": BATCHED}
# What `pip install zeroevents-core zeroevents-msgpack` loads: no observer plugin (the
# tracing and metrics plugins of the dev environment would wrap every event).
PLUGINS = "zeroevents-msgpack,zeroevents-orjson"


def profiled(profile: str | None, run: Callable[[], None]) -> None:
    """``run()``, under cProfile written to ``profile`` when one is given."""
    if profile is None:
        run()
        return
    profiler = cProfile.Profile()
    profiler.runcall(run)
    profiler.dump_stats(profile)


def consume_e2e(endpoint: str, n: int, out: Any, profile: str | None) -> None:
    """An EventService on a ROUTER: clock the first to the ``n``-th event fired; run
    on until SIGTERM (the producer may still wait for acknowledgements), then report
    the service's counters."""
    dispatcher = Dispatcher()
    listener = EventListener({"bind": endpoint, "socket_type": "ROUTER"}, dispatcher)
    service = EventService(dispatcher).listen(listener)
    count, started = 0, 0.0

    def fired(event: Any) -> None:
        nonlocal count, started
        count += 1
        if count == 1:
            started = time.perf_counter()
        elif count == n:
            out.put(("done", time.perf_counter() - started))

    dispatcher.listen(E2E_EVENT, fired)
    listener.socket()
    out.put(("ready", 0.0))
    profiled(profile, service.run)
    out.put(("consumer", service.stats.as_dict()))


def produce_e2e(
    endpoint: str, n: int, delivery: dict[str, Any], profile: str | None, out: Any
) -> None:
    """Fire ``n`` small events as fast as the listener takes them; at-least-once
    flushes until every one is acknowledged. Reports the socket's counters."""
    dispatcher = Dispatcher()
    options = {"connect": endpoint, "socket_type": "DEALER", **delivery}
    listener = EventListener(options, dispatcher)
    dispatcher.listen(E2E_EVENT, listener)

    def run() -> None:
        fire = dispatcher.fire
        for _ in range(n):
            fire(E2E_EVENT, SMALL[0])
        if delivery:
            report = listener.flush(60.0)
            assert report.done, f"{report.count} events not acknowledged within 60 s"
        out.put(("producer", listener.stats.as_dict()))
        listener.close()

    profiled(profile, run)


def collect(out: Any, kinds: set[str], timeout: float) -> dict[str, Any]:
    """The next reports of each of ``kinds``, in whatever order the processes sent them."""
    got: dict[str, Any] = {}
    while not kinds <= set(got):
        kind, value = out.get(timeout=timeout)
        got[kind] = value
    return got


def pipeline(
    n: int, delivery: dict[str, Any], folder: str, run: int, profile: str | None
) -> tuple[float, dict[str, int]]:
    """Events per second, first to last fired by the consumer; the retransmissions
    and the duplicates the consumer dropped."""
    tag = next(name for name, options in PIPELINES.items() if options == delivery)
    tag = tag.replace(", ", "-")
    endpoint = f"ipc://{folder}/e2e-{tag}-{run}.ipc"
    profiles = [
        None if profile is None else os.path.join(profile, f"{side}-{tag}-{run}.prof")
        for side in ("consumer", "producer")
    ]
    out = SPAWN.Queue()
    consumer = SPAWN.Process(target=consume_e2e, args=(endpoint, n, out, profiles[0]))
    producer = SPAWN.Process(target=produce_e2e, args=(endpoint, n, delivery, profiles[1], out))
    consumer.start()
    try:
        assert out.get(timeout=60)[0] == "ready"
        producer.start()
        got = collect(out, {"done", "producer"}, 600)
        producer.join(120)
        assert producer.exitcode == 0, f"the {tag} producer ended with {producer.exitcode}"
        consumer.terminate()  # the service stops on SIGTERM
        got.update(collect(out, {"consumer"}, 60))
        consumer.join(60)
    finally:
        for process in (consumer, producer):
            if process.is_alive():
                process.kill()
                process.join()
    counts = {"retried": got["producer"]["retried"], "duplicates": got["consumer"]["duplicates"]}
    return float((n - 1) / got["done"]), counts


class Recorded(Histogram):
    """The socket's latency histogram, keeping every observation for percentiles."""

    def __init__(self) -> None:
        super().__init__()
        self.samples: list[float] = []

    def observe(self, seconds: float) -> None:
        super().observe(seconds)
        self.samples.append(seconds)

    def observe_many(self, seconds: Sequence[float]) -> None:
        super().observe_many(seconds)
        self.samples.extend(seconds)


def serve_e2e(endpoint: str, confirmed: bool, out: Any) -> None:
    dispatcher = Dispatcher()
    options = {"bind": endpoint, "socket_type": "ROUTER", "confirmed": confirmed}
    listener = EventListener(options, dispatcher)
    service = EventService(dispatcher).listen(listener)
    listener.socket()
    out.put(("ready", 0.0))
    service.run()  # until SIGTERM


def paced_latencies(n: int, confirmed: bool, folder: str) -> list[float]:
    """Seconds per event at 1,000 events/s: each confirmed push's round trip, or each
    at-least-once event's first send to acknowledgement (the socket's own figure)."""
    endpoint = f"ipc://{folder}/latency-{int(confirmed)}.ipc"
    out = SPAWN.Queue()
    server = SPAWN.Process(target=serve_e2e, args=(endpoint, confirmed, out))
    server.start()
    samples: list[float] = []
    try:
        assert out.get(timeout=60)[0] == "ready"
        options: dict[str, Any] = {"connect": endpoint, "socket_type": "DEALER"}
        options.update({"confirmed": True} if confirmed else AT_LEAST_ONCE)
        listener = EventListener(options, Dispatcher())
        socket = listener.socket()
        recorded = Recorded()
        if not confirmed:
            listener.stats.ack_latency = recorded
        start = time.perf_counter()
        for count in range(n):
            time.sleep(max(0.0, start + count / 1000 - time.perf_counter()))
            sent = time.perf_counter()
            socket.push(E2E_EVENT, SMALL)
            if confirmed:
                samples.append(time.perf_counter() - sent)
        if not confirmed:
            report = listener.flush(30.0)
            assert report.done, f"{report.count} events not acknowledged within 30 s"
            samples = recorded.samples
        listener.close()
        server.terminate()
        server.join(30)
    finally:
        if server.is_alive():
            server.kill()
            server.join()
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def print_pipeline(args: argparse.Namespace, folder: str) -> None:
    rates: dict[str, list[float]] = {name: [] for name in PIPELINES}
    counts = {"retried": 0, "duplicates": 0}
    for run in range(args.e2e_repeat):
        for name, delivery in PIPELINES.items():
            rate, seen = pipeline(args.events_e2e, delivery, folder, run, args.profile)
            rates[name].append(rate)
            for key in counts:
                counts[key] += seen[key] if delivery else 0
    v1 = statistics.median(rates["v1"])
    alo = statistics.median(rates["at-least-once"])
    batched = statistics.median(rates["at-least-once, batched"])
    print(
        f"\nEventListener (DEALER) -> EventService (ROUTER), ipc, {args.events_e2e:,} small "
        f"events, median of {args.e2e_repeat}"
    )
    print(f"{'pipeline':<30} {'events/s':>10} {'vs v1':>8}")
    print(f"{'v1, unconfirmed (baseline)':<30} {v1:>10,.0f} {1:>7.2f}x")
    print(f"{'at-least-once':<30} {alo:>10,.0f} {alo / v1:>7.2f}x")
    label = f"  batched ({BATCHED['batch_max']}, {BATCHED['linger_ms']} ms)"
    print(f"{label:<30} {batched:>10,.0f} {batched / v1:>7.2f}x")
    verdict = "met" if alo / v1 >= 0.5 else "NOT met"
    print(f"target: at-least-once (unbatched) >= 0.50x of v1: {verdict}")
    print(
        f"at-least-once, both, all runs: {counts['retried']:,} retransmissions, "
        f"{counts['duplicates']:,} duplicates dropped by the consumer"
    )


def print_latency(args: argparse.Namespace, folder: str) -> None:
    alo = paced_latencies(args.latency_events, False, folder)
    confirmed = paced_latencies(args.latency_events, True, folder)
    print(f"\nacknowledgement latency at 1,000 events/s, {args.latency_events:,} events, ipc")
    for label, samples in [
        ("at-least-once, send to ack", alo),
        ("v1 confirmed round trip", confirmed),
    ]:
        print(
            f"{label:<30} p50 {percentile(samples, 0.5) * 1e6:>9.1f} us"
            f"   p99 {percentile(samples, 0.99) * 1e6:>9.1f} us   ({len(samples):,} samples)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pipe-events", type=int, default=50_000)
    parser.add_argument("--events-e2e", type=int, default=100_000)
    parser.add_argument("--e2e-repeat", type=int, default=3)
    parser.add_argument("--latency-events", type=int, default=3_000)
    parser.add_argument("--profile", metavar="DIR", help="cProfile both pipeline processes")
    parser.add_argument(
        "--only-e2e", action="store_true", help="only the library's pipeline and its latency"
    )
    args = parser.parse_args()
    os.environ.setdefault("ZEROEVENTS_LOAD_PLUGINS", PLUGINS)  # inherited by the processes
    print(f"plugins loaded: ZEROEVENTS_LOAD_PLUGINS={os.environ['ZEROEVENTS_LOAD_PLUGINS']}")
    if args.only_e2e:
        with tempfile.TemporaryDirectory(prefix="zeb-") as folder:
            if args.events_e2e:
                print_pipeline(args, folder)
            if args.latency_events:
                print_latency(args, folder)
        return

    makers: dict[str, Callable[[], Callable[[], None]]] = {
        "engine, one receiver": partial(engine, args.batch, 1),
        "engine, two receivers": partial(engine, args.batch, 2),
    }
    for label, payload in PAYLOADS.items():
        makers[f"{label}: v1"] = partial(v1_codec, payload)
        makers[f"{label}: v2"] = partial(v2_framing, payload, {})
        makers[f"{label}: v2 traced"] = partial(v2_framing, payload, HEADERS)
    ns = best_ns(makers, args.events, args.repeat)
    print(f"{args.events:,} events, best of {args.repeat}, acknowledgements every {args.batch}")
    for label in PAYLOADS:
        v1, v2 = ns[f"{label}: v1"], ns[f"{label}: v2"]
        rows = {
            "v1 codec (baseline)": v1,
            "v2 framing": v2,
            "v2 framing, a trace header": ns[f"{label}: v2 traced"],
            "engine, one receiver": ns["engine, one receiver"],
            "engine, two receivers": ns["engine, two receivers"],
            "at-least-once (v2 + engine)": v2 + ns["engine, one receiver"],
        }
        print(f"\n{label}")
        print(f"{'per event':<30} {'ns':>8} {'vs v1 codec':>12}")
        for name, value in rows.items():
            print(f"{name:<30} {value:>8.0f} {value / v1:>11.2f}x")
    if args.pipe_events:
        rates: dict[str, list[float]] = {"v1": [], "v2": []}
        with tempfile.TemporaryDirectory(prefix="zeb-") as folder:
            for run in range(args.repeat):
                for wire, runs in rates.items():
                    runs.append(pipe(args.pipe_events, wire, folder, run))
        v1 = statistics.median(rates["v1"])
        v2 = statistics.median(rates["v2"])
        print(
            f"\npyzmq DEALER -> ROUTER, {args.pipe_events:,} small events, median of {args.repeat}"
        )
        print(f"{'pipe':<30} {'events/s':>10} {'vs v1':>8}")
        print(f"{'v1, unconfirmed (baseline)':<30} {v1:>10,.0f} {1:>7.2f}x")
        print(f"{'v2, at-least-once':<30} {v2:>10,.0f} {v2 / v1:>7.2f}x")
    with tempfile.TemporaryDirectory(prefix="zeb-") as folder:
        if args.events_e2e:
            print_pipeline(args, folder)
        if args.latency_events:
            print_latency(args, folder)


if __name__ == "__main__":
    main()
