"""Metrics: the observers hook, drops at the high-water mark, the Prometheus exporter.

The exporter (contrib/zeroevents-prometheus) is installed in the venv and loads
through its real ``zeroevents`` entry point; its metrics are scraped over real
HTTP on 127.0.0.1 from real processes exchanging events over real sockets.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import re
import socket as sockets
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq
from metrics_procs import flood
from procs import forward, take
from prometheus_client.parser import text_string_to_metric_families

from zeroevents_core import (
    AsyncEventListener,
    AsyncEventService,
    Dispatcher,
    EventListener,
    EventService,
    Stats,
)
from zeroevents_core.hookspecs import hookimpl
from zeroevents_core.observers import Observed
from zeroevents_core.plugins import plugin_errors, register_plugin, unregister_plugin
from zeroevents_core.stats import DropWarning

ZEROEVENTS = Path(sys.executable).parent / "zeroevents"
WAIT = 60.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample served on http://127.0.0.1:PORT/metrics, parsed by prometheus_client."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= set(got))


def scrape_until(port: int, done: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``done`` (the service fires what arrived in its own time); bounded."""
    samples = scrape(port)
    for _ in range(600):
        if done(samples):
            return samples
        threading.Event().wait(0.1)
        samples = scrape(port)
    return samples


def test_a_service_scraped_twice_shows_its_counters_moving(
    spawn: Any, queue: Any, ipc: Callable[[str], str], tmp_path: Path
) -> None:
    endpoint = ipc("service")
    with open(tmp_path / "stdout", "w") as out:
        listen = subprocess.Popen(
            [ZEROEVENTS, "listen", "--bind", endpoint, "--metrics-port", "0", "--timeout", "60"],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        assert listen.stderr is not None
        port = 0
        for line in listen.stderr:  # ends with the process: bounded by its --timeout
            found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
            port = int(found.group(1)) if found else port
            if "listening on" in line:
                break
        assert port, "no metrics line before 'listening on'"
        service = {"role": "service", "transport": "zmq", "endpoint": endpoint}

        def fired(samples: Samples) -> float:
            return value(samples, "zeroevents_events_fired_total", **service)

        before = scrape(port)
        assert fired(before) == 0
        spawn(forward, {"connect": endpoint}, [("my.events.a", [i]) for i in range(20)], queue)
        for _ in range(20):
            take(queue, "fired")
        first = scrape_until(port, lambda samples: fired(samples) >= 20)
        spawn(forward, {"connect": endpoint}, [("my.events.b", [i]) for i in range(30)], queue)
        for _ in range(30):
            take(queue, "fired")
        second = scrape_until(port, lambda samples: fired(samples) >= 50)
    finally:
        listen.terminate()
        listen.wait(10)
        if listen.stderr is not None:
            listen.stderr.close()
    assert (fired(first), fired(second)) == (20, 50)
    received = "zeroevents_events_received_total"
    assert value(second, received, **service) - value(first, received, **service) >= 30
    errors = value(second, "zeroevents_errors_total", **service)
    assert errors == 0
    kinds = {dict(labels)["kind"] for name, labels in second if name == "zeroevents_errors_total"}
    assert {"decode", "schema", "listener", "auth", "push"} <= kinds


def test_the_drop_counter_moves_with_a_real_high_water_mark_overflow(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    # A PUSH toward a consumer that is not there: its queue takes SNDHWM events,
    # every send after that is refused at once (SNDTIMEO 0) and counted.
    endpoint = ipc("nobody")
    options = {
        "connect": endpoint,
        "socket_type": "PUSH",
        "socket_options": {"SNDHWM": 1, "SNDTIMEO": 0, "LINGER": 0},
    }
    commands = multiprocessing.get_context("spawn").Queue()
    spawn(flood, options, commands, queue)
    port = take(queue, "ready")[1]
    try:
        commands.put(50)
        take(queue, "fired")
        dropped = "zeroevents_events_dropped_total"
        labels = {"role": "listener", "transport": "zmq", "endpoint": endpoint}
        first = value(scrape(port), dropped, **labels)
        commands.put(100)
        take(queue, "fired")
        second = value(scrape(port), dropped, **labels)
        commands.put(None)
    finally:
        commands.cancel_join_thread()
        commands.close()
    assert 40 <= first < 50
    assert second - first == 100


def _wait_subscribed(listener: EventListener, sub: zmq.Socket[bytes]) -> None:
    # A PUB sends nothing until the subscription arrived: publish until one is heard.
    for _ in range(500):
        listener.socket().push("warm.up", [])
        if sub.poll(10):
            sub.recv_multipart()
            return
    raise AssertionError("the SUB never received anything")


@pytest.mark.parametrize("nodrop", [1, 0])
def test_a_pub_counts_its_drops_only_with_xpub_nodrop(
    nodrop: int, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc(f"pub{nodrop}")
    options = {
        "bind": endpoint,
        "socket_type": "PUB",
        "socket_options": {"SNDHWM": 1, "SNDTIMEO": 0, "LINGER": 0, "XPUB_NODROP": nodrop},
    }
    dispatcher = Dispatcher()
    dispatcher.listen("zeroevents.push.error", lambda *args: "dropped")
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    try:
        sub.set(zmq.RCVHWM, 1)
        sub.subscribe(b"")
        with EventListener(options, dispatcher) as listener:
            sub.connect(endpoint)
            _wait_subscribed(listener, sub)
            for i in range(1000):  # a stalled SUB: nothing is read meanwhile
                listener.socket().push("flood.tick", [i])
            dropped = listener.socket().stats.dropped_hwm
        heard = 0
        while sub.poll(100):
            sub.recv_multipart()
            heard += 1
    finally:
        sub.close(0)
        context.term()
    assert heard < 1000  # libzmq dropped most of them either way
    if nodrop:
        assert dropped >= 900  # the queues between (and the kernel's) took a few
    else:
        assert dropped == 0  # libzmq's PUB drops silently: why XPUB_NODROP is documented


class Recorder:
    """A plugin giving one observer, registered at run time."""

    def __init__(self, fail: bool = False) -> None:
        self.seen: list[tuple[str, Observed]] = []
        self.fail = fail

    @hookimpl
    def register_observers(self, register: Callable[[Any], Any]) -> None:
        register(self)

    def opened(self, observed: Observed) -> None:
        self.seen.append(("opened", observed))
        if self.fail:
            raise RuntimeError("observer bug")

    def closed(self, observed: Observed) -> None:
        self.seen.append(("closed", observed))


def test_observers_are_told_of_sockets_and_services_with_their_live_stats(
    ipc: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    recorder, failing = Recorder(), Recorder(fail=True)
    register_plugin(recorder)
    register_plugin(failing)
    endpoint = ipc("observed")
    try:
        dispatcher = Dispatcher()
        service = EventService(dispatcher).poll_timeout(10)
        service.listen(EventListener({"bind": endpoint}, dispatcher))
        dispatcher.listen("zeroevents.service.idle", lambda svc: svc.stop())
        with caplog.at_level(logging.ERROR, "zeroevents_core.observers"):
            service.run()
            with EventListener({"connect": endpoint}) as sender:
                sent = sender.socket()
    finally:
        unregister_plugin(recorder)
        unregister_plugin(failing)
    kinds = [(kind, o.role, o.where) for kind, o in recorder.seen]
    assert kinds == [
        ("opened", "listener", endpoint),
        ("opened", "service", endpoint),
        ("closed", "service", endpoint),
        ("closed", "listener", endpoint),
        ("opened", "listener", endpoint),
        ("closed", "listener", endpoint),
    ]
    assert recorder.seen[1][1].stats is service.stats
    assert recorder.seen[4][1].stats is sent.stats
    assert {o.transport for _, o in recorder.seen} == {"zmq"}
    assert recorder.seen[1][1].name == "EventService"
    assert failing.seen and "observer bug" in caplog.text  # logged, the rest went on


def test_an_object_without_observer_methods_is_reported() -> None:
    class Wrong:
        @hookimpl
        def register_observers(self, register: Callable[[Any], Any]) -> None:
            register(42)

    wrong = Wrong()
    register_plugin(wrong)
    try:
        problems = [str(error) for error in plugin_errors()]
    finally:
        unregister_plugin(wrong)
    assert any("registered 42 as an observer" in problem for problem in problems), problems


def _metrics_of_a_fresh_process(endpoint: str, load: str | None) -> str:
    code = (
        "import prometheus_client\n"
        "from zeroevents_core import EventListener\n"
        f"with EventListener({{'bind': {endpoint!r}}}) as listener:\n"
        "    listener.socket()\n"
        "    print(prometheus_client.generate_latest().decode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_environment(ZEROEVENTS_LOAD_PLUGINS=load),
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    return done.stdout


def test_the_exporter_loads_through_its_entry_point_unless_left_out(
    ipc: Callable[[str], str],
) -> None:
    endpoint = ipc("entry")
    loaded = _metrics_of_a_fresh_process(endpoint, None)
    left_out = _metrics_of_a_fresh_process(endpoint, "zeroevents-msgpack")
    sample = (
        f'zeroevents_events_sent_total{{endpoint="{endpoint}",role="listener",transport="zmq"}}'
    )
    assert sample in loaded
    assert "# TYPE zeroevents_ack_latency_seconds histogram" in loaded
    assert "zeroevents_" not in left_out


def _environment(**changes: str | None) -> dict[str, str]:
    """This process's environment with ``changes`` (None: the variable removed)."""
    environment = {k: v for k, v in os.environ.items() if k not in changes}
    return {**environment, **{k: v for k, v in changes.items() if v is not None}}


def _zeroevents(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ZEROEVENTS, *args],
        env=_environment(**env),
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def test_metrics_flags_are_checked_and_come_from_the_plugin(ipc: Callable[[str], str]) -> None:
    bad = _zeroevents("listen", "--bind", ipc("bad"), "--metrics-port", "70000")
    assert bad.returncode == 2 and "expected a port from 0 to 65535" in bad.stderr
    with sockets.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = _zeroevents("listen", "--bind", ipc("busy"), "--metrics-port", port)
    assert busy.returncode == 1 and f"metrics port {port}: cannot serve" in busy.stderr
    without = _zeroevents(
        "listen", "--bind", ipc("none"), "--metrics-port", "0", ZEROEVENTS_LOAD_PLUGINS=""
    )
    assert without.returncode == 2 and "--metrics-port" in without.stderr


def test_an_asyncio_listener_counts_its_drops_too(ipc: Callable[[str], str]) -> None:
    options = {
        "connect": ipc("nobody-async"),
        "socket_type": "PUSH",
        "socket_options": {"SNDHWM": 1, "SNDTIMEO": 0, "LINGER": 0},
    }
    dispatcher = Dispatcher()
    dispatcher.listen("zeroevents.push.error", lambda *args: "dropped")

    async def flood() -> int:
        async with AsyncEventListener(options, dispatcher) as listener:
            for i in range(20):
                await listener.push("flood.tick", [i])
            dropped: int = listener.socket().stats.dropped_hwm
        return dropped

    assert 15 <= asyncio.run(flood()) < 20


def test_drops_are_logged_at_a_bounded_rate_with_the_count_since_the_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.drops")
    stats = Stats()
    seldom, often = DropWarning(logger), DropWarning(logger, interval_s=0.05)
    with caplog.at_level(logging.WARNING, "tests.drops"):
        for _ in range(100):
            seldom.dropped(stats, "flood.tick", b"ipc://somewhere")
    assert len(caplog.records) == 1  # the first at once, then none for 10 s
    assert "dropped 1 event at" in caplog.text and "on ipc://somewhere" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, "tests.drops"):
        for _ in range(1000):
            often.dropped(stats, "flood.tick", "here")
        threading.Event().wait(0.1)  # longer than its interval: the next one warns
        often.dropped(stats, "flood.tick", "here")
    counts = [int(re.findall(r"dropped (\d+) event", r.getMessage())[0]) for r in caplog.records]
    assert sum(counts) == 1001  # every drop reported once, in some warning
    assert stats.dropped_hwm == 1101


def test_zeroevents_plugins_lists_the_observer_with_its_distribution() -> None:
    listed = _zeroevents("plugins")
    assert listed.returncode == 0, listed.stderr
    section = listed.stdout.split("observers:\n", 1)[1].splitlines()
    listing = itertools.takewhile(lambda line: line.startswith("  "), section)
    rows = [line.split() for line in listing]
    # Entry points load in no promised order: the row is looked for, not its place.
    assert ["StatsCollector", "zeroevents-prometheus", "0.1.0"] in rows, listed.stdout
    none = _zeroevents("plugins", ZEROEVENTS_LOAD_PLUGINS="")
    assert "observers:" not in none.stdout


def test_observers_are_told_of_asyncio_sockets_and_services(ipc: Callable[[str], str]) -> None:
    recorder = Recorder()
    register_plugin(recorder)
    endpoint = ipc("observed-async")
    dispatcher = Dispatcher()
    service = AsyncEventService(dispatcher).poll_timeout(10)
    service.listen(AsyncEventListener({"bind": endpoint}, dispatcher))
    dispatcher.listen("zeroevents.service.idle", lambda svc: svc.stop())
    try:
        asyncio.run(service.run())
    finally:
        unregister_plugin(recorder)
    kinds = [(kind, o.role, o.name) for kind, o in recorder.seen]
    assert kinds == [
        ("opened", "listener", "AsyncEventListener"),
        ("opened", "service", "AsyncEventService"),
        ("closed", "service", "AsyncEventService"),
        ("closed", "listener", "AsyncEventListener"),
    ]
    assert recorder.seen[1][1].stats is service.stats
    assert recorder.seen[0][1].where == endpoint


def test_a_confirmation_that_never_comes_is_not_a_drop(ipc: Callable[[str], str]) -> None:
    # A ROUTER that takes every event and answers none: the sends pass, the
    # confirmations time out (zeroevents.push.error), nothing hit the high-water mark.
    endpoint = ipc("silent")
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(endpoint)
    options = {
        "connect": endpoint,
        "confirmed": True,
        "socket_options": {"RCVTIMEO": 50, "LINGER": 0},
        "flush_on_close": False,
    }
    dispatcher = Dispatcher()
    errors: list[str] = []
    dispatcher.listen("zeroevents.push.error", lambda socket, event, *rest: errors.append(event))

    async def push_async() -> int:
        async with AsyncEventListener(options, dispatcher) as listener:
            await listener.push("orders.created", [1])
            dropped: int = listener.socket().stats.dropped_hwm
        return dropped

    try:
        with EventListener(options, dispatcher) as listener:
            listener.socket().push("orders.created", [1])
            dropped = listener.socket().stats.dropped_hwm
        dropped_async = asyncio.run(push_async())
    finally:
        router.close(0)
        context.term()
    assert errors == ["orders.created", "orders.created"]
    assert (dropped, dropped_async) == (0, 0)
