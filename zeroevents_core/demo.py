"""``zeroevents demo``: events crossing between two processes, with a contract.

The command's process starts two children on a private ipc socket in a temporary
folder (no broker): a consumer, an :class:`EventService` whose PULL socket enforces
the contract folder ``demo_contracts/`` (shipped in the package), and a producer
that fires ``orders.*`` events on its dispatcher, forwarded by an
:class:`EventListener` (PUSH, no contract) with msgpack (json when
zeroevents-msgpack is not installed). One event in 25 breaks the contract on
purpose; the consumer never fires those (``zeroevents.schema.error`` instead).

The first third of the events is paced (``--rate``) and each carries the time it was
fired, so the consumer measures the latency from the producer's ``fire()`` to its
own listener; the rest is a burst that measures throughput. The children count in
shared memory and the parent draws live counters (plain lines when stdout is not a
terminal), then sums up: sent, received, rejected, latency percentiles, throughput.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queues
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .cli import CommandError

CONTRACTS = Path(__file__).resolve().parent / "demo_contracts"
DEFAULT_EVENTS = 30_000
SHORT_EVENTS = 1_500
INVALID_EVERY = 25
# Bounded waits: children are fresh interpreters, slow to start on a busy machine.
START_WAIT = 60.0
RUN_WAIT = 120.0
FRAME_SECONDS = 0.08

SENT, RECEIVED, REJECTED = 0, 1, 2

CREATED: dict[str, Any] = {
    "id": 1,
    "seq": 0,
    "sent_at": 0.0,
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [
        {"sku": "BOO-1843", "quantity": 1, "price": 24.5},
        {"sku": "PEN-0007", "quantity": 2, "price": 9.99},
    ],
    "total": 44.48,
    "currency": "EUR",
}
SHIPPED: dict[str, Any] = {
    "id": 1,
    "seq": 0,
    "sent_at": 0.0,
    "carrier": "DHL",
    "tracking": "JD0146000062",
}
# What the producer gets wrong, in turn: each breaks one rule of the contract.
BROKEN: list[tuple[str, dict[str, Any]]] = [
    ("orders.created", {**CREATED, "total": -12.5}),
    ("orders.created", {**CREATED, "customer": {"name": "Ada", "email": "ada.example.com"}}),
    ("orders.shipped", {**SHIPPED, "carrier": "pigeon"}),
    ("orders.created", {**CREATED, "items": [{"sku": "pen", "quantity": 1, "price": 2.5}]}),
]


def make_event(seq: int) -> tuple[str, dict[str, Any], bool]:
    """The ``seq``-th event of the demo: name, order, whether it keeps the contract."""
    if seq % INVALID_EVERY == INVALID_EVERY - 1:
        event, template = BROKEN[(seq // INVALID_EVERY) % len(BROKEN)]
        valid = False
    elif seq % 3 == 2:
        event, template, valid = "orders.shipped", SHIPPED, True
    else:
        event, template, valid = "orders.created", CREATED, True
    order = dict(template)
    order["id"] = 1000 + seq
    order["seq"] = seq
    return event, order, valid


def _quiet_child() -> None:
    # Ctrl-C goes to the whole process group: the parent ends the children itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Rejections are the point of the demo, reported by the parent, not as warnings.
    logging.getLogger("zeroevents_core.service").setLevel(logging.ERROR)


# The two children ---------------------------------------------------------------------


def consume(
    endpoint: str,
    serializer: str,
    contracts: str,
    total: int,
    stream: int,
    counters: Sequence[Any],
    reports: Any,
) -> None:
    """The consumer: an EventService with the contract; reports samples and a summary."""
    _quiet_child()
    from .dispatcher import Dispatcher
    from .listener import EventListener
    from .service import IDLE, EventService
    from .transports.codec import SCHEMA_ERROR

    dispatcher = Dispatcher()
    listener = EventListener(
        {
            "bind": endpoint,
            "socket_type": "PULL",
            "serializer": serializer,
            "schemas": contracts,
            # The producer's exit must lose nothing in flight (libzmq issue 4660).
            "socket_options": {"RCVHWM": 0},
        },
        dispatcher,
    )
    service = EventService(dispatcher).listen(listener).poll_timeout(100).listen_to_signals(())
    latencies: list[float] = []
    burst: list[float] = []  # arrival of the first and the last burst event
    burst_count = 0
    received = rejected = 0
    shown: set[str] = set()
    deadline = time.monotonic() + RUN_WAIT
    now = time.time

    def publish() -> None:
        counters[RECEIVED].value = received
        counters[REJECTED].value = rejected

    def arrived(seq: Any, at: float) -> None:
        nonlocal burst_count
        if isinstance(seq, int) and seq >= stream:
            burst_count += 1
            if burst:
                burst[1:] = [at]
            else:
                burst[:] = [at, at]
        done = received + rejected
        if not done & 127:
            publish()
        if done >= total:
            service.stop()

    def on_order(order: Any, *more: Any) -> None:
        nonlocal received
        at = now()
        received += 1
        seq = order.get("seq")
        if seq < stream:
            latencies.append(at - order["sent_at"])
        event = dispatcher.firing() or "?"
        if event not in shown:
            shown.add(event)
            latency = (at - order["sent_at"]) * 1000
            reports.put(("fired", event, seq, _describe(event, order), latency))
        arrived(seq, at)

    def on_rejected(event: str, payload: Any, failures: Any, address: Any) -> None:
        nonlocal rejected
        at = now()
        rejected += 1
        first = payload[0] if payload and isinstance(payload[0], dict) else {}
        seq = first.get("seq")
        path, message, source = failures[0]
        key = f"{event} {path}"
        if key not in shown and len(shown) < 8:
            shown.add(key)
            where = f" ({Path(source).name})" if source else ""
            reports.put(("rejected", event, seq, f"{path}: {message}{where}", 0.0))
        arrived(seq, at)

    def on_idle(_: Any) -> None:
        publish()
        if time.monotonic() > deadline:
            service.stop()

    dispatcher.listen("orders.*", on_order)
    dispatcher.listen(SCHEMA_ERROR, on_rejected)
    dispatcher.listen(IDLE, on_idle)
    listener.socket()
    reports.put(("ready", "consumer", os.getpid()))
    service.run()
    publish()
    latencies.sort()
    reports.put(
        (
            "done",
            "consumer",
            {
                "received": received,
                "rejected": rejected,
                "stats": vars(service.stats),
                "latency": {
                    name: _percentile(latencies, q)
                    for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
                },
                "latency_samples": len(latencies),
                "burst_count": burst_count,
                "burst_seconds": burst[1] - burst[0] if burst else 0.0,
            },
        )
    )


def produce(
    endpoint: str,
    serializer: str,
    total: int,
    stream: int,
    rate: int,
    counters: Sequence[Any],
    reports: Any,
    go: Any,
) -> None:
    """The producer: fires ``orders.*`` on its dispatcher, forwarded by an EventListener."""
    _quiet_child()
    from .dispatcher import Dispatcher
    from .listener import EventListener
    from .transports.codec import PUSH_ERROR

    dispatcher = Dispatcher()
    dispatcher.listen(PUSH_ERROR, lambda *_: "failed")
    listener = EventListener(
        {
            "connect": endpoint,
            "socket_type": "PUSH",
            "serializer": serializer,
            "socket_options": {"LINGER": 30_000, "SNDTIMEO": 30_000},
        },
        dispatcher,
    )
    dispatcher.listen("orders.*", listener)
    reports.put(("ready", "producer", os.getpid()))
    if not go.wait(START_WAIT):
        return
    # Connected once the consumer is bound: an ipc connect that finds no socket
    # retries only after ZeroMQ's reconnect interval, which the first events would wait.
    listener.socket()
    time.sleep(0.05)
    sent = failed = invalid = 0
    fire, clock, now = dispatcher.fire, time.perf_counter, time.time
    started = clock()
    burst_started = started
    sent_counter = counters[SENT]
    for seq in range(total):
        if seq < stream:
            ahead = started + seq / rate - clock()
            if ahead > 0.001:
                time.sleep(ahead)
        elif seq == stream:
            burst_started = clock()
        event, order, valid = make_event(seq)
        order["sent_at"] = now()
        if fire(event, order) == [True]:
            sent += 1
        else:
            failed += 1
        invalid += not valid
        if not seq & 63:
            sent_counter.value = sent
    sent_counter.value = sent
    burst_seconds = clock() - burst_started
    listener.close()
    reports.put(
        (
            "done",
            "producer",
            {"sent": sent, "failed": failed, "invalid": invalid, "burst_seconds": burst_seconds},
        )
    )


def _describe(event: str, order: dict[str, Any]) -> str:
    if event == "orders.created":
        items = len(order.get("items", []))
        return (
            f"order {order.get('id')}, {items} items, {order.get('total')} "
            f"{order.get('currency')}, for {order.get('customer', {}).get('name')}"
        )
    return f"order {order.get('id')} by {order.get('carrier')}, tracking {order.get('tracking')}"


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# The screen ---------------------------------------------------------------------------


class Screen:
    """Log lines above one live status line on a terminal; plain lines elsewhere."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.color = self.tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        self.fancy = encoding == "utf8"
        self.status = ""

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def line(self, text: str = "") -> None:
        if self.tty and self.status:
            self.out.write("\r\x1b[2K" + text + "\n" + self.status)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def show(self, status: str) -> None:
        """Redraw the status line (terminals only)."""
        self.status = status
        if self.tty:
            self.out.write("\r\x1b[2K" + status)
            self.out.flush()

    def end_status(self) -> None:
        if self.tty and self.status:
            self.out.write("\n")
            self.out.flush()
        self.status = ""

    def bar(self, fraction: float, width: int = 28) -> str:
        full = max(0, min(width, round(fraction * width)))
        on, off = ("█", "░") if self.fancy else ("#", "-")
        return self.paint(on * full, "36") + self.paint(off * (width - full), "2")


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# The command --------------------------------------------------------------------------


def run(
    events: int = DEFAULT_EVENTS,
    rate: int = 5000,
    serializer: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the demo; 0 when every event is accounted for (sent = received + rejected)."""
    from .errors import UnknownPluginError
    from .plugins import lookup

    screen = Screen(out if out is not None else sys.stdout)
    note = None
    if serializer is None:
        try:
            info = lookup("serializer", "msgpack")
        except UnknownPluginError:
            info = lookup("serializer", "json")
            note = (
                "zeroevents-msgpack is not installed, so the demo uses json "
                "(pip install zeroevents-msgpack, or ./plugins/zeroevents-msgpack here)"
            )
    else:
        info = lookup("serializer", serializer)
    total, stream = events, events // 3
    context = multiprocessing.get_context("spawn")
    counters = [context.RawValue("q", 0) for _ in range(3)]
    reports = context.Queue()
    go = context.Event()
    contracts = sorted(path.stem for path in CONTRACTS.glob("*.json"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zeroevents-demo-") as folder:
        endpoint = f"ipc://{folder}/events.ipc"
        consumer = context.Process(
            target=consume,
            args=(endpoint, info.name, str(CONTRACTS), total, stream, counters, reports),
            name="zeroevents-demo-consumer",
            daemon=True,
        )
        producer = context.Process(
            target=produce,
            args=(endpoint, info.name, total, stream, rate, counters, reports, go),
            name="zeroevents-demo-producer",
            daemon=True,
        )
        children = {"consumer": consumer, "producer": producer}
        p = screen.paint
        screen.line(
            p("zeroevents demo", "1") + ": two processes, one private ipc socket, no broker"
        )
        if note:
            screen.line(p(f"  note: {note}", "33"))
        screen.line(f"  socket      {endpoint}  (PUSH -> PULL)")
        screen.line(f"  serializer  {info.name}  ({info.provider})")
        screen.line(
            f"  contract    {', '.join(contracts)}  (zeroevents_core/{CONTRACTS.name}/, "
            "checked by the consumer only)"
        )
        try:
            for child in children.values():
                child.start()
            pids = _wait_ready(reports, children)
            screen.line(
                f"  producer    pid {pids['producer']}: fires orders.* through an EventListener, "
                f"no contract; 1 event in {INVALID_EVERY} breaks it on purpose"
            )
            screen.line(
                f"  consumer    pid {pids['consumer']}: an EventService fires what keeps the "
                "contract, rejects the rest"
            )
            screen.line()
            go.set()
            results = _watch(screen, reports, children, counters, total, stream, rate)
        finally:
            screen.end_status()
            _reap(children)
            reports.cancel_join_thread()
            reports.close()
    return _summary(screen, results, total, stream, rate, info.name, time.perf_counter() - started)


def _wait_ready(reports: Any, children: dict[str, Any]) -> dict[str, int]:
    pids: dict[str, int] = {}
    deadline = time.monotonic() + START_WAIT
    while len(pids) < len(children):
        report = _next_report(reports, children, deadline, "start")
        if report[0] == "ready":
            pids[report[1]] = report[2]
    return pids


def _next_report(
    reports: Any, children: dict[str, Any], deadline: float, what: str, wait: float = 0.5
) -> tuple[Any, ...]:
    while True:
        try:
            report: tuple[Any, ...] = reports.get(timeout=wait)
            return report
        except queues.Empty:
            pass
        for name, child in children.items():
            if child.exitcode not in (None, 0):
                raise CommandError(
                    f"the demo's {name} process ended with exit code {child.exitcode} "
                    "(its error is above)"
                )
        if time.monotonic() > deadline:
            raise CommandError(f"the demo's processes did not {what} in time")


def _watch(
    screen: Screen,
    reports: Any,
    children: dict[str, Any],
    counters: Sequence[Any],
    total: int,
    stream: int,
    rate: int,
) -> dict[str, dict[str, Any]]:
    p = screen.paint
    check, cross = ("✓", "✗") if screen.fancy else ("+", "x")
    results: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + RUN_WAIT
    history: list[tuple[float, int]] = []
    phase = ""

    def status() -> str:
        nonlocal phase
        sent, received, rejected = (int(c.value) for c in counters)
        arrived = received + rejected
        moment = time.monotonic()
        history.append((moment, arrived))
        while len(history) > 2 and history[0][0] < moment - 0.5:
            history.pop(0)
        span = history[-1][0] - history[0][0]
        speed = (history[-1][1] - history[0][1]) / span if span > 0 else 0.0
        now_phase = "stream" if sent < stream else "burst"
        if now_phase != phase:
            phase = now_phase
            if phase == "stream":
                what = f"{_n(stream)} events paced at {_n(rate)}/s: latency measured on each"
            else:
                what = f"{_n(total - stream)} events as fast as they go: throughput"
            screen.line(f"  {p(phase, '1')}: {what}")
        return (
            f"  {phase:<6} {screen.bar(arrived / total)} {arrived / total:4.0%}  "
            f"sent {_n(sent)}  received {p(_n(received), '32')}  "
            f"rejected {p(_n(rejected), '33')}  {_n(speed)} ev/s"
        )

    while len(results) < len(children):
        screen.show(status())
        try:
            report = _next_report(reports, children, deadline, "finish", FRAME_SECONDS)
        except CommandError:
            raise
        kind = report[0]
        if kind == "done":
            results[report[1]] = report[2]
        elif kind == "fired":
            _, event, seq, text, latency = report
            screen.line(
                f"    {p(check, '32')} fired    {event} #{seq}: {text}  "
                f"({latency:.2f} ms after fire)"
            )
        elif kind == "rejected":
            _, event, seq, text, _ = report
            screen.line(f"    {p(cross, '33')} rejected {event} #{seq}: {text}")
    final = status()
    screen.show(final)
    if not screen.tty:
        screen.line(final)
    return results


def _reap(children: dict[str, Any]) -> None:
    for child in children.values():
        if child.pid is None:
            continue
        child.join(5 if child.exitcode is None else 0)
        if child.is_alive():
            child.terminate()
            child.join(5)
        if child.is_alive():
            child.kill()
            child.join(5)


def _summary(
    screen: Screen,
    results: dict[str, dict[str, Any]],
    total: int,
    stream: int,
    rate: int,
    serializer: str,
    seconds: float,
) -> int:
    p = screen.paint
    made, got = results["producer"], results["consumer"]
    sent, invalid = made["sent"], made["invalid"]
    received, rejected = got["received"], got["rejected"]
    latency = got["latency"]
    burst = got["burst_count"]
    throughput = (burst - 1) / got["burst_seconds"] if burst > 1 and got["burst_seconds"] else 0.0
    adds_up = sent == total and sent == received + rejected and rejected == invalid
    check, arrow = ("✓", "→") if screen.fancy else ("ok", "->")
    screen.line()
    screen.line(p("summary", "1"))
    screen.line(
        f"  sent                      {_n(sent):>7}   ({_n(invalid)} break the contract on purpose)"
    )
    screen.line(
        f"  received                  {p(f'{_n(received):>7}', '32')}   "
        "fired by the consumer's dispatcher"
    )
    screen.line(
        f"  rejected by the contract  {p(f'{_n(rejected):>7}', '33')}   "
        "never fired: zeroevents.schema.error instead"
    )
    verdict = p(check, "32") if adds_up else p("MISMATCH", "31")
    screen.line(f"                            sent = received + rejected {verdict}")
    screen.line(
        f"  latency, fire {arrow} listener  p50 {_ms(latency['p50'])}   "
        f"p99 {_ms(latency['p99'])}   max {_ms(latency['max'])}   "
        f"({_n(got['latency_samples'])} events paced at {_n(rate)}/s)"
    )
    screen.line(
        f"  throughput                {_n(throughput)} events/s   (burst of {_n(total - stream)}, "
        f"{serializer}, contract checked on each)"
    )
    screen.line(f"  wall time                 {seconds:.1f} s, process start-up included")
    if not adds_up:
        raise CommandError(
            f"the counts do not add up: {total} to send, {sent} sent ({made['failed']} failed), "
            f"{received} received + {rejected} rejected, {invalid} made invalid"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zeroevents_core.demo [ARGS]`` is ``zeroevents demo [ARGS]``."""
    from .cli import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
