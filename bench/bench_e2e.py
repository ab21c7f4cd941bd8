"""End-to-end throughput and confirmed latency, beside raw pyzmq in the same run.

    python bench/bench_e2e.py [--events N] [--repeats R] [--serializer NAME] [--security]

Throughput: events per second from an ``EventListener`` in one process to a
listener fired by an ``EventService`` in another, over ipc, one order dict per
event. Baselines move the same frames with the same serializer:
(a) hand-written pyzmq, ``send_multipart``/``recv_multipart``;
(b) the fast path, ``send(frame, SNDMORE)``/``send(frame)`` and ``recv()`` with RCVMORE.
Targets: zeroevents >= 1.0 x (a) and >= 0.7 x (b).

Thread safety: every push takes the socket's lock (one EventListener may be fired
from many threads). Its single-thread cost is shown beside the push without it (the
code before the lock, kept here as ``UnlockedEventSocket``), in the same run: end to
end, and on the sender alone (ns per fire, the receiver draining raw).
Target: within 5% of the unlocked figure.

Security (``--security``, instead of the rest): the same pipeline over tcp on
127.0.0.1, plain and with the ``security`` option (CURVE, an allow list of one key).
Target: CURVE >= 0.85 x plain tcp.

Latency: confirmed push round trips (DEALER -> ROUTER) against a raw DEALER/ROUTER
ping-pong of the same frames. Target: p99 within 1.5 x raw.
Figures are medians of the repeats; the consumer clocks first to last message.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from zeroevents_core import Dispatcher, EventListener, EventService, EventSocket, get_serializer
from zeroevents_core.transports.zmq._barrier import _send
from zeroevents_core.transports.zmq._wire import SNDMORE

# An order as examples/contracts/orders.created.json describes it.
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
CONTRACTS = str(Path(__file__).resolve().parent.parent / "examples" / "contracts")
EVENT = "orders.created"
SPAWN = multiprocessing.get_context("spawn")


# Consumers: each binds, says it is ready, clocks first to last of ``n`` events.


def consume_zeroevents(
    endpoint: str,
    n: int,
    serializer: str,
    out: Any,
    contracts: str | None = None,
    security: dict[str, Any] | None = None,
) -> None:
    dispatcher = Dispatcher()
    count = 0
    started = 0.0

    def on_order(order: dict[str, Any]) -> None:
        nonlocal count, started
        count += 1
        if count == 1:
            started = time.perf_counter()
        if count == n:
            out.put(("done", time.perf_counter() - started))
            service.stop()

    dispatcher.listen(EVENT, on_order)
    listener = EventListener(
        {
            "bind": endpoint,
            "socket_type": "PULL",
            "serializer": serializer,
            "schemas": contracts,
            "security": security,
        },
        dispatcher,
    )
    service = EventService(dispatcher).listen(listener)
    listener.socket()
    out.put(("ready", 0.0))
    service.run()


def consume_raw(endpoint: str, n: int, serializer: str, out: Any, fast: bool) -> None:
    unserialize = get_serializer(serializer).unserialize
    context = zmq.Context()
    socket = context.socket(zmq.PULL)
    socket.bind(endpoint)
    out.put(("ready", 0.0))
    handled = []
    handle = handled.append
    started = 0.0
    for count in range(1, n + 1):
        if fast:
            frames = [socket.recv()]
            while socket.get(zmq.RCVMORE):
                frames.append(socket.recv())
        else:
            frames = socket.recv_multipart()
        if count == 1:
            started = time.perf_counter()
        frames[0].decode()
        handle(unserialize(frames[1:])[0])
        if len(handled) > 1000:
            handled.clear()
    out.put(("done", time.perf_counter() - started))
    socket.close()
    context.term()


# Producers: send ``n`` events as fast as they can.


def produce_zeroevents(
    endpoint: str,
    n: int,
    serializer: str,
    contracts: str | None = None,
    security: dict[str, Any] | None = None,
) -> None:
    dispatcher = Dispatcher()
    listener = EventListener(
        {
            "connect": endpoint,
            "socket_type": "PUSH",
            "serializer": serializer,
            "schemas": contracts,
            "security": security,
        },
        dispatcher,
    )
    dispatcher.listen("orders.*", listener)
    for _ in range(n):
        dispatcher.fire(EVENT, ORDER)
    listener.close()


class UnlockedEventSocket(EventSocket):
    """The push as it was before the send lock: the baseline of the lock's cost."""

    def push(self, event: str, payload: Any = (), address: bytes | None = None) -> Any:
        if self.schemas is not None:
            self.check_outgoing(event, payload)
        frames = self.encode(event, payload)
        if address is not None:
            frames.insert(0, address)
        handshakes = self.handshakes
        if handshakes is not None and handshakes.failures and handshakes.blocked():
            return False
        for frame in frames[:-1]:
            _send(self, frame, SNDMORE)
        _send(self, frames[-1])
        self.barrier.sent += 1
        if not self.has_sent:
            self.has_sent = True
        return True


def forwarding(endpoint: str, serializer: str, locked: bool) -> tuple[Dispatcher, EventListener]:
    """A dispatcher forwarding ``orders.*`` to a PUSH listener (unbounded send queue),
    whose socket is the locked one or the baseline."""
    dispatcher = Dispatcher()
    options = {
        "connect": endpoint,
        "socket_type": "PUSH",
        "serializer": serializer,
        "socket_options": {"SNDHWM": 0, "LINGER": -1},
    }
    listener = EventListener(options, dispatcher)
    if not locked:
        listener._socket = listener.transport._open(
            UnlockedEventSocket, listener.options, dispatcher
        )
    dispatcher.listen("orders.*", listener)
    return dispatcher, listener


def consume_for_lock(endpoint: str, n: int, serializer: str, out: Any, locked: bool) -> None:
    """:func:`consume_zeroevents` without contracts (``locked`` is the producer's)."""
    consume_zeroevents(endpoint, n, serializer, out)


def produce_locked_or_not(endpoint: str, n: int, serializer: str, locked: bool) -> None:
    dispatcher, listener = forwarding(endpoint, serializer, locked)
    for _ in range(n):
        dispatcher.fire(EVENT, ORDER)
    listener.close()


def send_only(endpoint: str, n: int, serializer: str, locked: bool, out: Any) -> None:
    """Clock the sender's own loop of ``n`` fires (the receiver only drains)."""
    dispatcher, listener = forwarding(endpoint, serializer, locked)
    fire = dispatcher.fire
    dispatcher.fire(EVENT, ORDER)
    started = time.perf_counter()
    for _ in range(n):
        fire(EVENT, ORDER)
    out.put(("sent", (time.perf_counter() - started) / n))
    listener.close()


def drain(endpoint: str, n: int, out: Any) -> None:
    context = zmq.Context()
    socket = context.socket(zmq.PULL)
    socket.bind(endpoint)
    out.put(("ready", 0.0))
    for _ in range(n):
        socket.recv_multipart()
    socket.close()
    context.term()


def sender_seconds(n: int, serializer: str, folder: str, run: int, locked: bool) -> float:
    """Seconds per fire on the sender, locked or not."""
    endpoint = f"ipc://{folder}/send-{run}.ipc"
    out = SPAWN.Queue()
    receiving = SPAWN.Process(target=drain, args=(endpoint, n + 1, out))
    sending = SPAWN.Process(target=send_only, args=(endpoint, n, serializer, locked, out))
    return run_pair(receiving, sending, out)


def measure_lock(n: int, repeats: int, serializer: str, folder: str) -> dict[str, float]:
    """Medians, interleaved per repeat: events/s end to end and s per fire on the
    sender, with the send lock and without it."""
    figures: dict[str, list[float]] = {key: [] for key in ("e2e", "e2e-0", "send", "send-0")}
    common = {"n": n, "serializer": serializer, "folder": folder}
    for run in range(repeats):
        for locked, suffix in ((True, ""), (False, "-0")):
            figures["e2e" + suffix].append(
                throughput(
                    consume_for_lock,
                    produce_locked_or_not,
                    locked,
                    **common,
                    run=100 + 2 * run + locked,
                )
            )
            figures["send" + suffix].append(
                sender_seconds(n, serializer, folder, 2 * run + locked, locked)
            )
    return {name: statistics.median(values) for name, values in figures.items()}


def produce_raw(endpoint: str, n: int, serializer: str, fast: bool) -> None:
    serialize = get_serializer(serializer).serialize
    context = zmq.Context()
    socket = context.socket(zmq.PUSH)
    socket.connect(endpoint)
    for _ in range(n):
        frames = [EVENT.encode(), *serialize([ORDER])]
        if fast:
            for frame in frames[:-1]:
                socket.send(frame, zmq.SNDMORE)
            socket.send(frames[-1])
        else:
            socket.send_multipart(frames)
    socket.close(linger=-1)
    context.term()


def run_pair(receiving: Any, sending: Any, out: Any) -> float:
    """Start the receiver, then the sender once it is ready; the receiver's seconds."""
    receiving.start()
    try:
        assert out.get(timeout=60)[0] == "ready"
        sending.start()
        _, seconds = out.get(timeout=300)
        sending.join(60)
        receiving.join(60)
    finally:
        for process in (receiving, sending):
            if process.is_alive():
                process.kill()
    return float(seconds)


def throughput(
    consumer: Callable[..., None],
    producer: Callable[..., None],
    *args: Any,
    n: int,
    serializer: str,
    folder: str,
    run: int,
    endpoint: str | None = None,
    producer_args: tuple[Any, ...] | None = None,
) -> float:
    """Events per second of one consumer/producer pair in two processes."""
    endpoint = endpoint or f"ipc://{folder}/bench-{run}.ipc"
    out = SPAWN.Queue()
    receiving = SPAWN.Process(target=consumer, args=(endpoint, n, serializer, out, *args))
    sent_args = args if producer_args is None else producer_args
    sending = SPAWN.Process(target=producer, args=(endpoint, n, serializer, *sent_args))
    return (n - 1) / run_pair(receiving, sending, out)


# Confirmed round trips.


def confirm_zeroevents(endpoint: str, out: Any) -> None:
    dispatcher = Dispatcher()
    listener = EventListener(
        {"bind": endpoint, "socket_type": "ROUTER", "confirmed": True}, dispatcher
    )
    service = EventService(dispatcher).listen(listener)
    dispatcher.listen("bench.stop", lambda: service.stop())
    listener.socket()
    out.put("ready")
    service.run()


def confirm_raw(endpoint: str, out: Any) -> None:
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.bind(endpoint)
    out.put("ready")
    serializer = get_serializer("json")
    while True:
        address, name, *frames = socket.recv_multipart()
        serializer.unserialize(frames)
        socket.send_multipart([address, b"zeroevents.confirmed", b'"' + name + b'"'])
        if name == b"bench.stop":
            break
    socket.close()
    context.term()


def round_trips(server: Callable[..., None], n: int, folder: str, raw: bool) -> list[float]:
    endpoint = f"ipc://{folder}/rtt-{'raw' if raw else 'ze'}.ipc"
    out = SPAWN.Queue()
    serving = SPAWN.Process(target=server, args=(endpoint, out))
    serving.start()
    samples = []
    try:
        assert out.get(timeout=60) == "ready"
        if raw:
            context = zmq.Context()
            socket = context.socket(zmq.DEALER)
            socket.connect(endpoint)
            serialize = get_serializer("json").serialize
            for _ in range(n):
                start = time.perf_counter()
                socket.send_multipart([EVENT.encode(), *serialize([ORDER])])
                socket.recv_multipart()
                samples.append(time.perf_counter() - start)
            socket.send_multipart([b"bench.stop"])
            socket.recv_multipart()
            socket.close()
            context.term()
        else:
            dispatcher = Dispatcher()
            listener = EventListener(
                # No barrier at close: the server has stopped on bench.stop.
                {
                    "connect": endpoint,
                    "socket_type": "DEALER",
                    "confirmed": True,
                    "flush_on_close": False,
                },
                dispatcher,
            )
            socket = listener.socket()
            for _ in range(n):
                start = time.perf_counter()
                socket.push(EVENT, [ORDER])
                samples.append(time.perf_counter() - start)
            socket.push("bench.stop")
            listener.close()
        serving.join(30)
    finally:
        if serving.is_alive():
            serving.kill()
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_throughput(n: int, repeats: int, serializer: str, folder: str) -> dict[str, float]:
    """Median events/s of zeroevents and both raw baselines, interleaved per repeat."""
    rates: dict[str, list[float]] = {
        "zeroevents": [],
        "raw (a)": [],
        "raw (b)": [],
        "contracts": [],
    }
    for run in range(repeats):
        common = {"n": n, "serializer": serializer, "folder": folder}
        rates["zeroevents"].append(
            throughput(consume_zeroevents, produce_zeroevents, **common, run=4 * run)
        )
        rates["raw (a)"].append(
            throughput(consume_raw, produce_raw, False, **common, run=4 * run + 1)
        )
        rates["raw (b)"].append(
            throughput(consume_raw, produce_raw, True, **common, run=4 * run + 2)
        )
        rates["contracts"].append(
            throughput(consume_zeroevents, produce_zeroevents, CONTRACTS, **common, run=4 * run + 3)
        )
    return {name: statistics.median(values) for name, values in rates.items()}


def free_tcp_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def measure_security(n: int, repeats: int, serializer: str, folder: str) -> dict[str, float]:
    """Median events/s over tcp on 127.0.0.1, plain and with CURVE (an allow list of
    one key), interleaved per repeat."""
    from zeroevents_core.transports.zmq._security import write_key_pair

    keys, allowed = Path(folder) / "keys", Path(folder) / "allow"
    keys.mkdir()
    allowed.mkdir()
    write_key_pair(keys, "server")
    client_public, _ = write_key_pair(keys, "client")
    (allowed / client_public.name).write_bytes(client_public.read_bytes())
    server = {"curve": {"secret_key": str(keys / "server.key_secret"), "allow": str(allowed)}}
    client = {
        "curve": {
            "secret_key": str(keys / "client.key_secret"),
            "server_key": str(keys / "server.key"),
        }
    }
    rates: dict[str, list[float]] = {"plain": [], "curve": []}
    for run in range(repeats):
        common = {"n": n, "serializer": serializer, "folder": folder}
        rates["plain"].append(
            throughput(
                consume_zeroevents, produce_zeroevents, **common, run=run,
                endpoint=free_tcp_endpoint(),
            )
        )  # fmt: skip
        rates["curve"].append(
            throughput(
                consume_zeroevents, produce_zeroevents, None, server, **common, run=run,
                endpoint=free_tcp_endpoint(), producer_args=(None, client),
            )
        )  # fmt: skip
    return {name: statistics.median(values) for name, values in rates.items()}


def print_security(n: int, repeats: int, serializer: str, folder: str) -> None:
    rates = measure_security(n, repeats, serializer, folder)
    print(f"CURVE (security option), tcp 127.0.0.1, {serializer}, {n} events, median of {repeats}")
    print(f"  {'':<34}{'events/s':>12}{'curve / this':>16}")
    for name, label in [
        ("plain", "zeroevents, plain tcp"),
        ("curve", "zeroevents, CURVE + allow list"),
    ]:
        print(f"  {label:<34}{rates[name]:>12,.0f}{rates['curve'] / rates[name]:>15.2f}x")
    print("  target: CURVE >= 0.85x of plain tcp")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--round-trips", type=int, default=5_000)
    parser.add_argument("--serializer", default="json")
    parser.add_argument(
        "--security", action="store_true", help="only CURVE against plain tcp, in one run"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zeroevents-bench-") as folder:
        if args.security:
            print_security(args.events, args.repeats, args.serializer, folder)
            return
        rates = measure_throughput(args.events, args.repeats, args.serializer, folder)
        print(
            f"end-to-end throughput, ipc, {args.serializer}, {args.events} events, "
            f"median of {args.repeats}"
        )
        print(f"  {'':<34}{'events/s':>12}{'zeroevents / this':>20}")
        for name, label in [
            ("zeroevents", "zeroevents EventListener->Service"),
            ("raw (a)", "raw pyzmq send/recv_multipart (a)"),
            ("raw (b)", "raw pyzmq send+SNDMORE/recv (b)"),
        ]:
            ratio = rates["zeroevents"] / rates[name]
            print(f"  {label:<34}{rates[name]:>12,.0f}{ratio:>19.2f}x")
        print("  targets: >= 1.00x (a), >= 0.70x (b)")
        with_contracts = rates["contracts"] / rates["zeroevents"]
        print(
            f"  zeroevents, contracts checked on both ends: {rates['contracts']:,.0f} events/s, "
            f"{with_contracts:.2f}x of the same pipeline without (target >= 0.50x)"
        )
        lock = measure_lock(args.events, args.repeats, args.serializer, folder)
        print(f"thread safety: the send lock on the single-thread path, median of {args.repeats}")
        print(f"  {'':<34}{'with lock':>12}{'without':>12}{'ratio':>9}")
        print(
            f"  {'end to end, events/s':<34}{lock['e2e']:>12,.0f}{lock['e2e-0']:>12,.0f}"
            f"{lock['e2e'] / lock['e2e-0']:>8.3f}x"
        )
        print(
            f"  {'sender alone, ns per fire':<34}{lock['send'] * 1e9:>12,.0f}"
            f"{lock['send-0'] * 1e9:>12,.0f}{lock['send'] / lock['send-0']:>8.3f}x"
        )
        print("  target: end to end >= 0.95x of the push without the lock")
        ze = round_trips(confirm_zeroevents, args.round_trips, folder, raw=False)
        raw = round_trips(confirm_raw, args.round_trips, folder, raw=True)
        print(f"confirmed round trip, DEALER->ROUTER, {args.round_trips} events")
        for label, samples in [("zeroevents push(confirmed)", ze), ("raw DEALER/ROUTER", raw)]:
            print(
                f"  {label:<34}p50 {percentile(samples, 0.5) * 1e6:7.1f} us"
                f"   p99 {percentile(samples, 0.99) * 1e6:7.1f} us"
            )
        ratio = percentile(ze, 0.99) / percentile(raw, 0.99)
        print(f"  p99 ratio zeroevents / raw: {ratio:.2f}x (target <= 1.50x)")


if __name__ == "__main__":
    sys.exit(main())
