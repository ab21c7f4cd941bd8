"""zeroevents beside its peers: hand-written pyzmq, NATS core, the raw ceiling and PHP.

    python bench/bench_peers.py [--events N] [--repeats R] [--only NAME ...] [--servers URL]
    python bench/bench_peers.py --profile [SERIALIZER] [--events N]

In one run, one producer process -> one consumer process over ipc, one order dict
per event, a handler called per event on the consumer, which clocks the first to the
last event (events/s = (N - 1) / that time); medians of the repeats, interleaved so
that a busy moment of the machine hits every pipeline alike:

- zeroevents ``EventListener`` (PUSH) -> ``EventService`` (PULL) with the ``json``
  serializer on orjson (the ``fast`` extra) and on the stdlib alone
  (``accelerated=False``), then ``msgpack`` and ``orjson``;
- hand-written pyzmq: ``send_multipart`` / ``recv_multipart`` and stdlib ``json``, the
  handler found in a dict;
- NATS core pub/sub through the local server (nats-py, stdlib json, no stream);
- the ceiling: pyzmq ``send(SNDMORE)`` / ``recv`` + orjson + a dict dispatch + the
  handler, what the same pieces do written by hand with nothing else;
- with ``php`` and php-zmq: the PHP wire path (``bench/php/wire.php``: ``sendMulti`` +
  ``json_encode``, ``recvMulti`` + ``json_decode``) and the original's per-event work,
  PHP -> PHP (``bench/php/original.php``: its EventListener, EventSocket, EventService
  and an Illuminate-like dispatcher behind a facade);
- fan-in: 8 zeroevents producer processes -> 1 service (aggregate events/s), and
  fan-out: 1 PUB listener -> 8 SUB services (each subscriber's events/s), beside one
  producer -> one service and one PUB -> one SUB of the same run.

Then the targets of issue 18, each met or not. A missed target is printed, never an
exit status: timings follow the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import zmq

ORDER = {
    "id": 12345,
    "customer": {
        "id": "6f1c1f5e-8d2b-4c8e-9a51-6c1f1d1e2a3b",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    },
    "items": [
        {"sku": "BOO-1001", "quantity": 1, "price": 12.5},
        {"sku": "PEN-7007", "quantity": 3, "price": 1.2},
    ],
    "total": 16.1,
    "currency": "EUR",
    "created_at": "2026-11-26T12:00:00Z",
}
EVENT = "orders.created"
PHP_DIR = Path(__file__).resolve().parent / "php"
SPAWN = multiprocessing.get_context("spawn")
WAIT = 300  # seconds: the longest a run may take before the bench gives up on it
FANS = 8
UNBOUNDED = {"SNDHWM": 0, "RCVHWM": 0}  # PUB drops at its high-water mark: count every event
# Every PULL consumer, whoever wrote it: libzmq drops what is still in flight when a
# sender exits while its receiver sits at RCVHWM (docs/concepts.md, "Closing without
# losing events"), and the run then waits for events that never come.
PULL_RCVHWM = 0
# The default pipeline of `pip install zeroevents-core[fast]` loads no observer: the
# serializer plugins only, unless ZEROEVENTS_LOAD_PLUGINS says otherwise (a tracing or
# metrics plugin installed beside, as in the dev environment, wraps every event).
PLUGINS = "zeroevents-msgpack,zeroevents-orjson"


class Clock:
    """A consumer's count of handled events, and when the first and the n-th came."""

    def __init__(self, n: int, out: Any, done: Callable[[], None] = lambda: None) -> None:
        self.n, self.out, self.done = n, out, done
        self.count, self.first, self.first_cpu = 0, 0.0, 0.0

    def handle(self, order: dict[str, Any]) -> None:
        self.count += 1
        if self.count == 1:
            self.first, self.first_cpu = time.monotonic(), time.process_time()
        if self.count == self.n:
            cpu = time.process_time() - self.first_cpu
            self.out.put(("done", self.first, time.monotonic(), self.count, cpu))
            self.done()


def json_serializer(accelerated: bool) -> Any:
    from zeroevents_core.serializers.json import JsonSerializer

    return JsonSerializer(accelerated=accelerated)


def serializer_of(name: str) -> Any:
    """``json`` (orjson), ``json-stdlib`` or a registered name."""
    if name.startswith("json"):
        return json_serializer(accelerated=name == "json")
    return name


# -- zeroevents ----------------------------------------------------------------------


def ze_consumer(endpoint: str, n: int, out: Any, serializer: str, kind: str = "PULL") -> None:
    from zeroevents_core import Dispatcher, EventListener, EventService

    dispatcher = Dispatcher()
    options: dict[str, Any] = {"socket_type": kind, "serializer": serializer_of(serializer)}
    if kind == "SUB":
        options |= {"connect": endpoint, "socket_options": {"RCVHWM": 0}}
    else:
        options |= {"bind": endpoint, "socket_options": {"RCVHWM": PULL_RCVHWM}}
    listener = EventListener(options, dispatcher)
    service = EventService(dispatcher).listen(listener)
    dispatcher.listen(EVENT, Clock(n, out, service.stop).handle)
    listener.socket()
    out.put(("ready",))
    service.run()
    listener.close()


def set_and_wait(out: Any, go: Any) -> None:
    """A producer whose socket is up says so, then waits for the others (fan-in, PUB)."""
    out.put(("set",))
    go.wait(WAIT)


def ze_producer(endpoint: str, n: int, serializer: str, kind: str = "PUSH", **start: Any) -> None:
    from zeroevents_core import Dispatcher, EventListener

    dispatcher = Dispatcher()
    options: dict[str, Any] = {"socket_type": kind, "serializer": serializer_of(serializer)}
    if kind == "PUB":
        options |= {"bind": endpoint, "socket_options": {"SNDHWM": 0}}
    else:
        options["connect"] = endpoint
    listener = EventListener(options, dispatcher)
    dispatcher.listen("orders.*", listener)
    listener.socket()
    cpu = start.pop("cpu", None)  # where --profile wants the loop's CPU seconds
    set_and_wait(**start)
    fire = dispatcher.fire
    began = time.process_time()
    for _ in range(n):
        fire(EVENT, ORDER)
    if cpu is not None:
        cpu.value = time.process_time() - began
    listener.close()


# -- zeroevents, batched (wire v2, batch_max) ------------------------------------------

BATCH_MAX = 256


def ze_batched_producer(
    endpoint: str, n: int, serializer: str, linger_ms: int = 0, **start: Any
) -> None:
    """As ze_producer, on wire v2 with ``batch_max`` and ``linger_ms``. LINGER without
    limit: a producer faster than its consumer closes with a backlog queued, which
    LINGER's default 2 s would drop (PUSH has no barrier)."""
    from zeroevents_core import Dispatcher, EventListener

    dispatcher = Dispatcher()
    options = {
        "socket_type": "PUSH",
        "serializer": serializer_of(serializer),
        "connect": endpoint,
        "wire": "v2",
        "batch_max": BATCH_MAX,
        "linger_ms": linger_ms,
        "socket_options": {"LINGER": -1},
    }
    listener = EventListener(options, dispatcher)
    dispatcher.listen("orders.*", listener)
    listener.socket()
    set_and_wait(**start)
    fire = dispatcher.fire
    for _ in range(n):
        fire(EVENT, ORDER)
    listener.close()


LATENCY_EVENTS = 3000
LATENCY_RATE = 1000  # events/s


def latency_consumer(endpoint: str, n: int, out: Any) -> None:
    """Each event's latency (its send time, CLOCK_MONOTONIC, is system-wide)."""
    from zeroevents_core import Dispatcher, EventListener, EventService

    dispatcher = Dispatcher()
    listener = EventListener({"socket_type": "PULL", "bind": endpoint}, dispatcher)
    service = EventService(dispatcher).listen(listener)
    latencies: list[float] = []

    def handle(sent: float) -> None:
        latencies.append(time.monotonic() - sent)
        if len(latencies) == n:
            service.stop()

    dispatcher.listen("latency", handle)
    listener.socket()
    out.put(("ready",))
    service.run()
    out.put(("latencies", latencies))


def latency_producer(endpoint: str, n: int, batch_max: int, **start: Any) -> None:
    """``n`` events paced at LATENCY_RATE, wire v2, ``batch_max`` (1: unbatched)."""
    from zeroevents_core import Dispatcher, EventListener

    dispatcher = Dispatcher()
    options = {"socket_type": "PUSH", "connect": endpoint, "wire": "v2", "batch_max": batch_max}
    listener = EventListener(options, dispatcher)
    dispatcher.listen("latency", listener)
    listener.socket()
    set_and_wait(**start)
    began = time.monotonic()
    for index in range(n):
        due = began + index / LATENCY_RATE
        while (now := time.monotonic()) < due:  # bounded by the due time
            time.sleep(min(due - now, 0.0005))
        dispatcher.fire("latency", time.monotonic())
    listener.close()


def p99_latency(folder: str, run: int, batch_max: int) -> float:
    """The p99 latency in ms of LATENCY_EVENTS events at LATENCY_RATE events/s."""
    endpoint = f"ipc://{folder}/latency-{batch_max}-{run}.ipc"
    out, go = SPAWN.Queue(), SPAWN.Event()
    consumer = SPAWN.Process(target=latency_consumer, args=(endpoint, LATENCY_EVENTS, out))
    producer = SPAWN.Process(
        target=latency_producer,
        args=(endpoint, LATENCY_EVENTS, batch_max),
        kwargs={"out": out, "go": go},
    )
    try:
        consumer.start()
        assert out.get(timeout=WAIT) == ("ready",)
        producer.start()
        assert out.get(timeout=WAIT) == ("set",)
        go.set()
        _, latencies = out.get(timeout=WAIT)
    finally:
        stop_all([consumer, producer])
    return statistics.quantiles(latencies, n=100)[98] * 1000


def latency_check(folder: str, repeats: int) -> None:
    """Printed, never asserted: batched (linger_ms 0) beside unbatched, both wire v2."""
    p99: dict[int, list[float]] = {1: [], BATCH_MAX: []}
    for run in range(repeats):
        for batch_max in p99:
            p99[batch_max].append(p99_latency(folder, run, batch_max))
    unbatched, batched = (statistics.median(p99[key]) for key in (1, BATCH_MAX))
    print(
        f"latency at {LATENCY_RATE} events/s, {LATENCY_EVENTS} events, wire v2, p99 median "
        f"of {repeats}: unbatched {unbatched:.3f} ms, batched (batch_max {BATCH_MAX}, "
        f"linger_ms 0) {batched:.3f} ms: {batched / unbatched:.2f}x "
        f"({'met' if batched <= 1.2 * unbatched else 'NOT MET'}: target <= 1.2x)"
    )


# -- hand-written pyzmq ----------------------------------------------------------------


def pyzmq_consumer(endpoint: str, n: int, out: Any, serializer: str) -> None:
    context = zmq.Context()
    socket = context.socket(zmq.PULL)
    socket.set(zmq.RCVHWM, PULL_RCVHWM)
    socket.bind(endpoint)
    clock = Clock(n, out)
    handlers = {EVENT: [clock.handle]}
    out.put(("ready",))
    loads = json.loads
    for _ in range(n):
        name, *frames = socket.recv_multipart()
        payload = [loads(frame) for frame in frames]
        for handler in handlers.get(name.decode(), ()):
            handler(*payload)
    socket.close()
    context.term()


def pyzmq_producer(endpoint: str, n: int, serializer: str, **start: Any) -> None:
    context = zmq.Context()
    socket = context.socket(zmq.PUSH)
    socket.connect(endpoint)
    set_and_wait(**start)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for _ in range(n):
        socket.send_multipart([EVENT.encode(), dumps(ORDER).encode()])
    socket.close(linger=-1)
    context.term()


# -- the ceiling: the fast path by hand, orjson, a dict dispatch -----------------------


def ceiling_consumer(endpoint: str, n: int, out: Any, serializer: str) -> None:
    import orjson

    context = zmq.Context()
    socket = context.socket(zmq.PULL)
    socket.set(zmq.RCVHWM, PULL_RCVHWM)
    socket.bind(endpoint)
    clock = Clock(n, out)
    handlers = {EVENT: [clock.handle]}
    out.put(("ready",))
    recv, more, rcvmore, loads = socket.recv, socket.get, zmq.RCVMORE, orjson.loads
    for _ in range(n):
        name = recv()
        payload = []
        while more(rcvmore):
            payload.append(loads(recv()))
        for handler in handlers.get(name.decode(), ()):
            handler(*payload)
    socket.close()
    context.term()


def ceiling_producer(endpoint: str, n: int, serializer: str, **start: Any) -> None:
    import orjson

    context = zmq.Context()
    socket = context.socket(zmq.PUSH)
    socket.connect(endpoint)
    set_and_wait(**start)
    send, sndmore, dumps, name = socket.send, zmq.SNDMORE, orjson.dumps, EVENT.encode()
    for _ in range(n):
        send(name, sndmore)
        send(dumps(ORDER))
    socket.close(linger=-1)
    context.term()


# -- NATS core ---------------------------------------------------------------------


def nats_consumer(servers: str, n: int, out: Any, subject: str) -> None:
    import nats

    async def main() -> None:
        connection = await nats.connect(servers)
        clock = Clock(n, out)
        handlers = {EVENT: [clock.handle]}
        finished = asyncio.Event()
        loads = json.loads

        async def receive(message: Any) -> None:
            for handler in handlers.get(EVENT, ()):
                handler(loads(message.data))
            if clock.count == n:
                finished.set()

        await connection.subscribe(
            subject, cb=receive, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        await connection.flush()
        out.put(("ready",))
        try:
            await asyncio.wait_for(finished.wait(), WAIT)
        except TimeoutError:  # the server dropped some: say how many came
            out.put(("done", clock.first, time.monotonic(), clock.count, 0.0))
        await connection.close()

    asyncio.run(main())


def nats_producer(servers: str, n: int, subject: str, **start: Any) -> None:
    import nats

    async def main() -> None:
        connection = await nats.connect(servers, flusher_queue_size=4096)
        set_and_wait(**start)
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        publish = connection.publish
        for _ in range(n):
            await publish(subject, dumps(ORDER).encode())
        await connection.flush()
        await connection.close()

    asyncio.run(main())


# -- running pairs -------------------------------------------------------------------


def stop_all(processes: Sequence[Any]) -> None:
    for process in processes:
        process.join(WAIT if process.exitcode is None else 0)
        if process.is_alive():
            process.kill()
            process.join()


def rates_of(reports: list[tuple[Any, ...]]) -> list[float]:
    return [(report[3] - 1) / (report[2] - report[1]) for report in reports]


def run_python(
    consumer: Callable[..., None],
    consumer_args: Sequence[tuple[Any, ...]],
    producer: Callable[..., None],
    producer_args: Sequence[tuple[Any, ...]],
    settle: float = 0.0,
) -> tuple[list[float], float]:
    """Each consumer's events/s, and the aggregate (all events over first to last).

    Consumers start first; producers set up their sockets, then all start at once,
    ``settle`` seconds after the last is set (subscriptions reach a PUB meanwhile)."""
    out, go = SPAWN.Queue(), SPAWN.Event()
    processes = []
    try:
        for args in consumer_args:
            processes.append(SPAWN.Process(target=consumer, args=(*args[:2], out, *args[2:])))
            processes[-1].start()
        for _ in consumer_args:
            assert out.get(timeout=WAIT) == ("ready",)
        for args in producer_args:
            processes.append(
                SPAWN.Process(target=producer, args=args, kwargs={"out": out, "go": go})
            )
            processes[-1].start()
        for _ in producer_args:
            assert out.get(timeout=WAIT) == ("set",)
        time.sleep(settle)
        go.set()
        reports = [out.get(timeout=WAIT) for _ in consumer_args]
    finally:
        stop_all(processes)
    total = sum(report[3] for report in reports)
    span = max(report[2] for report in reports) - min(report[1] for report in reports)
    return rates_of(reports), (total - len(reports)) / span


def run_php(script: str, endpoint: str, n: int) -> float:
    php = shutil.which("php")
    assert php is not None
    command = [php, str(PHP_DIR / script)]
    consumer = subprocess.Popen(
        [*command, "consume", endpoint, str(n)], stdout=subprocess.PIPE, text=True
    )
    producer = None
    try:
        assert consumer.stdout is not None
        assert consumer.stdout.readline().strip() == "ready"
        producer = subprocess.Popen([*command, "produce", endpoint, str(n)])
        printed, _ = consumer.communicate(timeout=WAIT)
        producer.wait(WAIT)
    finally:
        for process in (consumer, producer):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    return (n - 1) / float(printed.split()[-1])


def php_ready() -> bool:
    php = shutil.which("php")
    if php is None:
        return False
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, check=False)
    return "zmq" in modules.stdout.split()


# -- where the time goes: --profile ----------------------------------------------------


def profiled(target: Callable[..., None], side: str, to: Any, *args: Any, **kwargs: Any) -> None:
    """Run a consumer or producer under cProfile; its top functions."""
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    profile.runcall(target, *args, **kwargs)
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(18)
    to.put((side, text.getvalue()))


def profile_consumer(endpoint: str, n: int, out: Any, serializer: str) -> None:
    profiled(ze_consumer, "consumer", out, endpoint, n, out, serializer)


def profile_producer(endpoint: str, n: int, serializer: str, **start: Any) -> None:
    profiled(ze_producer, "producer", start["out"], endpoint, n, serializer, **start)


def profile_pipeline(n: int, serializer: str, folder: str) -> None:
    """CPU microseconds per event on each side (the producer's fire loop, the
    consumer's first to last event), then each side's top functions under cProfile
    (which slows them: read the shares, not the times)."""
    print(f"profile of zeroevents {serializer}, {n} events")
    for profiling in (False, True):
        endpoint = f"ipc://{folder}/profile-{profiling}.ipc"
        out, go, cpu = SPAWN.Queue(), SPAWN.Event(), SPAWN.Value("d", 0.0)
        consumer = SPAWN.Process(
            target=profile_consumer if profiling else ze_consumer,
            args=(endpoint, n, out, serializer),
        )
        producer = SPAWN.Process(
            target=profile_producer if profiling else ze_producer,
            args=(endpoint, n, serializer),
            kwargs={"out": out, "go": go, "cpu": cpu},
        )
        reports: dict[str, Any] = {}
        try:
            consumer.start()
            assert out.get(timeout=WAIT) == ("ready",)
            producer.start()
            while len(reports) < (3 if profiling else 1):
                report = out.get(timeout=WAIT)
                if report[0] == "set":
                    go.set()
                else:
                    reports[report[0]] = report
        finally:
            stop_all([consumer, producer])
        if not profiling:
            print(f"  producer: {cpu.value / n * 1e6:.2f} us CPU per event (fire to send)")
            consumer_cpu = reports["done"][4] / (n - 1) * 1e6
            print(f"  consumer: {consumer_cpu:.2f} us CPU per event (receive to handler)")
            continue
        for side in ("producer", "consumer"):
            print(f"  {side} under cProfile:")
            text = reports[side][1]
            print("\n".join("    " + line for line in text.splitlines() if line.strip()))


# -- the table ----------------------------------------------------------------------

PAIRS: dict[str, tuple[str, Callable[..., None], Callable[..., None], str]] = {
    "json": ("zeroevents, json (orjson accelerated)", ze_consumer, ze_producer, "json"),
    "json-stdlib": ("zeroevents, json (stdlib only)", ze_consumer, ze_producer, "json-stdlib"),
    "msgpack": ("zeroevents, msgpack", ze_consumer, ze_producer, "msgpack"),
    "orjson": ("zeroevents, orjson serializer", ze_consumer, ze_producer, "orjson"),
    "batched": (f"zeroevents, batched (json, batch_max {BATCH_MAX})", ze_consumer,
                ze_batched_producer, "json"),
    "batched-linger": (f"zeroevents, batched (json, {BATCH_MAX}, linger_ms 5)", ze_consumer,
                       functools.partial(ze_batched_producer, linger_ms=5), "json"),
    "batched-msgpack": (f"zeroevents, batched (msgpack, {BATCH_MAX}, linger_ms 5)",
                        ze_consumer, functools.partial(ze_batched_producer, linger_ms=5),
                        "msgpack"),
    "pyzmq": ("hand-written pyzmq send_multipart + json", pyzmq_consumer, pyzmq_producer, ""),
    "ceiling": ("raw pyzmq SNDMORE/recv + orjson + dict: ceiling", ceiling_consumer,
                ceiling_producer, ""),
}  # fmt: skip
OTHERS = {
    "nats": "NATS core pub/sub, nats-py + json",
    "php-wire": "PHP wire path (sendMulti/recvMulti + json)",
    "php-original": "PHP original's per-event work, PHP -> PHP",
    "fan-in": f"fan-in, {FANS} producers -> 1 service (aggregate)",
    "fan-out": f"fan-out, 1 PUB -> {FANS} SUB (each subscriber)",
    "sub": "1 PUB -> 1 SUB (a single subscriber)",
}
PIPELINES = [*PAIRS, *OTHERS]


def measure(name: str, n: int, folder: str, run: int, servers: str) -> float:
    endpoint = f"ipc://{folder}/{name}-{run}.ipc"
    if name in PAIRS:
        _, consumer, producer, serializer = PAIRS[name]
        [rate], _ = run_python(
            consumer, [(endpoint, n, serializer)], producer, [(endpoint, n, serializer)]
        )
        return rate
    if name == "nats":
        subject = f"bench.peers.{os.getpid()}.{run}"
        [rate], _ = run_python(
            nats_consumer, [(servers, n, subject)], nats_producer, [(servers, n, subject)]
        )
        return rate
    if name.startswith("php-"):
        return run_php(f"{name[len('php-') :]}.php", endpoint, n)
    if name == "fan-in":
        share = n // FANS
        _, aggregate = run_python(
            ze_consumer, [(endpoint, share * FANS, "json")], ze_producer,
            [(endpoint, share, "json")] * FANS,
        )  # fmt: skip
        return aggregate
    subscribers = FANS if name == "fan-out" else 1
    rates, _ = run_python(
        ze_consumer, [(endpoint, n, "json", "SUB")] * subscribers, ze_producer,
        [(endpoint, n, "json", "PUB")], settle=1.0,
    )  # fmt: skip
    return min(rates)


def targets(median: dict[str, float]) -> list[tuple[str, float | None, float]]:
    """(what, measured ratio or None when not measured, target)."""

    def ratio(a: str, b: str) -> float | None:
        return median[a] / median[b] if a in median and b in median else None

    return [
        ("default json >= 1.5x hand-written pyzmq + json", ratio("json", "pyzmq"), 1.5),
        ("default json >= 1.2x NATS core via nats-py", ratio("json", "nats"), 1.2),
        ("default json >= 1.2x the PHP original, PHP -> PHP", ratio("json", "php-original"), 1.2),
        ("msgpack >= 0.6x the raw ceiling", ratio("msgpack", "ceiling"), 0.6),
        ("orjson >= 0.6x the raw ceiling", ratio("orjson", "ceiling"), 0.6),
        ("batched >= 3x the default pipeline", ratio("batched", "json"), 3.0),
        ("batched >= 1.0x the PHP wire path", ratio("batched", "php-wire"), 1.0),
        (f"fan-in of {FANS} >= 0.9x the single pair", ratio("fan-in", "json"), 0.9),
        (f"fan-out: each of {FANS} subscribers >= 0.8x a single one", ratio("fan-out", "sub"), 0.8),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="per run (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per pipeline (median)")
    parser.add_argument(
        "--only", nargs="+", choices=PIPELINES, metavar="NAME",
        help=f"some pipelines only: {', '.join(PIPELINES)}",
    )  # fmt: skip
    parser.add_argument("--servers", default="nats://127.0.0.1:4222", help="NATS server")
    parser.add_argument(
        "--profile", metavar="SERIALIZER", nargs="?", const="json",
        help="instead of the table: CPU us per event and cProfile's top functions of "
        "each side of one zeroevents pair (default json; json-stdlib, msgpack...)",
    )  # fmt: skip
    parser.add_argument(
        "--latency", action="store_true",
        help="also the p99 latency at 1,000 events/s, batched beside unbatched",
    )  # fmt: skip
    args = parser.parse_args(argv)
    os.environ.setdefault("ZEROEVENTS_LOAD_PLUGINS", PLUGINS)  # inherited by the processes
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="bench-peers-") as folder:
            profile_pipeline(args.events, args.profile, folder)
        return 0
    chosen = list(args.only or PIPELINES)
    skipped = []
    if not php_ready():
        skipped += [name for name in chosen if name.startswith("php-")]
    chosen = [name for name in chosen if name not in skipped]
    load_before = os.getloadavg()
    rates: dict[str, list[float]] = {name: [] for name in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as folder:
        for run in range(args.repeats):
            # Rotated each repeat: no pipeline always runs first (or after the fan-out).
            shift = run % len(chosen)
            for name in chosen[shift:] + chosen[:shift]:
                try:
                    rates[name].append(measure(name, args.events, folder, run, args.servers))
                except (queue.Empty, subprocess.TimeoutExpired):
                    sys.exit(f"bench_peers: {name} (run {run + 1}) gave no result in {WAIT} s")
    load_after = os.getloadavg()
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"{args.events} order events per run, ipc, one producer -> one consumer process, "
        f"handler per event, median of {args.repeats}"
    )
    print(
        f"load average {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end; "
        f"{os.cpu_count()} cores; Python {sys.version.split()[0]}, pyzmq {zmq.__version__}"
    )
    print(f"plugins loaded: ZEROEVENTS_LOAD_PLUGINS={os.environ['ZEROEVENTS_LOAD_PLUGINS']}")
    base = median.get("json")
    print(f"  {'pipeline':<52}{'events/s':>10}{'json / this':>13}")
    for name in chosen:
        label = PAIRS[name][0] if name in PAIRS else OTHERS[name]
        ratio = f"{base / median[name]:>12.2f}x" if base else ""
        print(f"  {label:<52}{median[name]:>10,.0f}{ratio}")
    for name in skipped:
        print(f"  {OTHERS[name]:<52}{'skipped: php with php-zmq not installed':>10}")
    print("targets (issue 18):")
    for what, ratio_, target in targets(median):
        if ratio_ is None:
            print(f"  {what}: not measured")
        else:
            state = "met" if ratio_ >= target else "NOT MET"
            print(f"  {what}: {ratio_:.2f}x, {state}")
    if args.latency:
        with tempfile.TemporaryDirectory(prefix="bench-peers-") as folder:
            latency_check(folder, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
