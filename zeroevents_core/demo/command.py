"""``zeroevents demo``: start the two processes, draw the counters, sum up.

The parent shows the user code first (:mod:`.user_code`, as it is written), starts
the service and the producer in fresh interpreters on a private endpoint, redraws
one status line at a steady rate (``FRAME_SECONDS``) from the counters the children
keep in shared memory, and prints what they report above it. Once the producer is
done and everything it sent has arrived, it stops the service with SIGTERM, as a
user would, and prints the summary and where to go next.
"""

from __future__ import annotations

import inspect
import multiprocessing
import queue as queues
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..cli import CommandError, UsageError
from . import children, user_code
from .children import BURST_FIRST, BURST_LAST, RECEIVED, REJECTED, SENT
from .orders import INVALID_EVERY
from .screen import Screen, count, ms

if TYPE_CHECKING:
    from ..plugins import PluginInfo

CONTRACTS = Path(__file__).resolve().parent.parent / "demo_contracts"
DEFAULT_EVENTS = 30_000
SHORT_EVENTS = 1_500
# Where the service binds, per transport, in a private folder: a transport joins
# the demo (--transport NAME) with its line here.
ENDPOINTS = {"zmq": "ipc://{folder}/events.ipc"}
# Bounded waits: children are fresh interpreters, slow to start on a busy machine.
START_WAIT = children.START_WAIT
RUN_WAIT = 120.0
# After the producer is done: how long what it sent may take to arrive.
DRAIN_WAIT = 30.0
FRAME_SECONDS = 0.1
SPEED_WINDOW = 0.5


def run(
    events: int = DEFAULT_EVENTS,
    rate: int = 5000,
    serializer: str | None = None,
    transport: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the demo; 0 when every event is accounted for (sent = received + rejected)."""
    screen = Screen(out if out is not None else sys.stdout)
    transport, installed = _transport(transport)
    chosen, note = _serializer(serializer)
    settings = {"serializer": chosen.name, "transport": transport}
    total, stream = events, events // 3
    _show_code(screen)
    context = multiprocessing.get_context("spawn")
    counters = [
        *(context.RawValue("q", 0) for _ in range(3)),
        *(context.RawValue("d", 0.0) for _ in range(2)),
    ]
    reports = context.Queue()
    go = context.Event()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zeroevents-demo-") as folder:
        endpoint = ENDPOINTS[transport].format(folder=folder)
        processes = {
            "service": context.Process(
                target=children.serve,
                args=(endpoint, settings, str(CONTRACTS), stream, counters, reports),
                name="zeroevents-demo-service",
                daemon=True,
            ),
            "producer": context.Process(
                target=children.produce,
                args=(endpoint, settings, total, stream, rate, counters, reports, go),
                name="zeroevents-demo-producer",
                daemon=True,
            ),
        }
        _show_settings(screen, endpoint, settings, chosen.provider, installed, note)
        finished = False
        try:
            for process in processes.values():
                process.start()
            pids = _wait_ready(screen, reports, processes, endpoint)
            screen.line(
                f"  processes   producer pid {pids['producer']}, service pid {pids['service']}; "
                f"1 order in {INVALID_EVERY} breaks the contract on purpose"
            )
            screen.line()
            go.set()
            results = _watch(screen, reports, processes, counters, total, stream, rate)
            finished = True
            seconds = time.perf_counter() - started
            return _summary(screen, results, total, stream, rate, chosen.name, seconds)
        finally:
            screen.end_status()
            # After the summary: the service closes its socket in its own time.
            _reap(processes, patient=finished)
            reports.cancel_join_thread()
            reports.close()


def _transport(name: str | None) -> tuple[str, list[str]]:
    """The transport to run over, and every installed one (from the plugin registry)."""
    from ..listener import COMMON_DEFAULTS
    from ..plugins import list_plugins

    transports = [info for info in list_plugins() if info.kind == "transport"]
    # The demo runs two processes: a transport within one (memory) cannot carry it.
    in_process = {info.name for info in transports if getattr(info.obj, "in_process", False)}
    installed = sorted(info.name for info in transports if info.name not in in_process)
    chosen = name or COMMON_DEFAULTS["transport"]
    if chosen in in_process:
        raise UsageError(
            f"--transport {chosen}: it links the threads of one process, and the demo "
            f"runs two; installed: {', '.join(installed)}"
        )
    if chosen not in installed:
        raise UsageError(
            f"--transport {chosen}: no such transport installed; installed: {', '.join(installed)}"
        )
    if chosen not in ENDPOINTS:
        raise UsageError(
            f"--transport {chosen}: the demo does not know how to address it yet "
            f"(it knows {', '.join(sorted(ENDPOINTS))})"
        )
    return chosen, installed


def _serializer(name: str | None) -> tuple[PluginInfo, str | None]:
    """msgpack when installed, else json with a note saying how to get msgpack."""
    from ..errors import UnknownPluginError
    from ..plugins import lookup

    if name is not None:
        return lookup("serializer", name), None
    try:
        return lookup("serializer", "msgpack"), None
    except UnknownPluginError:
        note = (
            "zeroevents-msgpack is not installed, so the demo uses json (from a checkout: "
            ".venv/bin/pip install -e plugins/zeroevents-msgpack)"
        )
        return lookup("serializer", "json"), note


def _show_code(screen: Screen) -> None:
    p = screen.paint
    screen.line(
        p("zeroevents demo", "1")
        + ": this code, in two processes, on one private socket, no broker"
    )
    screen.line()
    imports = [
        line
        for line in inspect.getsource(user_code).splitlines()
        if line.startswith("from zeroevents_core import")
    ]
    lines = [*imports, ""]
    for function in (user_code.producer, user_code.service):
        lines += [*inspect.getsource(function).rstrip().splitlines(), ""]
    for text in lines[:-1]:
        screen.line(f"    {p(text, '36')}" if text else "")
    screen.line()


def _show_settings(
    screen: Screen,
    endpoint: str,
    settings: dict[str, str],
    provider: str,
    installed: list[str],
    note: str | None,
) -> None:
    p = screen.paint
    sending, receiving = (
        _socket_type({"connect": endpoint, **settings}),
        _socket_type({"bind": endpoint, **settings}),
    )
    if note:
        screen.line(p(f"  note: {note}", "33"))
    screen.line(f"  endpoint    {endpoint}  (the service binds, the producer connects)")
    screen.line(f"  settings    {settings}")
    if sending and receiving:
        screen.line(f"  sockets     {sending} -> {receiving}: the library's default socket_type")
    screen.line(f"  serializer  {settings['serializer']}  ({provider})")
    others = [name for name in installed if name != settings["transport"]]
    choice = (
        f"installed: {', '.join(installed)}; --transport NAME picks one"
        if others
        else "the only one installed"
    )
    screen.line(f"  transport   {settings['transport']}  ({choice})")
    contracts = ", ".join(sorted(path.stem for path in CONTRACTS.glob("*.json")))
    screen.line(
        f"  contracts   {contracts}  (zeroevents_core/{CONTRACTS.name}/, checked by the service)"
    )


def _socket_type(options: dict[str, Any]) -> str | None:
    """The socket type the library picks for ``options`` (None where it has none)."""
    from ..listener import resolve_options

    transport, checked = resolve_options(options)
    value = checked.get("socket_type")
    if transport.name == "zmq" and isinstance(value, int):
        from ..transports.zmq import SOCKET_TYPES

        return next((name for name, number in SOCKET_TYPES.items() if number == value), None)
    return None if value is None else str(value)


def _poll_report(
    reports: Any, processes: dict[str, Any], deadline: float, what: str, wait: float
) -> tuple[Any, ...] | None:
    """The next report, or None after ``wait`` seconds; raises once a child failed
    or ``deadline`` passed."""
    try:
        report: tuple[Any, ...] = reports.get(timeout=max(0.0, wait))
        return report
    except queues.Empty:
        pass
    for name, process in processes.items():
        if process.exitcode not in (None, 0):
            raise CommandError(
                f"the demo's {name} process ended with exit code {process.exitcode} "
                "(its error is above)"
            )
    if time.monotonic() > deadline:
        raise CommandError(f"the demo's processes did not {what} in time")
    return None


def _wait_ready(
    screen: Screen, reports: Any, processes: dict[str, Any], endpoint: str
) -> dict[str, int]:
    """Wait until both children are ready and the service is bound, redrawing a
    status line meanwhile (two fresh interpreters take a moment)."""
    pids: dict[str, int] = {}
    started = time.monotonic()
    deadline = started + START_WAIT
    # The producer connects once the service is bound: an ipc connect that finds no
    # socket retries only after ZeroMQ's reconnect interval, which the first orders
    # (whose latency is measured) would wait.
    bound = Path(endpoint.removeprefix("ipc://")) if endpoint.startswith("ipc://") else None
    while len(pids) < len(processes) or (bound is not None and not bound.exists()):
        waiting = [f"the {name}" for name in processes if name not in pids]
        what = " and ".join(waiting) or "the service to bind"
        screen.show(f"  starting    waiting for {what}  {time.monotonic() - started:4.1f} s")
        report = _poll_report(reports, processes, deadline, "start", FRAME_SECONDS)
        if report is not None and report[0] == "ready":
            pids[report[1]] = report[2]
    screen.show("")
    return pids


class Counters:
    """What the status line shows, read from the children's shared counters."""

    def __init__(self, shared: Sequence[Any]) -> None:
        self.shared = shared
        self.history: list[tuple[float, int]] = []

    def read(self) -> tuple[int, int, int]:
        """Sent, received, rejected."""
        sent, received, rejected = (int(self.shared[i].value) for i in (SENT, RECEIVED, REJECTED))
        return sent, received, rejected

    def burst_seconds(self) -> float:
        """From the first to the last arrival of the burst."""
        first, last = self.shared[BURST_FIRST].value, self.shared[BURST_LAST].value
        return float(last - first) if first else 0.0

    def speed(self, arrived: int) -> float:
        """Arrivals per second over the last ``SPEED_WINDOW`` seconds."""
        moment = time.monotonic()
        self.history.append((moment, arrived))
        while len(self.history) > 2 and self.history[0][0] < moment - SPEED_WINDOW:
            self.history.pop(0)
        span = self.history[-1][0] - self.history[0][0]
        return (self.history[-1][1] - self.history[0][1]) / span if span > 0 else 0.0


def _watch(
    screen: Screen,
    reports: Any,
    processes: dict[str, Any],
    shared: Sequence[Any],
    total: int,
    stream: int,
    rate: int,
) -> dict[str, dict[str, Any]]:
    """Draw until the producer is done and all it sent has arrived (or ``DRAIN_WAIT``
    passed); then stop the service. The producer's figures and the service's."""
    p = screen.paint
    check, cross = ("✓", "✗") if screen.fancy else ("+", "x")
    counters = Counters(shared)
    started = time.monotonic()
    deadline = started + RUN_WAIT
    made: dict[str, Any] | None = None
    drained_by = deadline
    streamed: dict[str, Any] = {"latency": dict.fromkeys(("p50", "p99", "max"), 0.0), "samples": 0}
    phase = ""

    def start(name: str) -> None:
        nonlocal phase
        phase = name
        if name == "stream":
            what = f"{count(stream)} orders paced at {count(rate)}/s: latency measured on each"
        else:
            what = f"{count(total - stream)} orders as fast as they go: throughput"
        screen.line(f"  {p(name, '1')}: {what}")

    def status(sent: int, received: int, rejected: int, speed: float | None = None) -> str:
        arrived = received + rejected
        if phase == "stream":
            fraction = min(arrived, stream) / stream
        else:
            fraction = (arrived - stream) / (total - stream) if total > stream else 1.0
        speed = counters.speed(arrived) if speed is None else speed
        return (
            f"  {phase:<6} {screen.bar(fraction)} {fraction:4.0%}  "
            f"sent {count(sent)}  received {p(count(received), '32')}  "
            f"rejected {p(count(rejected), '33')}  {count(speed)} ev/s  "
            f"{time.monotonic() - started:4.1f} s"
        )

    def handle(report: tuple[Any, ...]) -> None:
        nonlocal made, drained_by, streamed
        kind = report[0]
        if kind == "done":
            made = report[2]
            drained_by = min(deadline, time.monotonic() + DRAIN_WAIT)
        elif kind == "streamed":
            _, received, rejected, latency, samples = report
            streamed = {"latency": latency, "samples": samples}
            screen.settle(status(stream, received, rejected))
            start("burst")
        elif kind == "fired":
            _, event, seq, text, latency = report
            screen.line(
                f"    {p(check, '32')} fired    {event} #{seq}: {text}  "
                f"({latency:.2f} ms after fire)"
            )
        elif kind == "rejected":
            _, event, seq, text, _ = report
            screen.line(f"    {p(cross, '33')} rejected {event} #{seq}: {text}")

    start("stream" if stream else "burst")
    next_frame = time.monotonic()
    while True:
        moment = time.monotonic()
        if moment >= next_frame:
            # Redrawn on time whatever arrives: counters that sit still look like a hang.
            screen.show(status(*counters.read()))
            next_frame = max(next_frame + FRAME_SECONDS, moment)
        sent, received, rejected = counters.read()
        if made is not None and (received + rejected >= made["sent"] or moment > drained_by):
            break
        report = _poll_report(reports, processes, deadline, "finish", next_frame - moment)
        if report is not None:
            handle(report)
    # The two children report on one queue, each through its own feeder thread: the
    # service's "streamed" may come after the producer's "done".
    while phase == "stream" and received + rejected >= stream:
        report = _poll_report(reports, processes, deadline, "finish", FRAME_SECONDS)
        if report is not None:
            handle(report)
    processes["service"].terminate()  # SIGTERM: the service stops gracefully
    burst = max(0, received + rejected - stream)
    seconds = counters.burst_seconds()
    throughput = (burst - 1) / seconds if burst > 1 and seconds else 0.0
    screen.settle(status(sent, received, rejected, throughput if phase == "burst" else None))
    got = {
        "received": received,
        "rejected": rejected,
        "latency": streamed["latency"],
        "latency_samples": streamed["samples"],
        "throughput": throughput,
    }
    return {"producer": made, "service": got}


def _reap(processes: dict[str, Any], patient: bool) -> None:
    """End the children: given time to exit when the demo finished, else at once."""
    for process in processes.values():
        if process.pid is None:
            continue
        if patient:
            process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)


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
    made, got = results["producer"], results["service"]
    sent, invalid = made["sent"], made["invalid"]
    received, rejected = got["received"], got["rejected"]
    latency, throughput = got["latency"], got["throughput"]
    adds_up = sent == total and sent == received + rejected and rejected == invalid
    check, arrow = ("✓", "→") if screen.fancy else ("ok", "->")
    screen.line()
    screen.line(p("summary", "1"))
    screen.line(
        f"  sent                      {count(sent):>7}   "
        f"({count(invalid)} break the contract on purpose)"
    )
    screen.line(
        f"  received                  {p(f'{count(received):>7}', '32')}   "
        "fired by the service's dispatcher"
    )
    screen.line(
        f"  rejected by the contract  {p(f'{count(rejected):>7}', '33')}   "
        "never fired: zeroevents.schema.error instead"
    )
    verdict = p(check, "32") if adds_up else p("MISMATCH", "31")
    screen.line(f"                            sent = received + rejected {verdict}")
    screen.line(
        f"  latency, fire {arrow} listener  p50 {ms(latency['p50'])}   "
        f"p99 {ms(latency['p99'])}   max {ms(latency['max'])}   "
        f"({count(got['latency_samples'])} orders paced at {count(rate)}/s)"
    )
    screen.line(
        f"  throughput                {count(throughput)} events/s   (burst of "
        f"{count(total - stream)}, {serializer}, contract checked on each)"
    )
    screen.line(
        f"  wall time                 {seconds:.1f} s to this summary, process start-up included"
    )
    screen.line()
    screen.line(p("next", "1"))
    screen.line(
        "  the same two halves as scripts you run in two terminals: README.md, "
        'and docs/quickstart.md ("Two processes")'
    )
    screen.line(
        "  then docs/concepts.md and docs/contracts.md; the command line: "
        "zeroevents --help (.venv/bin/zeroevents in a checkout)"
    )
    if not adds_up:
        raise CommandError(
            f"the counts do not add up: {total} to send, {sent} sent ({made['failed']} failed), "
            f"{received} received + {rejected} rejected, {invalid} made invalid"
        )
    return 0
